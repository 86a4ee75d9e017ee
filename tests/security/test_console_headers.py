"""Issue 12 item 15: the login page's redirect cannot leave the console, the live event stream ends when its
session does, and every console page carries a Content-Security-Policy that forbids framing."""
from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import pytest

from tests.conftest import CHROMIUM_ARGS
from tests.handoff_helpers import ensure_staff_user

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]
PASSWORD = "headers-password-1"


async def _login(session: aiohttp.ClientSession, console: str, name: str) -> str:
    async with session.get(f"{console}/api/auth/csrf") as r:
        token = (await r.json())["csrf_token"]
    async with session.post(f"{console}/api/auth/login", json={"username": name, "password": PASSWORD},
                            headers={"X-CSRF-Token": token}) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["csrf_token"]


def test_console_pages_carry_csp_and_refuse_framing(stack):
    name = f"hdr-{uuid.uuid4().hex[:6]}"

    async def run():
        await ensure_staff_user(stack.database_url, name, PASSWORD)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            await _login(s, stack.console_url, name)
            for path in ("/login", "/staff", "/staff/bookings", "/chat", "/api/auth/me"):
                async with s.get(stack.console_url + path) as r:
                    assert r.status == 200, path
                    csp = r.headers.get("Content-Security-Policy", "")
                    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, (path, csp)
                    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
                    assert r.headers.get("X-Frame-Options") == "DENY"
                    assert r.headers.get("X-Content-Type-Options") == "nosniff"

    asyncio.run(run())


def test_live_stream_ends_after_logout(stack):
    from bot.console import live

    name = f"live-{uuid.uuid4().hex[:6]}"

    async def run():
        await ensure_staff_user(stack.database_url, name, PASSWORD)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                         timeout=aiohttp.ClientTimeout(total=120)) as s:
            csrf = await _login(s, stack.console_url, name)
            async with s.get(f"{stack.console_url}/api/events") as stream:
                assert stream.status == 200
                await stream.content.readuntil(b"\n\n")  # the stream is open
                async with s.post(f"{stack.console_url}/api/auth/logout", headers={"X-CSRF-Token": csrf}) as r:
                    assert r.status == 200
                logged_out = time.monotonic()
                rest = await asyncio.wait_for(stream.content.read(), timeout=live.RECHECK_SECONDS * 3)
                ended = time.monotonic() - logged_out
        assert b"event: logout" in rest
        assert ended <= live.RECHECK_SECONDS * 2 + 1

    asyncio.run(run())


@pytest.mark.browser
def test_login_redirect_stays_on_the_console(stack, chromium_path):
    from playwright.sync_api import sync_playwright

    name = f"next-{uuid.uuid4().hex[:6]}"
    asyncio.run(ensure_staff_user(stack.database_url, name, PASSWORD))
    violations = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            for evil in ("/\\evil.example", "//evil.example", "/\\/evil.example", "https://evil.example/",
                         "/%5Cevil.example", " /\\evil.example"):
                page = browser.new_page()
                page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text
                        else None)
                page.goto(f"{stack.console_url}/login?next={evil}")
                page.fill("#username", name)
                page.fill("#password", PASSWORD)
                page.click("#login-button")
                page.wait_for_function("() => !location.pathname.startsWith('/login')", timeout=15000)
                assert page.url.startswith(stack.console_url + "/"), (evil, page.url)
                assert "evil.example" not in page.url.split("/", 3)[2], (evil, page.url)
                page.close()
        finally:
            browser.close()
    assert not violations, violations
