"""``python -m bot …`` — the command line. Each capability adds its commands in ``bot/<capability>/cli.py``
with a ``register(subparsers)`` function; this module only discovers and dispatches."""
from __future__ import annotations

import argparse
import asyncio
import inspect
import sys

import bot


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="惠民助手 Huimin command line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for cli in bot.capability_modules("cli"):
        cli.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    result = handler(args)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
