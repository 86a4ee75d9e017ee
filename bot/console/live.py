"""Live updates for the staff pages: an in-process hub feeding server-sent events (``/api/events``).

Each console process learns about changes from the database (the tracker watcher), never from another
process's memory, so several console replicas each feed their own browsers correctly.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Set

from aiohttp import web

from bot.console.auth import load_session, require_role

# How often an open stream re-checks its login session: after logout (or expiry) it ends within this time.
RECHECK_SECONDS = 5
KEEPALIVE_SECONDS = 15


class Hub:
    def __init__(self) -> None:
        self._queues: Set[asyncio.Queue] = set()

    def publish(self, kind: str, data: Any) -> None:
        for q in list(self._queues):
            if q.qsize() < 1000:  # a stalled browser must not grow memory without bound
                q.put_nowait((kind, data))

    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue()
        self._queues.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._queues.discard(q)

    @property
    def subscribers(self) -> int:
        return len(self._queues)


def _frame(kind: str, data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


@require_role("staff")
async def events(request: web.Request) -> web.StreamResponse:
    hub: Hub = request.app["hub"]
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                       "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    q = hub.subscribe()
    loop = asyncio.get_running_loop()
    session_id = request["user"].session_id
    try:
        await resp.write(b"retry: 2000\n\n" + _frame("status", request.app["status"]))
        checked = quiet = loop.time()
        while True:
            try:
                kind, data = await asyncio.wait_for(q.get(), timeout=RECHECK_SECONDS)
                await resp.write(_frame(kind, data))
            except asyncio.TimeoutError:
                pass
            now = loop.time()
            if now - checked >= RECHECK_SECONDS:
                checked = now
                if await load_session(session_id, request.app["db_url"]) is None:
                    # Logged out (or expired) elsewhere: nothing more for this browser; it goes to the login page.
                    await resp.write(_frame("logout", {}))
                    break
            if now - quiet >= KEEPALIVE_SECONDS:
                quiet = now
                await resp.write(b": keep-alive\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(q)
    return resp


def add_live_routes(app: web.Application) -> None:
    app.router.add_get("/api/events", events)
