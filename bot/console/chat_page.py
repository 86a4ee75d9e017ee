"""The residents' web chat page at ``/chat``: static files, where to reach Rasa's socket.io, and the history of a
conversation for a page reload (from the Rasa tracker, through the console, which holds the API token)."""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Dict, List
from urllib.parse import urlparse

from aiohttp import web

from bot.settings import get_settings

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static" / "chat"
SESSION_ID_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")  # what bot/channels/socketio.py accepts
HISTORY_LIMIT = 200
_LOOPBACK = {"127.0.0.1", "localhost", "0.0.0.0", "::1"}


def _request_hostname(request: web.Request) -> str:
    """The host name the browser used, without the port (request.url breaks on "host:port" with this yarl)."""
    host = request.host or ""
    if host.startswith("["):  # [IPv6]:port
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def socket_url(request: web.Request) -> str:
    """Where the browser reaches Rasa's socket.io: "" (same origin) behind the proxy, else the Rasa port on the
    host the page was loaded from (development and tests, where the console has its own port)."""
    settings = request.app.get("settings") or get_settings()
    explicit = getattr(settings, "chat_socket_url", "")
    if explicit:
        return explicit
    if request.headers.get("X-Forwarded-For") or request.headers.get("X-Forwarded-Proto"):
        return ""  # nginx serves /socket.io/ next to /chat (deploy/nginx.conf.template)
    rasa = urlparse(settings.rasa_url)
    host = rasa.hostname or "127.0.0.1"
    if host in _LOOPBACK:
        host = _request_hostname(request) or host
    scheme = "https" if request.secure else (rasa.scheme or "http")
    return f"{scheme}://{host}:{rasa.port or settings.rasa_port}"


async def page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store",
                                                            "Content-Type": "text/html; charset=utf-8"})


async def config_js(request: web.Request) -> web.Response:
    config = {"socketUrl": socket_url(request), "socketPath": "/socket.io", "initPayload": "/greet",
              "humanPayload": "/request_human"}
    body = "window.HUIMIN_CHAT = " + json.dumps(config, ensure_ascii=False) + ";\n"
    return web.Response(text=body, content_type="application/javascript", headers={"Cache-Control": "no-store"})


def history_from_events(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """What the page shows for a conversation: the resident's words and the answers, in order.

    Button payloads the resident tapped are shown as the button's title; other ``/intent`` payloads (the page's
    opening ``/greet``, a menu action) are not words the resident typed and are left out.
    """
    out: List[Dict[str, Any]] = []
    last_buttons: List[Dict[str, Any]] = []
    for e in events:
        kind = e.get("event")
        if kind == "user":
            text = e.get("text") or ""
            if text.startswith("/"):
                title = next((b.get("title") for b in last_buttons if b.get("payload") == text), None)
                if not title:
                    continue
                text = title
            out.append({"from": "user", "text": text})
        elif kind == "bot":
            data = e.get("data") or {}
            buttons = [{"title": b.get("title"), "payload": b.get("payload")}
                       for b in (data.get("buttons") or data.get("quick_replies") or []) if isinstance(b, dict)]
            message: Dict[str, Any] = {"from": "bot", "text": e.get("text") or ""}
            if buttons:
                message["quick_replies"] = buttons
                last_buttons = buttons
            if data.get("image"):
                message["image"] = data["image"]
            if message["text"] or buttons or message.get("image"):
                out.append(message)
    return out[-HISTORY_LIMIT:]


async def history(request: web.Request) -> web.Response:
    session_id = request.query.get("session_id", "")
    if not SESSION_ID_RE.fullmatch(session_id):
        return web.json_response({"error": "bad_session", "message": "会话编号不对"}, status=400)
    rasa = request.app.get("rasa")
    if rasa is None:
        from bot.handoff.rasa_api import RasaAPI
        rasa = request.app["rasa"] = RasaAPI()
    try:
        tracker = await rasa.tracker(session_id)
    except Exception as exc:  # the page falls back to its local copy
        log.warning("chat history unavailable: %s", type(exc).__name__)
        return web.json_response({"error": "unavailable", "message": "暂时读不到之前的对话"}, status=503)
    # The socket.io channel is the only one whose ids look like this; never show another channel's conversation.
    if tracker.get("latest_input_channel") not in (None, "socketio"):
        return web.json_response({"messages": []})
    return web.json_response({"messages": history_from_events(tracker.get("events") or [])},
                             headers={"Cache-Control": "no-store"})


def add_chat_routes(app: web.Application) -> None:
    app.router.add_get("/chat", page)
    app.router.add_get("/chat/", page)
    app.router.add_get("/chat/config.js", config_js)
    app.router.add_get("/chat/history", history)
    app.router.add_static("/chat/static/", STATIC, name="chat_static")
