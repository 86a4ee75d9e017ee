"""Shared by the handoff tests that run against the stack: a resident on Rasa's socket.io channel and a
staff member on the console API."""
from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import List, Optional

import aiohttp
import socketio


async def leave(sio: socketio.AsyncClient) -> None:
    """Leave as the chat page does: the server is told (socket.io's DISCONNECT, engine.io's CLOSE). With
    long-polling the server answers the client's pending poll only at its next ping, ~30 s later, and a plain
    disconnect waits for that answer; once the goodbye is posted, the poll is dropped instead."""
    eio = sio.eio
    writer = eio.write_loop_task
    leaving = asyncio.ensure_future(sio.disconnect())
    if writer is not None:
        await writer  # ends once it has posted what was queued before the disconnect's end marker
    if eio.read_loop_task is not None:
        eio.read_loop_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await leaving
    await eio.disconnect(abort=True)  # the client's reset: state, queue, its own HTTP session


class Resident:
    """A web-page resident: Rasa's socket.io channel with session persistence, like the /chat page."""

    def __init__(self, rasa_url: str):
        self.rasa_url = rasa_url
        self.session_id = "e2e-" + uuid.uuid4().hex[:12]
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: List[dict] = []
        self._confirmed = asyncio.Event()

        @self.sio.on("bot_uttered")
        async def _bot(data):
            self.received.append(data or {})

        @self.sio.on("session_confirm")
        async def _confirm(data):
            # The server issues (or confirms) the session id; it is the conversation id from now on.
            confirmed = data.get("session_id") if isinstance(data, dict) else data
            if confirmed:
                self.session_id = confirmed
            self._confirmed.set()

    async def connect(self) -> None:
        # Long-polling: python-engineio's websocket client needs aiohttp>=3.10 (ClientWSTimeout), the lock has 3.9.
        await self.sio.connect(self.rasa_url, socketio_path="/socket.io", transports=["polling"])
        await self.sio.emit("session_request", {"session_id": self.session_id})
        await asyncio.wait_for(self._confirmed.wait(), 20)

    async def say(self, text: str) -> None:
        await self.sio.emit("user_uttered", {"message": text, "session_id": self.session_id})

    async def wait_for(self, predicate, timeout: float = 30, after: int = 0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.received[after:]:
                if predicate(m):
                    return m
            await asyncio.sleep(0.1)
        raise AssertionError(f"no matching message; received {self.received[after:]}")

    def texts(self, after: int = 0) -> List[str]:
        return [m.get("text") or "" for m in self.received[after:]]

    async def close(self) -> None:
        await leave(self.sio)


class Staff:
    def __init__(self, console_url: str):
        self.url = console_url
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf: Optional[str] = None

    async def login(self, name: str, password: str) -> None:
        async with self.http.get(self.url + "/api/auth/csrf") as r:
            token = (await r.json())["csrf_token"]
        async with self.http.post(self.url + "/api/auth/login", json={"username": name, "password": password},
                                  headers={"X-CSRF-Token": token}) as r:
            body = await r.json()
            assert r.status == 200, body
            self.csrf = body["csrf_token"]

    async def get(self, path: str) -> dict:
        async with self.http.get(self.url + path) as r:
            body = await r.json()
            assert r.status == 200, body
            return body

    async def post(self, path: str, json: Optional[dict] = None, expect: int = 200) -> dict:
        async with self.http.post(self.url + path, json=json or {}, headers={"X-CSRF-Token": self.csrf}) as r:
            body = await r.json()
            assert r.status == expect, body
            return body

    async def wait_ticket(self, conversation_id: str, view: str = "waiting", timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t in (await self.get(f"/api/tickets?view={view}"))["tickets"]:
                if t["conversation_id"] == conversation_id:
                    return t
            await asyncio.sleep(0.3)
        raise AssertionError(f"no {view} ticket for {conversation_id}")

    async def close(self) -> None:
        await self.http.close()


async def ensure_staff_user(database_url: str, name: str, password: str) -> None:
    from bot.console.auth import create_user

    try:
        await create_user(name, "staff", password, database_url)
    except ValueError:  # already there from an earlier test of this session
        pass
