"""Shared helpers of the console/edge security tests: the production nginx in front of the running stack, and
HTTP clients that come from a chosen loopback address (nginx tells clients apart by address)."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Optional

import aiohttp

from tests.conftest import free_port


class Front:
    def __init__(self, url: str, run_dir: Path, rasa_api_url: str):
        self.url, self.run_dir, self.rasa_api_url = url, run_dir, rasa_api_url

    def access_log(self) -> str:
        path = self.run_dir / "nginx-access.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def nginx_in_front(stack, run_dir: Path, rate_limit_exempt: tuple = ()) -> Iterator[Front]:
    """deploy/nginx.conf.template rendered by bot/prod, its upstreams the stack's Rasa, action server and
    console — the public door of the production topology without starting a second Rasa."""
    from bot.prod.cli import nginx_binary
    from bot.prod.topology import render_nginx
    from bot.stack import processes

    run_dir.mkdir(parents=True, exist_ok=True)
    port, api_port = free_port(), free_port()
    rasa = stack.rasa_url.split("//", 1)[1]
    upstreams = {"rasa": [rasa], "actions": [stack.actions_url.split("//", 1)[1]],
                 "console": [stack.console_url.split("//", 1)[1]]}
    conf = run_dir / "nginx.conf"
    conf.write_text(render_nginx(str(run_dir), port, free_port(), api_port, upstreams,
                                 rate_limit_exempt=rate_limit_exempt))
    proc = processes.spawn("nginx", [nginx_binary(), "-c", str(conf), "-p", str(run_dir)],
                           f"http://127.0.0.1:{port}/nginx-health", {}, run_dir / "log")
    try:
        if not processes.wait_healthy(proc.health_url, 30, proc.popen):
            raise RuntimeError((run_dir / "log" / "nginx.log").read_text(errors="replace"))
        yield Front(f"http://127.0.0.1:{port}", run_dir, f"http://127.0.0.1:{api_port}")
    finally:
        processes.stop([proc])


def client_from(address: str, timeout: float = 60, cookies: bool = False) -> aiohttp.ClientSession:
    """A session whose connections leave from ``address`` (any 127.x.y.z works on Linux's loopback)."""
    jar = aiohttp.CookieJar(unsafe=True) if cookies else aiohttp.DummyCookieJar()
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0), force_close=True),
                                 timeout=aiohttp.ClientTimeout(total=timeout), cookie_jar=jar)


async def status_of(session: aiohttp.ClientSession, method: str, url: str, **kw) -> int:
    async with session.request(method, url, **kw) as resp:
        await resp.read()
        return resp.status


def last_lines(text: str, n: int = 40) -> str:
    return "\n".join(text.splitlines()[-n:])


def assert_absent(haystack: str, *needles: Optional[str]) -> None:
    for needle in needles:
        if needle:
            assert needle not in haystack, f"{needle!r} found in:\n{last_lines(haystack)}"
