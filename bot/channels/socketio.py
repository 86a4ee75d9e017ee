"""Rasa's socket.io channel (the web chat page, rasa-webchat) with three fixes, same name and same protocol.

1. Rasa 3.6 calls ``sio.enter_room(...)`` without ``await``; in python-socketio 5.x that is a coroutine, so with
   ``session_persistence: true`` the socket never joins its session's room and no answer ever reaches the page
   ("coroutine 'AsyncServer.enter_room' was never awaited").
2. Rasa trusts any ``session_id`` in every message, and it becomes the conversation id. Here a socket may only
   speak in the session it asked for, and a session id is 8-64 letters, digits, ``-`` or ``_`` — so it can
   never name a WeChat conversation (those are ``wx:<OpenID>``, see wechat.py) or a REST one (``rest:…``).
3. A message longer than bot/channels/limits.py allows is answered kindly and never reaches the assistant.
4. Session ids are issued signed (bot/channels/chat_session.py) and one idle for too long is replaced by a new
   one, so a shared computer does not resume the previous person's conversation.
5. Every message the page receives carries ``at`` (when it was said) and, for a staff reply, ``staff`` (the
   label the page shows instead of the assistant's name); a message typed while the conversation waits for a
   person is acknowledged once (bot/handoff/waiting.py) instead of vanishing in Rasa's pause.

Use it in credentials.yml as ``bot.channels.socketio.SocketIOInput:`` with the usual socketio keys.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Awaitable, Callable, Dict, Optional
from urllib.parse import urlparse

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from rasa.core.channels.socketio import SocketIOOutput as RasaSocketIOOutput
from sanic import Blueprint

from bot.channels.chat_session import SESSION_ID_RE, is_idle, is_signed, new_session_id  # noqa: F401 (re-export)
from bot.channels.limits import too_long, too_long_reply

logger = logging.getLogger(__name__)


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


class SocketIOOutput(RasaSocketIOOutput):
    """Rasa's socket.io output, plus what the page shows beside each text: ``at`` (epoch seconds) and, for a
    staff reply relayed by the console (``metadata.human_agent``), ``staff`` — the label such as 工作人员 小王."""

    def __init__(self, sio: Any, bot_message_evt: str) -> None:
        super().__init__(sio, bot_message_evt)
        self._extra: Dict[str, Any] = {}
        self.sent = 0

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        from bot.handoff.wording import staff_label

        extra: Dict[str, Any] = {"at": message.get("timestamp") or time.time()}
        if message.get("human_agent"):
            extra["staff"] = staff_label(message["human_agent"])
        self._extra = extra
        try:
            await super().send_response(recipient_id, message)
        finally:
            self._extra = {}

    async def _send_message(self, socket_id: str, response: Any) -> None:
        if self._extra and isinstance(response, dict):
            response = {**response, **self._extra}
        self.sent += 1
        await super()._send_message(socket_id, response)


class SocketIOInput(RasaSocketIOInput):
    _sanic_app: Any = None

    def get_output_channel(self) -> Optional[OutputChannel]:
        if self.sio is None:
            return super().get_output_channel()
        return SocketIOOutput(self.sio, self.bot_message_evt)

    def _agent(self) -> Any:
        from bot.handoff.waiting import agent_of
        return agent_of(self._sanic_app)

    async def _expired(self, session_id: str) -> bool:
        """An issued id whose conversation nobody touched for too long (and that is not waiting for a person)."""
        from bot.handoff.waiting import tracker_store_of

        store = tracker_store_of(self._agent())
        if store is None:
            return False
        try:
            tracker = await store.retrieve(session_id)
        except Exception as exc:
            logger.warning("could not read the tracker to check a session's age: %s", type(exc).__name__)
            return False
        if tracker is None or not tracker.events:
            return False
        return is_idle(max(e.timestamp or 0 for e in tracker.events), tracker.is_paused())

    async def _acknowledge(self, sio: Any, sender_id: str, room: str, namespace: str) -> None:
        from bot.handoff.waiting import acknowledgement

        ack = await acknowledgement(self._agent(), sender_id)
        if ack:
            await sio.emit(self.bot_message_evt, {"text": ack, "kind": "received", "at": time.time()},
                           room=room, namespace=namespace)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = super().blueprint(on_new_message)
        sio = self.sio
        _share_rooms_through_redis(sio)
        _subscribe_at_start(bp, sio)
        namespace = self.namespace or "/"

        @bp.listener("after_server_start")
        async def _keep_app(app: Any, loop: Any) -> None:
            # The agent (and its tracker store) lives on the Sanic app; socket.io handlers get no request.
            self._sanic_app = app

        async def session_request(sid: str, data: Optional[Dict[str, Any]]) -> None:
            requested = (data or {}).get("session_id") if isinstance(data, dict) else None
            session_id = requested if is_signed(requested) and not await self._expired(requested) \
                else new_session_id()
            if self.session_persistence:
                # A page that ended its conversation (结束对话) asks again on the same socket: it must stop
                # receiving the old conversation's messages.
                previous = (await sio.get_session(sid, namespace=namespace) or {}).get("session_id")
                if previous and previous != session_id:
                    await sio.leave_room(sid, previous, namespace=namespace)
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
            sender_id = sid
            if self.session_persistence:
                granted = (await sio.get_session(sid, namespace=namespace)).get("session_id")
                if not granted or data.get("session_id") != granted:
                    logger.warning("socket.io message for a session this socket did not request; ignored")
                    return
                sender_id = granted
            data = dict(data, **{self.metadata_key: _with_client(data.get(self.metadata_key),
                                                                 sio.get_environ(sid, namespace=namespace))})
            await self._to_rasa(sio, sender_id, data, on_new_message, namespace)

        sio.on("session_request", namespace=self.namespace)(session_request)
        sio.on(self.user_message_evt, namespace=self.namespace)(handle_message)
        return bp

    async def _to_rasa(self, sio: Any, sender_id: str, data: Dict[str, Any],
                       on_new_message: Callable[[UserMessage], Awaitable[Any]], namespace: str) -> None:
        """What Rasa's own handler does, with this module's output channel; then the acknowledgement when the
        message got no answer because the conversation waits for a person."""
        metadata = data.get(self.metadata_key) or {}
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                metadata = {}
        if not isinstance(metadata, dict):
            metadata = {}
        output = SocketIOOutput(sio, self.bot_message_evt)
        await on_new_message(UserMessage(data["message"], output, sender_id, input_channel=self.name(),
                                         metadata=metadata))
        if not output.sent:
            await self._acknowledge(sio, sender_id, sender_id, namespace)
