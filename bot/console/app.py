"""The console's aiohttp application.

``create_app()`` builds the core (errors, auth, health, OpenAPI, the staff pages and APIs) and then lets each
feature listed in ``FEATURES`` add its routes (``add_<something>_routes(app)``, e.g. ``chat_page.add_chat_routes``).
The list is explicit — a new feature module is imported and named here — so the console's dependencies are
visible to readers and to ``tools.layout``; capabilities plug in through ``bot.capability_modules`` instead.
Feature handlers use ``bot.console.auth.require_role`` and read ``app["db_url"]``, ``app["settings"]``,
``app["rasa"]`` (Rasa HTTP API client) and ``app["hub"]`` (live updates).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Callable, Optional, Tuple

import sqlalchemy as sa
from aiohttp import web

from bot.console import (applications_list, auth, bookings_phone_api, callbacks_api, chat_page, editor_api,
                         editor_page, errors, feedback_api, handoff_api, insights_api, labels, live, openapi,
                         staff_records, wordlists_api, wordlists_page)
from bot.settings import Settings, get_settings

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
PAGES = HERE / "pages"

# The console's features, each adding its own routes; a feature that fails to register is named by /health and
# does not take the hand-over console down with it.
FEATURES: Tuple[Callable[[web.Application], None], ...] = (
    applications_list.add_applications_list_routes,
    bookings_phone_api.add_booking_phone_routes,
    callbacks_api.add_callback_routes,
    chat_page.add_chat_routes,
    editor_api.add_editor_api_routes,
    editor_page.add_editor_page_routes,
    feedback_api.add_feedback_routes,
    insights_api.add_insights_routes,
    labels.add_labels_routes,
    staff_records.add_staff_records_routes,
    wordlists_api.add_wordlists_routes,
    wordlists_page.add_wordlists_page_routes,
)


def _page(filename: str, role: Optional[str] = None):
    path = PAGES / filename

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(path, headers={"Cache-Control": "no-store",
                                               "Content-Type": "text/html; charset=utf-8"})
    handler.__name__ = f"page_{path.stem}"
    return auth.require_role(role, page=True)(handler) if role else handler


async def health(request: web.Request) -> web.Response:
    """Liveness and what the console can reach: the database and the Rasa server."""
    app = request.app
    db_ok = True
    try:
        from bot.db import get_engine
        async with get_engine(app["db_url"]).connect() as conn:
            await asyncio.wait_for(conn.execute(sa.text("SELECT 1")), timeout=3)
    except Exception:
        db_ok = False
    rasa_ok = await app["rasa"].reachable()
    app["status"].update(database=db_ok, rasa=rasa_ok)
    return web.json_response({"status": "ok" if db_ok and rasa_ok else "degraded", "database": db_ok,
                              "rasa": rasa_ok, "features": app["features"],
                              "feature_errors": app["feature_errors"]})


def _socket_origins(request: web.Request) -> str:
    """Where the chat page may open its socket.io connection besides its own origin (development: Rasa's port)."""
    try:
        from bot.console.chat_page import socket_url
        url = socket_url(request)
    except Exception:
        return ""
    if not url:
        return ""
    scheme, rest = url.split("://", 1) if "://" in url else ("http", url)
    host = rest.split("/", 1)[0]
    ws = "wss" if scheme == "https" else "ws"
    return f" {scheme}://{host} {ws}://{host}"


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer: no inline or third-party script/style (the pages load only their own files), never framed
    by another site (clickjacking), no MIME sniffing, no full URLs in Referer."""
    connect = "'self'" + (_socket_origins(request) if request.path.startswith("/chat") else "")
    response.headers.setdefault("Content-Security-Policy", (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
        f"connect-src {connect}; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"))
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")


async def root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/staff")


async def _start_background(app: web.Application) -> None:
    from bot.handoff.watcher import Watcher

    if app["watch_interval"]:
        watcher = Watcher(app["rasa"], app["hub"].publish, app["status"], app["db_url"], app["watch_interval"])
        app["watcher_task"] = asyncio.get_running_loop().create_task(watcher.run())


async def _stop_background(app: web.Application) -> None:
    task = app.get("watcher_task")
    if task:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await app["rasa"].close()


def create_app(settings: Optional[Settings] = None, watch_interval: float = 1.0) -> web.Application:
    from bot.rasa.http_api import RasaAPI

    settings = settings or get_settings()
    app = web.Application(middlewares=[errors.error_middleware, auth.auth_middleware],
                          client_max_size=20 * 1024 * 1024)
    app["settings"] = settings
    app["db_url"] = settings.database_url
    app["rasa"] = RasaAPI(settings.rasa_url, settings.rasa_token)
    app["hub"] = live.Hub()
    app["status"] = {"database": True, "rasa": True}
    app["watch_interval"] = watch_interval
    app["features"] = []

    r = app.router
    r.add_get("/health", health)
    r.add_get("/api/openapi.json", openapi.openapi_json)
    r.add_get("/", root)
    r.add_get("/login", _page("login.html"))
    r.add_get("/staff", _page("staff.html", "staff"))
    r.add_static("/static/console/", STATIC, name="console_static")
    auth.add_auth_routes(app)
    handoff_api.add_handoff_routes(app)
    live.add_live_routes(app)

    app["feature_errors"] = {}
    for add_routes in FEATURES:
        name = f"{add_routes.__module__}.{add_routes.__name__}"
        try:
            add_routes(app)
        except Exception as exc:
            # A broken feature must not take the handoff console down with it; /health names it.
            log.exception("feature %s could not register its routes", name)
            app["feature_errors"][name] = f"{type(exc).__name__}: {exc}"[:300]
            continue
        app["features"].append(name)

    app.on_response_prepare.append(security_headers)
    app.on_startup.append(_start_background)
    app.on_cleanup.append(_stop_background)
    return app
