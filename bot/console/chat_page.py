"""The residents' web chat page at ``/chat``: static files, where to reach Rasa's socket.io, and the history of a
conversation for a page reload (from the Rasa tracker, through the console, which holds the API token)."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Dict, List
from urllib.parse import urlparse

from aiohttp import web

from bot.channels.chat_session import idle_limit_seconds, is_idle, is_signed
from bot.console.errors import ApiError
from bot.handoff import wording
from bot.settings import get_settings

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static" / "chat"
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
              "humanPayload": "/request_human", "idleMinutes": idle_limit_seconds() / 60}
    body = "window.HUIMIN_CHAT = " + json.dumps(config, ensure_ascii=False) + ";\n"
    return web.Response(text=body, content_type="application/javascript", headers={"Cache-Control": "no-store"})


def history_from_events(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """What the page shows for a conversation: the resident's words and the answers, in order.

    Button payloads the resident tapped are shown as the button's title; other ``/intent`` payloads (the page's
    opening ``/greet``, a menu action) are not words the resident typed and are left out. Staff replies carry
    their label; a message typed while the conversation waited for a person is followed by the acknowledgement
    the resident saw then (the channel sends it without recording it).
    """
    out: List[Dict[str, Any]] = []
    last_buttons: List[Dict[str, Any]] = []
    paused = False
    for e in events:
        kind = e.get("event")
        if kind == "pause":
            paused = True
        elif kind in ("resume", "restart"):
            paused = False
        elif kind == "user":
            text = e.get("text") or ""
            if text.startswith("/"):
                title = next((b.get("title") for b in last_buttons if b.get("payload") == text), None)
                if not title:
                    continue
                text = title
            out.append({"from": "user", "text": text, "at": e.get("timestamp")})
            if paused:
                out.append({"from": "bot", "kind": "received", "text": wording.text("received"),
                            "at": e.get("timestamp")})
        elif kind == "bot":
            data = e.get("data") or {}
            buttons = [{"title": b.get("title"), "payload": b.get("payload")}
                       for b in (data.get("buttons") or data.get("quick_replies") or []) if isinstance(b, dict)]
            message: Dict[str, Any] = {"from": "bot", "text": e.get("text") or "", "at": e.get("timestamp")}
            agent = (e.get("metadata") or {}).get("human_agent")
            if agent:
                message["staff"] = wording.staff_label(agent)
            if buttons:
                message["quick_replies"] = buttons
                last_buttons = buttons
            if data.get("image"):
                message["image"] = data["image"]
            if message["text"] or buttons or message.get("image"):
                out.append(message)
    return out[-HISTORY_LIMIT:]


def _session_id(request: web.Request) -> str:
    """The page's session id, which must be one the chat channel issued (signed); else a 400 with the reason."""
    session_id = request.query.get("session_id", "")
    if not is_signed(session_id):
        raise ApiError(400, "bad_session", "会话编号不对，请刷新页面")
    return session_id


async def history(request: web.Request) -> web.Response:
    session_id = _session_id(request)
    rasa = request.app.get("rasa")
    if rasa is None:
        from bot.rasa.http_api import RasaAPI
        rasa = request.app["rasa"] = RasaAPI()
    try:
        tracker = await rasa.tracker(session_id)
    except Exception as exc:  # the page falls back to its local copy
        log.warning("chat history unavailable: %s", type(exc).__name__)
        return web.json_response({"error": "unavailable", "message": "暂时读不到之前的对话"}, status=503)
    # The socket.io channel is the only one whose ids look like this; never show another channel's conversation.
    if tracker.get("latest_input_channel") not in (None, "socketio"):
        return web.json_response({"messages": []})
    events = tracker.get("events") or []
    if events and is_idle(max(e.get("timestamp") or 0 for e in events), bool(tracker.get("paused"))):
        # The channel will not resume it either: the page starts afresh and drops its local copy.
        return web.json_response({"messages": [], "expired": True}, headers={"Cache-Control": "no-store"})
    return web.json_response({"messages": history_from_events(events)}, headers={"Cache-Control": "no-store"})


async def state(request: web.Request) -> web.Response:
    """Whether the conversation waits for a person, and the banner the page keeps showing meanwhile."""
    from bot.handoff import tickets

    session_id = _session_id(request)
    try:
        ticket = await tickets.open_ticket_for(session_id, request.app.get("db_url"))
    except Exception as exc:
        log.warning("chat state unavailable: %s", type(exc).__name__)
        return web.json_response({"error": "unavailable", "message": "暂时查不到转人工的状态"}, status=503)
    if ticket is None:
        return web.json_response({"waiting": False}, headers={"Cache-Control": "no-store"})
    if ticket.status == "active" and ticket.assignee:
        banner = wording.text("serving_banner", label=wording.staff_label(ticket.assignee))
    else:
        banner = wording.waiting_banner(office_id=ticket.office)
    return web.json_response({"waiting": True, "serving": ticket.status == "active", "banner": banner},
                             headers={"Cache-Control": "no-store"})


def add_chat_routes(app: web.Application) -> None:
    app.router.add_get("/chat", page)
    app.router.add_get("/chat/", page)
    app.router.add_get("/chat/config.js", config_js)
    app.router.add_get("/chat/history", history)
    app.router.add_get("/chat/state", state)
    app.router.add_static("/chat/static/", STATIC, name="chat_static")
