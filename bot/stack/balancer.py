"""``python -m bot balance``: the development stack's Rasa address in front of several Rasa processes on one
machine, so that a conversation's turn can use a core of its own (one Rasa process runs Python on one core).

Requests go to the process with the fewest requests in flight; socket.io (``/socket.io/``, polling and websocket)
always goes to the same process for the same client address, because a socket.io connection's state lives in
the process that opened it (as nginx's ``ip_hash`` does in the production topology). Everything else is passed
through unchanged, with the client's address in ``X-Forwarded-For`` (believed from loopback only, bot/proxy.py).
"""
from __future__ import annotations

import asyncio
import zlib
from typing import List

from aiohttp import ClientSession, ClientTimeout, WSMsgType, web

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
                        "transfer-encoding", "upgrade", "host", "content-length"})


class Balancer:
    def __init__(self, backends: List[str]) -> None:
        self.backends = [b.rstrip("/") for b in backends]
        self.in_flight = [0] * len(self.backends)
        self.session: ClientSession | None = None

    def pick(self, request: web.Request) -> int:
        if request.path.startswith("/socket.io"):
            return zlib.crc32((request.remote or "").encode()) % len(self.backends)
        return min(range(len(self.backends)), key=self.in_flight.__getitem__)

    def _headers(self, request: web.Request) -> dict:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        forwarded = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{forwarded}, {request.remote}" if forwarded else (request.remote or "")
        return headers

    async def handle(self, request: web.Request) -> web.StreamResponse:
        i = self.pick(request)
        url = self.backends[i] + request.rel_url.path_qs
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request, url)
        self.in_flight[i] += 1
        try:
            body = await request.read()
            async with self.session.request(request.method, url, headers=self._headers(request), data=body,
                                            allow_redirects=False) as resp:
                payload = await resp.read()
                headers = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP}
                return web.Response(status=resp.status, body=payload, headers=headers)
        except (OSError, asyncio.TimeoutError) as exc:
            return web.Response(status=502, text=f"Rasa process unavailable: {type(exc).__name__}")
        finally:
            self.in_flight[i] -= 1

    async def _websocket(self, request: web.Request, url: str) -> web.StreamResponse:
        headers = {k: v for k, v in self._headers(request).items()
                   if not k.lower().startswith("sec-websocket")}
        try:
            upstream = await self.session.ws_connect(url, headers=headers)
        except OSError as exc:
            return web.Response(status=502, text=f"Rasa process unavailable: {type(exc).__name__}")
        client = web.WebSocketResponse()
        await client.prepare(request)

        async def pump(source, sink) -> None:
            async for msg in source:
                if msg.type == WSMsgType.TEXT:
                    await sink.send_str(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await sink.send_bytes(msg.data)
                else:
                    break

        tasks = [asyncio.ensure_future(pump(client, upstream)), asyncio.ensure_future(pump(upstream, client))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await upstream.close()
            await client.close()
        return client


def app(backends: List[str]) -> web.Application:
    balancer = Balancer(backends)
    application = web.Application(client_max_size=16 * 1024 * 1024)

    async def open_session(_app: web.Application) -> None:
        # No total timeout: Rasa answers a turn when its actions have answered (its own timeouts apply).
        balancer.session = ClientSession(timeout=ClientTimeout(total=None, sock_connect=5), auto_decompress=False)

    async def close_session(_app: web.Application) -> None:
        await balancer.session.close()

    application.on_startup.append(open_session)
    application.on_cleanup.append(close_session)
    application.router.add_route("*", "/{tail:.*}", balancer.handle)
    application["balancer"] = balancer
    return application


def _run(args) -> int:
    try:  # Sanic's event loop, installed with Rasa: a proxied request costs less CPU on it
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    web.run_app(app(args.backend), host=args.host, port=args.port, access_log=None, print=None)
    return 0


def register(sub) -> None:
    p = sub.add_parser("balance", help="spread requests over several local Rasa processes (python -m bot run)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--backend", action="append", required=True, help="a Rasa process's URL (repeat)")
    p.set_defaults(handler=_run)
