"""``python -m bot console [--port]`` (the console server) and ``python -m bot users add|list|unlock|passwd``."""
from __future__ import annotations

import getpass
import logging
import os
import sys

from bot.console.models import ROLES
from bot.settings import get_settings

PASSWORD_ENV = "HUIMIN_NEW_USER_PASSWORD"


def _serve(args) -> int:
    from aiohttp import web

    from bot.console.app import create_app
    from bot.privacy import install_log_redaction
    from bot.settings import require_production_secrets

    require_production_secrets("the console")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    settings = get_settings()
    port = args.port or settings.console_port
    web.run_app(create_app(settings), host=args.host, port=port, access_log=None, print=None)
    return 0


def _password(confirm: bool = True) -> str:
    value = os.environ.get(PASSWORD_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        raise ValueError(f"no password: type it at the prompt or set {PASSWORD_ENV}")
    first = getpass.getpass("password: ")
    if confirm and getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


async def _add(args) -> int:
    from bot.console.auth import create_user
    try:
        user = await create_user(args.name, args.role, _password())
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"created {user['role']} {user['name']}")
    return 0


async def _passwd(args) -> int:
    from bot.console.auth import set_password
    try:
        await set_password(args.name, _password())
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"password changed for {args.name}; their sessions were ended")
    return 0


async def _list(args) -> int:
    from bot.console.auth import list_users
    for u in await list_users():
        print(f"{u['name']:20s} {u['role']:8s} {'locked' if u['locked'] else ''}")
    return 0


async def _unlock(args) -> int:
    from bot.console.auth import unlock_user
    if not await unlock_user(args.name):
        print(f"error: no user {args.name}", file=sys.stderr)
        return 2
    print(f"unlocked {args.name}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("console", help="run the console (staff pages, /chat, editor, JSON API)")
    p.add_argument("--port", type=int, default=None, help="port (default HUIMIN_CONSOLE_PORT or 8080)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.set_defaults(handler=_serve)

    users = sub.add_parser("users", help="console accounts")
    usub = users.add_subparsers(dest="users_command", metavar="ACTION")
    usub.required = True
    p = usub.add_parser("add", help=f"create an account; the password is prompted for or read from {PASSWORD_ENV}")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=ROLES)
    p.set_defaults(handler=_add)
    p = usub.add_parser("passwd", help=f"set a new password (prompt or {PASSWORD_ENV}); ends their sessions")
    p.add_argument("name")
    p.set_defaults(handler=_passwd)
    p = usub.add_parser("list", help="list accounts")
    p.set_defaults(handler=_list)
    p = usub.add_parser("unlock", help="lift a lock-out after repeated failed logins")
    p.add_argument("name")
    p.set_defaults(handler=_unlock)
