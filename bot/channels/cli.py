"""``python -m bot wechat …``: install the Official Account menu; list or resend undelivered messages."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.channels.content import CONTENT_FILE, ContentError, load_content
from bot.channels.store import make_store
from bot.channels.wechat_api import WeChatAPI, WeChatAPIError
from bot.settings import get_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("wechat", help="WeChat Official Account: menu, undelivered messages")
    sub = parser.add_subparsers(dest="wechat_command", metavar="ACTION")
    sub.required = True

    menu = sub.add_parser("menu", help="install the menu from bot/channels/wechat.yml (/cgi-bin/menu/create)")
    menu.add_argument("--file", type=Path, default=CONTENT_FILE, help="content file with the menu")
    menu.add_argument("--dry-run", action="store_true", help="check the file and print the API body only")
    menu.set_defaults(handler=_menu)

    undelivered = sub.add_parser("undelivered", help="list messages WeChat did not take; --resend tries again")
    undelivered.add_argument("--resend", action="store_true")
    undelivered.set_defaults(handler=_undelivered)


def _api() -> WeChatAPI:
    s = get_settings()
    if not (s.wechat_appid and s.wechat_secret):
        raise SystemExit("error: HUIMIN_WECHAT_APPID and HUIMIN_WECHAT_SECRET must be set")
    return WeChatAPI(s.wechat_appid, s.wechat_secret, s.wechat_api_base, make_store(), retry_delays=(1.0, 3.0))


async def _menu(args: argparse.Namespace) -> int:
    try:
        body = load_content(args.file).menu_for_api()
    except ContentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.dry_run:
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return 0
    api = _api()
    try:
        await api.create_menu(body)
    except WeChatAPIError as exc:
        print(f"error: WeChat refused the menu: {exc}", file=sys.stderr)
        return 1
    finally:
        await api.close()
        await api.store.close()
    print(f"menu installed: {len(body['button'])} top-level buttons")
    return 0


async def _undelivered(args: argparse.Namespace) -> int:
    store = make_store()
    rows = await store.list_undelivered()
    if not rows:
        print("no undelivered messages")
        return 0
    api = _api() if args.resend else None
    failed = 0
    try:
        for row in rows:
            print(f"#{row.id} {row.created_at:%Y-%m-%d %H:%M} errcode={row.errcode} {row.reason}")
            if api is None:
                continue
            # The stored body has personal numbers masked, so what is resent is the masked wording.
            try:
                await api.call("/cgi-bin/message/custom/send", json.loads(row.body))
                await store.mark_delivered(row.id)
                print("  resent")
            except WeChatAPIError as exc:
                failed += 1
                print(f"  still not delivered: {exc}")
    finally:
        if api is not None:
            await api.close()
        await store.close()
    return 1 if failed else 0
