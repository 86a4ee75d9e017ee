"""The ``/editor`` page (role editor): knowledge entries, the form with its live answer preview, history and
retraining. Its assets are local, under ``bot/console/static/editor/`` (served at ``/static/console/editor/``)."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.console.auth import require_role

PAGE = Path(__file__).resolve().parent / "static" / "editor" / "index.html"
INSIGHTS_PAGE = PAGE.with_name("insights.html")


@require_role("editor", page=True)
async def editor_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(PAGE, headers={"Cache-Control": "no-store", "Content-Type": "text/html; charset=utf-8"})


@require_role("editor", page=True)
async def insights_page(request: web.Request) -> web.StreamResponse:
    """What residents asked that Huimin could not answer (data: /api/insights/...)."""
    return web.FileResponse(INSIGHTS_PAGE, headers={"Cache-Control": "no-store",
                                                    "Content-Type": "text/html; charset=utf-8"})


def add_editor_page_routes(app: web.Application) -> None:
    app.router.add_get("/editor", editor_page)
    app.router.add_get("/editor/insights", insights_page)
