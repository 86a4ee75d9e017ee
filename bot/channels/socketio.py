"""Rasa's socket.io channel (the web chat page, rasa-webchat) with three fixes, same name and same protocol.

1. Rasa 3.6 calls ``sio.enter_room(...)`` without ``await``; in python-socketio 5.x that is a coroutine, so with
   ``session_persistence: true`` the socket never joins its session's room and no answer ever reaches the page
   ("coroutine 'AsyncServer.enter_room' was never awaited").
2. Rasa trusts any ``session_id`` in every message, and it becomes the conversation id. Here a socket may only
   speak in the session it asked for, and a session id is 8-64 letters, digits, ``-`` or ``_`` — so it can
   never name a WeChat conversation (those are ``wx:<OpenID>``, see wechat.py) or a REST one (``rest:…``).
3. A message longer than bot/channels/limits.py allows is answered kindly and never reaches the assistant.

Use it in credentials.yml as ``bot.channels.socketio.SocketIOInput:`` with the usual socketio keys.
"""
from __future__ import annotations

import logging
import re
import uuid
from typing import Any, Awaitable, Callable, Dict, Optional
from urllib.parse import urlparse

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from sanic import Blueprint

from bot.channels.limits import too_long, too_long_reply

logger = logging.getLogger(__name__)

SESSION_ID_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")


def _share_rooms_through_redis(sio: Any) -> None:
    """With several Rasa replicas, a staff reply relayed through the HTTP API (``output_channel=latest``) may run
    on a replica that does not hold the resident's socket: with HUIMIN_REDIS_URL set, emits go through Redis
    pub/sub and reach the socket on whichever replica holds it. Must run before the first connection."""
    from bot.settings import get_settings

    redis_url = get_settings().redis_url
    if not redis_url:
        return
    import socketio

    # Pub/sub channels ignore Redis database numbers: name the channel after the database, so that
    # deployments sharing one Redis server on different databases do not receive each other's emits.
    db = (urlparse(redis_url).path or "/0").lstrip("/") or "0"
    manager = socketio.AsyncRedisManager(redis_url, channel=f"huimin-socketio-{db}")
    sio.manager = manager
    manager.set_server(sio)
    sio.manager_initialized = False


def _subscribe_at_start(bp: Blueprint, sio: Any) -> None:
    """python-socketio subscribes lazily, on the first connection, in a background task: the first emits to
    that socket (``session_confirm``) could be published before the subscription exists and be lost. Subscribe
    when the server starts instead."""
    from socketio.async_pubsub_manager import AsyncPubSubManager

    if not isinstance(sio.manager, AsyncPubSubManager):
        return

    @bp.listener("after_server_start")
    async def _init_manager(app: Any, loop: Any) -> None:
        if not sio.manager_initialized:
            sio.manager_initialized = True
            sio.manager.initialize()


def _with_client(metadata: Any, environ: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The message's metadata with ``client`` set by us (never by the page): a keyed hash of the address the
    message came from, so that the status lookup can limit attempts per client (bot/applications/attempt_limits)."""
    from bot.privacy import keyed_hash
    from bot.proxy import client_address

    environ = environ or {}
    request = environ.get("sanic.request")
    peer = getattr(getattr(request, "conn_info", None), "client_ip", None) if request is not None else None
    address = client_address(peer, environ.get("HTTP_X_FORWARDED_FOR"))
    out = dict(metadata) if isinstance(metadata, dict) else {}
    out["client"] = keyed_hash(address or "unknown", "socketio.client")[:32]
    return out


class SocketIOInput(RasaSocketIOInput):
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = super().blueprint(on_new_message)
        sio = self.sio
        _share_rooms_through_redis(sio)
        _subscribe_at_start(bp, sio)
        namespace = self.namespace or "/"
        rasa_handle_message = sio.handlers[namespace][self.user_message_evt]

        async def session_request(sid: str, data: Optional[Dict[str, Any]]) -> None:
            requested = (data or {}).get("session_id") if isinstance(data, dict) else None
            session_id = requested if isinstance(requested, str) and SESSION_ID_RE.fullmatch(requested) \
                else uuid.uuid4().hex
            if self.session_persistence:
                await sio.enter_room(sid, session_id, namespace=namespace)
            await sio.save_session(sid, {"session_id": session_id}, namespace=namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=namespace)

        async def handle_message(sid: str, data: Any) -> None:
            if not isinstance(data, dict) or not isinstance(data.get("message"), str):
                return
            if too_long(data["message"]):
                # Answered here, kindly: the assistant never spends time on it.
                await sio.emit(self.bot_message_evt, {"text": too_long_reply()}, room=sid, namespace=namespace)
                return
            if self.session_persistence:
                granted = (await sio.get_session(sid, namespace=namespace)).get("session_id")
                if not granted or data.get("session_id") != granted:
                    logger.warning("socket.io message for a session this socket did not request; ignored")
                    return
            data = dict(data, **{self.metadata_key: _with_client(data.get(self.metadata_key),
                                                                 sio.get_environ(sid, namespace=namespace))})
            await rasa_handle_message(sid, data)

        sio.on("session_request", namespace=self.namespace)(session_request)
        sio.on(self.user_message_evt, namespace=self.namespace)(handle_message)
        return bp
