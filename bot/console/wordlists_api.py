"""The editor's word lists for understanding residents (``/api/editor/wordlists``): read them as lists of
phrases, save them (checked like ``kb check``, recorded in the history, published like every knowledge edit).
Role ``editor``; the save needs ``X-CSRF-Token`` like every state-changing call."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.console.auth import require_role
from bot.console.editor_api import MAX_BODY, _blocking, _call, _user, _version
from bot.console.errors import ApiError, read_json
from bot.editor.wordlists import WordLists


def _lists(request: web.Request) -> WordLists:
    return request.app["editor_wordlists"]


@require_role("editor")
async def wordlists_get(request: web.Request) -> web.Response:
    """Every word list, grouped, with its explanation and the version to save against"""
    model = await _blocking(request, _lists(request).get)
    model["history"] = await _call(_lists(request).history)
    return web.json_response(model)


@require_role("editor")
async def wordlists_save(request: web.Request) -> web.Response:
    """Save the lists (and referrals): refused with problems per list when the check fails"""
    body = await read_json(request, MAX_BODY)
    lists = body.get("lists")
    if not isinstance(lists, dict):
        raise ApiError(400, "missing_field", "缺少词表 lists（每个词表一个说法列表）", field="lists")
    referrals = body.get("referrals")
    if referrals is not None and not isinstance(referrals, list):
        raise ApiError(400, "invalid_field", "referrals 应该是一个列表", field="referrals")
    result = await _call(_lists(request).save, lists, referrals, _version(body), _user(request))
    return web.json_response(result)


OPENAPI_BODIES = {
    "PUT /api/editor/wordlists": {
        "lists": "object: list key (e.g. 'distress', 'concepts.alone', 'places.cities') → array of phrases",
        "referrals": "array, optional: {topic, office, cues: [..], civil_affairs}",
        "version": "string: the version the editor loaded"},
}


def add_wordlists_routes(app: web.Application) -> None:
    app["editor_wordlists"] = WordLists(Path(app["settings"].knowledge_dir), app["db_url"])
    bodies = app.get("openapi_bodies") or {}
    bodies.update(OPENAPI_BODIES)
    app["openapi_bodies"] = bodies
    app.router.add_get("/api/editor/wordlists", wordlists_get)
    app.router.add_put("/api/editor/wordlists", wordlists_save)
