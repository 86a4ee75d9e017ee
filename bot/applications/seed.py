"""Demo application records for ``make run`` (idempotent: re-importing the same file changes nothing).

The demo applicants are fictitious; their verification answers are in demo/README.md.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Optional

DEMO_CSV = Path(__file__).resolve().parent / "demo" / "applications_demo.csv"


async def seed_demo_async(url: Optional[str] = None) -> str:
    from bot.applications.importer import import_csv

    report = await import_csv(DEMO_CSV, url=url, skip_invalid=True, source_name="demo seed")
    return report.summary()


def seed_demo(url: Optional[str] = None) -> str:
    """Import the demo records into ``url`` (default: the configured database); returns the summary line."""
    from bot.db import dispose_engines

    async def _run() -> str:
        try:
            return await seed_demo_async(url)
        finally:
            await dispose_engines()

    return asyncio.run(_run())
