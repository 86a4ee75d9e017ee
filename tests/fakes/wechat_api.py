"""A local stand-in for api.weixin.qq.com (aiohttp, in a background thread so that a Rasa subprocess can call it).

It issues access tokens, rejects calls with a wrong or superseded token (40001) or an expired one (42001), records
customer-service messages and menus, and can be told to fail the next calls (an errcode or an HTTP status).
"""
from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

from aiohttp import web


@dataclass
class FakeWeChatAPI:
    appid: str
    secret: str
    host: str = "127.0.0.1"
    port: int = 0
    messages: List[Dict[str, Any]] = field(default_factory=list)  # accepted customer-service messages
    menus: List[Dict[str, Any]] = field(default_factory=list)
    rejected: List[Dict[str, Any]] = field(default_factory=list)  # calls answered with an error, with the reason
    token_fetches: int = 0
    current_token: Optional[str] = None
    _failures: List[Union[int, str]] = field(default_factory=list)
    _expired: bool = False

    # -- control (called from the test thread) -------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def fail_next(self, *failures: Union[int, str]) -> None:
        """Answer the next API calls with these failures in order: an errcode (e.g. 40001, 45047, -1) or
        ``"http500"``."""
        with self._lock:
            self._failures.extend(failures)

    def expire_token(self) -> None:
        """The current token now gets 42001, as after two hours."""
        with self._lock:
            self._expired = True

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.menus.clear()
            self.rejected.clear()
            self._failures.clear()

    def messages_to(self, openid: str) -> List[Dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages if m.get("touser") == openid]

    def wait_for_messages(self, openid: str, count: int = 1, timeout: float = 120.0) -> List[Dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.messages_to(openid)
            if len(got) >= count:
                return got
            time.sleep(0.1)
        return self.messages_to(openid)

    # -- server ---------------------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._runner: Optional[web.AppRunner] = None
        self._thread: Optional[threading.Thread] = None
        self._counter = 0

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._custom_send)
        app.router.add_post("/cgi-bin/menu/create", self._menu_create)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("grant_type") != "client_credential":
            return web.json_response({"errcode": 40002, "errmsg": "invalid grant_type"})
        if q.get("appid") != self.appid:
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        if q.get("secret") != self.secret:
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        with self._lock:
            self._counter += 1
            self.token_fetches += 1
            # Fetching again invalidates the previous token (WeChat's rule), so parallel fetchers hurt each other.
            self.current_token = f"TOKEN-{self._counter}-" + "x" * 100
            self._expired = False
            token = self.current_token
        return web.json_response({"access_token": token, "expires_in": 7200})

    def _check(self, request: web.Request, body: Any) -> Optional[Dict[str, Any]]:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
            token = request.query.get("access_token")
            if failure is None:
                if token != self.current_token:
                    failure = 40001
                elif self._expired:
                    failure = 42001
        if failure is None:
            return None
        with self._lock:
            self.rejected.append({"path": request.path, "failure": failure, "body": body})
        if failure == "http500":
            raise web.HTTPInternalServerError(text="fake outage")
        return {"errcode": failure, "errmsg": "fake error"}

    async def _read_json(self, request: web.Request) -> Any:
        raw = await request.read()
        return json.loads(raw.decode("utf-8"))

    async def _custom_send(self, request: web.Request) -> web.Response:
        body = await self._read_json(request)
        error = self._check(request, body)
        if error:
            return web.json_response(error)
        if body.get("msgtype") not in {"text", "image", "voice", "video", "music", "news", "mpnews", "msgmenu"} \
                or not body.get("touser"):
            return web.json_response({"errcode": 40008, "errmsg": "invalid message type"})
        with self._lock:
            self.messages.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _menu_create(self, request: web.Request) -> web.Response:
        body = await self._read_json(request)
        error = self._check(request, body)
        if error:
            return web.json_response(error)
        with self._lock:
            self.menus.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def start(self) -> "FakeWeChatAPI":
        if not self.port:
            with socket.socket() as s:
                s.bind((self.host, 0))
                self.port = s.getsockname()[1]
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._runner = web.AppRunner(self._app(), access_log=None)
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(web.TCPSite(self._runner, self.host, self.port).start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-wechat-api", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake WeChat API did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
