"""``python -m bot actions``: rasa_sdk's action server, refusing every call that lacks the shared secret.

At start a capability may run something of its own in the action server process: its ``action_server`` module's
``start()`` (``bot.capability_modules("action_server")``; the editor's knowledge sync), before the server listens.

The action server trusts the tracker it is sent (slots, sender id), so only Rasa may call it: Rasa sends
``HUIMIN_ACTIONS_TOKEN`` in a header (bot/endpoints.yml), compared here in constant time. ``/health`` stays
open for the process supervisors and probes; it discloses nothing.
"""
from __future__ import annotations

import hmac
import logging
from typing import List, Optional

import bot
from bot.settings import get_settings, require_production_secrets

# Header, not rasa's ``token`` query parameter: a query string ends up in proxy access logs.
TOKEN_HEADER = "X-Huimin-Actions-Token"
OPEN_PATHS = frozenset({"/health"})


def token_ok(given: Optional[str], expected: str) -> bool:
    return bool(expected) and hmac.compare_digest((given or "").encode(), expected.encode())


def require_token(app, expected: str) -> None:
    """A request middleware on the Sanic ``app``: 401 before any action runs unless the token matches."""
    from sanic import response

    @app.middleware("request")
    async def _check(request):
        if request.path in OPEN_PATHS:
            return None
        if not token_ok(request.headers.get(TOKEN_HEADER), expected):
            return response.json({"error": "missing or wrong action server token"}, status=401)
        return None


def no_echo_on_error(app) -> None:
    """rasa_sdk answers an exception with a 500 that echoes the whole request (the tracker: slots, messages):
    log it, answer without the body."""
    from sanic import response

    def _handler(request, exception):
        logging.getLogger(__name__).error("action server error on %s", request.path, exc_info=exception)
        status = getattr(exception, "status_code", 500) or 500
        return response.json({"error": "the action server could not handle this request"}, status=status)

    app.error_handler.add(Exception, _handler)


def create_app(actions: str = "actions", token: Optional[str] = None):
    from rasa_sdk.endpoint import create_app as sdk_app

    app = sdk_app(actions, cors_origins=None)
    require_token(app, get_settings().actions_token if token is None else token)
    no_echo_on_error(app)
    return app


def _run(args) -> int:
    from rasa_sdk import utils
    from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
    from rasa_sdk.plugin import plugin_manager

    require_production_secrets("the action server")
    settings = get_settings()
    # Same logging set-up as `python -m rasa_sdk` (bot/logging.yml masks personal numbers).
    utils.configure_colored_logging(logging.INFO)
    utils.configure_file_logging(logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), None, logging.INFO,
                                 args.logging_config_file)
    utils.update_sanic_log_level()
    app = create_app(args.actions)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    for capability in bot.capability_modules("action_server"):
        capability.start()
    host = args.host or settings.listen_host
    logging.getLogger(__name__).info("action server listening on %s:%s", host, args.port)
    app.run(host, args.port, workers=utils.number_of_sanic_workers())
    return 0


def register(sub) -> None:
    p = sub.add_parser("actions", help="start the action server (only Rasa, holding HUIMIN_ACTIONS_TOKEN, may call it)")
    p.add_argument("--port", type=int, default=get_settings().actions_port)
    p.add_argument("--host", default="", help="address to listen on (default HUIMIN_LISTEN_HOST, 127.0.0.1)")
    p.add_argument("--actions", default="actions", help="package of the custom actions")
    p.add_argument("--logging-config-file", default="bot/logging.yml")
    p.set_defaults(handler=_run)


def command_args(port: int, host: Optional[str] = None) -> List[str]:
    """The command line after ``python``, shared by `make run`, the production topology and the descriptors."""
    return ["-m", "bot", "actions", "--port", str(port)] + (["--host", host] if host else [])

