"""Shared by the editor's tests against the running stack: an editor on the console's HTTP API and a resident
on Rasa's REST channel."""
from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
import uuid
from pathlib import Path
from typing import List, Optional

import aiohttp

from bot.console import auth

PASSWORD = "editor pass 9"


class Editor:
    def __init__(self, console_url: str):
        self.url = console_url
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf: Optional[str] = None

    @classmethod
    async def login(cls, stack, name: str = "") -> "Editor":
        name = name or "editor-" + uuid.uuid4().hex[:6]
        await auth.create_user(name, "editor", PASSWORD, stack.database_url)
        self = cls(stack.console_url)
        async with self.http.get(f"{self.url}/api/auth/csrf") as r:
            token = (await r.json())["csrf_token"]
        async with self.http.post(f"{self.url}/api/auth/login", json={"username": name, "password": PASSWORD},
                                  headers={"X-CSRF-Token": token}) as r:
            assert r.status == 200, await r.text()
            self.csrf = (await r.json())["csrf_token"]
        return self

    async def call(self, method: str, path: str, body=None, expect: int = 200) -> dict:
        headers = {"X-CSRF-Token": self.csrf} if method != "GET" else {}
        async with self.http.request(method, f"{self.url}{path}", json=body, headers=headers) as r:
            data = await r.json()
            assert r.status == expect, (r.status, data)
            return data

    async def close(self) -> None:
        await self.http.close()


async def ask(rasa_url: str, text: str, sender: Optional[str] = None) -> List[str]:
    """One resident message on the REST channel; the texts Huimin answers with."""
    sender = sender or "editor-test-" + uuid.uuid4().hex[:10]
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                             timeout=aiohttp.ClientTimeout(total=60)) as r:
            assert r.status == 200, await r.text()
            return [m.get("text") or "" for m in await r.json()]


async def eventually(check, timeout: float = 60, interval: float = 1.0):
    """Poll ``check`` (async, returns a truthy value when done) until it succeeds; the last value otherwise."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(interval)
    return value


@contextlib.asynccontextmanager
async def editor_console(db_url: str, tmp_path, monkeypatch, users, password: str):
    """The real console app on a free port (no Rasa behind it) over a temporary copy of knowledge/, with editor
    accounts ``users``; yields (base URL, knowledge directory)."""
    from aiohttp.test_utils import TestServer

    from bot.console.app import create_app
    from bot.settings import Settings

    kdir = tmp_path / "knowledge"
    shutil.copytree(Path(__file__).resolve().parent.parent / "knowledge", kdir)
    monkeypatch.setenv("HUIMIN_KNOWLEDGE_DIR", str(kdir))
    for name in users:
        await auth.create_user(name, "editor", password, db_url)
    settings = Settings(database_url=db_url, rasa_url="http://127.0.0.1:9", rasa_token="t",
                        secret_key="test-secret", knowledge_dir=kdir)
    server = TestServer(create_app(settings, watch_interval=0), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), kdir
    finally:
        await server.close()


def drop_situations(path: Path) -> None:
    """Remove an entry file's ``situations`` (in a test's copy of knowledge/), so a test can add the first one
    whatever the checkout's content has meanwhile."""
    from ruamel.yaml import YAML

    y = YAML()
    doc = y.load(path.read_text(encoding="utf-8"))
    doc.pop("situations", None)
    with path.open("w", encoding="utf-8") as f:
        y.dump(doc, f)
