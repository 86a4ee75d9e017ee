"""Residents' 有用/没用 under knowledge answers on the web chat page (``/chat``), no login.

``GET /chat/feedback/target?session_id=…``: the knowledge answer of the conversation's latest turn (read from
the tracker store), so the page knows where to show the two buttons; ``POST /chat/feedback``: the vote, with an
optional "缺了什么". The session id is the page's own signed conversation id (as for ``/chat/history``); an
answer id is accepted only if it is a knowledge answer of that conversation.
"""
from __future__ import annotations

import asyncio
from urllib.parse import urlparse

from aiohttp import web

from bot.console.auth import csrf_exempt
from bot.channels.chat_session import is_signed
from bot.console.errors import ApiError, read_json
from bot.insights import feedback
from bot.insights.service import for_app


def _session(value) -> str:
    # Only ids the chat channel issued (signed), as for /chat/history: nobody can vote in another's name.
    if not is_signed(value):
        raise ApiError(400, "bad_session", "会话编号不对，请刷新页面后再试")
    return value


async def target(request: web.Request) -> web.Response:
    """The latest knowledge answer of a web chat conversation, if its latest turn was one"""
    session_id = _session(request.query.get("session_id"))
    insights = for_app(request.app)
    loop = asyncio.get_running_loop()
    answer = await loop.run_in_executor(None, feedback.latest_answer, insights.reader, session_id)
    given = None
    if answer is not None:
        given = await feedback.given(request.app["db_url"], session_id, answer["answer_id"])
        answer = {"answer_id": answer["answer_id"], "text_start": answer["text_start"]}
    return web.json_response({"answer": answer, "given": given}, headers={"Cache-Control": "no-store"})


def _same_origin(request: web.Request) -> bool:
    # No CSRF token on the residents' page: a vote from another site's page is refused by its Origin instead.
    origin = request.headers.get("Origin")
    if not origin:
        return True
    return urlparse(origin).netloc == request.host


@csrf_exempt
async def vote(request: web.Request) -> web.Response:
    """A resident's 有用/没用 on one knowledge answer, with optional 缺了什么 text"""
    if not _same_origin(request):
        raise ApiError(403, "origin", "请求来源不对")
    body = await read_json(request, 8 * 1024)
    session_id = _session(body.get("session_id"))
    answer_id = body.get("answer_id")
    if not isinstance(answer_id, int) or isinstance(answer_id, bool) or answer_id <= 0:
        raise ApiError(400, "invalid_field", "answer_id 应该是正整数", field="answer_id")
    helpful = body.get("helpful")
    if not isinstance(helpful, bool):
        raise ApiError(400, "invalid_field", "helpful 应该是 true 或 false", field="helpful")
    missing = body.get("missing")
    if missing is not None and not isinstance(missing, str):
        raise ApiError(400, "invalid_field", "missing 应该是文字", field="missing")
    insights = for_app(request.app)
    saved = await feedback.store(request.app["db_url"], insights.reader, session_id, answer_id, helpful, missing)
    if saved is None:
        raise ApiError(404, "not_found", "找不到这条回答，可能对话已经过期了")
    return web.json_response({"ok": True, "helpful": helpful}, status=201)


OPENAPI_BODIES = {
    "POST /chat/feedback": {"session_id": "string: the web chat's conversation id",
                            "answer_id": "integer: from GET /chat/feedback/target", "helpful": "boolean",
                            "missing": "string, optional: what was missing (masked when stored)"},
}


def add_feedback_routes(app: web.Application) -> None:
    for_app(app)
    bodies = app.get("openapi_bodies") or {}
    bodies.update(OPENAPI_BODIES)
    app["openapi_bodies"] = bodies
    app.router.add_get("/chat/feedback/target", target)
    app.router.add_post("/chat/feedback", vote)
