"""``python -m bot rasa run [rasa run options]``: ``rasa run`` with the HTTP API token taken from the environment.

Rasa reads its API token only from ``--auth-token``; given on the command line it is readable by every local
user in ``ps``. Here it is read from ``HUIMIN_RASA_TOKEN`` and handed to Rasa's argument parser in-process,
so the process's visible command line never contains it.
"""
from __future__ import annotations

import argparse
import sys

from bot.settings import get_settings, require_production_secrets


def rasa_argv(args) -> list:
    extra = list(args.rasa_args)
    if "--auth-token" in extra:
        raise SystemExit("pass the token in HUIMIN_RASA_TOKEN, not --auth-token (it would show in `ps`)")
    return ["rasa", "run", *extra, "--auth-token", get_settings().rasa_token]


def _run(args) -> int:
    require_production_secrets("the Rasa server")
    from rasa.__main__ import main

    sys.argv = rasa_argv(args)
    main()
    return 0


def register(sub) -> None:
    p = sub.add_parser("rasa", help="`rasa run` with the API token from HUIMIN_RASA_TOKEN (never on the command line)")
    p.add_argument("rasa_command", choices=["run"], help="only `run`")
    p.add_argument("rasa_args", nargs=argparse.REMAINDER, help="options of `rasa run` (except --auth-token)")
    p.set_defaults(handler=_run)
