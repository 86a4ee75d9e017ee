"""``python -m bot insights refresh`` — read new conversations from the tracker store (the console also does it
on its own timer and when the insights page opens)."""
from __future__ import annotations


async def _refresh(args) -> int:
    from bot.db import dispose_engines
    from bot.insights.service import Insights
    from bot.settings import get_settings

    settings = get_settings()
    insights = Insights(settings.database_url, settings.tracker_db_url)
    try:
        n = await insights.refresh(max_batches=10_000)
    finally:
        insights.close()
        await dispose_engines()
    print(f"insights: {n} new resident messages read")
    return 0


def register(sub) -> None:
    p = sub.add_parser("insights", help="what residents asked that was not answered")
    isub = p.add_subparsers(dest="insights_command", metavar="SUBCOMMAND")
    isub.required = True
    r = isub.add_parser("refresh", help="read new conversations from the tracker store")
    r.set_defaults(handler=_refresh)
