"""The console's aiohttp application.

``create_app()`` builds the core (errors, auth, health, OpenAPI, the staff pages and APIs) and then lets
every feature module in ``bot/console/`` add its routes: any module there that defines a function named
``add_<something>_routes(app)`` (e.g. ``chat_page.add_chat_routes``, ``editor_*.add_editor_routes``) is
imported and called. Feature handlers use ``bot.console.auth.require_role`` and read ``app["db_url"]``,
``app["settings"]``, ``app["rasa"]`` (Rasa HTTP API client) and ``app["hub"]`` (live updates).
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import logging
import pkgutil
from pathlib import Path
from typing import Callable, List, Optional

import sqlalchemy as sa
from aiohttp import web

from bot.console import auth, errors, handoff_api, live, openapi
from bot.settings import Settings, get_settings

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
PAGES = HERE / "pages"

# Modules of the core, wired explicitly below; every other module of the package may be a feature.
CORE_MODULES = {"app", "auth", "cli", "errors", "handoff_api", "live", "models", "openapi", "pages"}


def feature_route_adders() -> List[Callable[[web.Application], None]]:
    import bot.console as pkg

    adders = []
    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if mod.ispkg or mod.name in CORE_MODULES:
            continue
        name = f"bot.console.{mod.name}"
        try:
            module = importlib.import_module(name)
        except Exception:
            log.exception("console feature module %s could not be imported", name)
            continue
        for attr, fn in sorted(vars(module).items()):
            if attr.startswith("add_") and attr.endswith("_routes") and inspect.isfunction(fn) \
                    and fn.__module__ == name:
                adders.append(fn)
    return adders


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
    for add_routes in feature_route_adders():
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
