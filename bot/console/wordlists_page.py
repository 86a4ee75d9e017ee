"""The ``/editor/wordlists`` page (role editor): the word lists for understanding residents, one textarea per
list (data: ``/api/editor/wordlists``). Assets under ``bot/console/static/editor/``."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.console.auth import require_role

PAGE = Path(__file__).resolve().parent / "static" / "editor" / "wordlists.html"


@require_role("editor", page=True)
async def wordlists_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(PAGE, headers={"Cache-Control": "no-store", "Content-Type": "text/html; charset=utf-8"})


def add_wordlists_page_routes(app: web.Application) -> None:
    app.router.add_get("/editor/wordlists", wordlists_page)
