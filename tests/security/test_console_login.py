"""Issue 12 item 9: the console behind the proxy — Secure cookies when our proxy says HTTPS, argon2 off the
event loop, one answer for unknown and locked accounts, and no way for a stranger to lock a staff account."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from bot.proxy import client_address, forwarded_https
from tests.security.console_helpers import client_from

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]
PASSWORD = "a-staff-password"


def _new_staff(stack, role: str = "staff") -> str:
    from bot.console.auth import create_user

    name = f"sec-{uuid.uuid4().hex[:8]}"
    asyncio.run(create_user(name, role, PASSWORD, stack.database_url))
    return name


async def _login(session, console: str, name: str, password: str, headers=None):
    async with session.get(f"{console}/api/auth/csrf") as r:
        token = (await r.json())["csrf_token"]
    async with session.post(f"{console}/api/auth/login", json={"username": name, "password": password},
                            headers={"X-CSRF-Token": token, **(headers or {})}) as r:
        return r.status, await r.json(), r.headers.getall("Set-Cookie", [])


def test_cookies_are_secure_when_our_proxy_says_https(stack):
    name = _new_staff(stack)

    async def run():
        async with client_from("127.0.0.1", cookies=True) as s:
            status, _, cookies = await _login(s, stack.console_url, name, PASSWORD,
                                              headers={"X-Forwarded-Proto": "https"})
        assert status == 200
        session_cookie = [c for c in cookies if c.startswith("huimin_session=")]
        assert session_cookie and "Secure" in session_cookie[0], cookies
        async with client_from("127.0.0.1", cookies=True) as s:
            status, _, cookies = await _login(s, stack.console_url, name, PASSWORD)
        assert status == 200 and not any("Secure" in c for c in cookies if c.startswith("huimin_session="))

    asyncio.run(run())
    # From anyone but our proxy the headers are not believed (the console listens on loopback here, so the
    # untrusted peer is checked on the rule itself).
    assert not forwarded_https("203.0.113.7", "https") and forwarded_https("127.0.0.1", "https")
    assert client_address("203.0.113.7", "10.9.9.9") == "203.0.113.7"
    assert client_address("127.0.0.1", "10.9.9.9, 203.0.113.7") == "203.0.113.7"


def test_twenty_parallel_logins_do_not_stall_other_staff_pages(stack):
    name = _new_staff(stack)

    async def run():
        async with client_from("127.0.0.1", cookies=True) as staff:
            assert (await _login(staff, stack.console_url, name, PASSWORD))[0] == 200
            stop, gaps = asyncio.Event(), []

            async def staff_page():
                while not stop.is_set():
                    started = time.perf_counter()
                    async with staff.get(f"{stack.console_url}/api/auth/me") as r:
                        assert r.status == 200
                        await r.read()
                    gaps.append(time.perf_counter() - started)
                    await asyncio.sleep(0.02)

            async def one_login(i):
                async with client_from("127.0.0.1", cookies=True) as s:
                    return (await _login(s, stack.console_url, name, PASSWORD))[0]

            watcher = asyncio.create_task(staff_page())
            await asyncio.sleep(0.3)
            started = time.perf_counter()
            codes = await asyncio.gather(*(one_login(i) for i in range(20)))
            took = time.perf_counter() - started
            stop.set()
            await watcher
        assert codes == [200] * 20
        gaps.sort()
        # 20 argon2 checks take seconds of CPU; a staff page answered meanwhile never waited for them.
        assert took > 0.5, f"20 logins took only {took:.2f}s: the test would not show a stall"
        assert gaps[-1] < 0.5, f"a staff page waited {gaps[-1]:.2f}s while 20 logins ran ({took:.2f}s)"

    asyncio.run(run())


def test_unknown_and_locked_accounts_get_the_same_answer(stack):
    name = _new_staff(stack)

    async def run():
        async with client_from("127.0.0.1", cookies=True) as s:
            for _ in range(6):
                locked = await _login(s, stack.console_url, name, "wrong-password",
                                      headers={"X-Forwarded-For": "203.0.113.20"})
            unknown = await _login(s, stack.console_url, f"nobody-{uuid.uuid4().hex[:6]}", "wrong-password",
                                   headers={"X-Forwarded-For": "203.0.113.20"})
            right_but_locked = await _login(s, stack.console_url, name, PASSWORD,
                                            headers={"X-Forwarded-For": "203.0.113.20"})
        assert locked[:2] == unknown[:2] == right_but_locked[:2], (locked, unknown, right_but_locked)
        assert locked[0] == 401

    asyncio.run(run())


def test_a_stranger_cannot_lock_a_staff_member_out(stack):
    """Guesses from one address lock that address out of that account (longer each time), not the account."""
    from bot.console import auth

    name = _new_staff(stack)

    async def run():
        async with client_from("127.0.0.1", cookies=True) as stranger:
            for _ in range(auth.MAX_FAILURES * 3):
                status, _, _ = await _login(stranger, stack.console_url, name, "guess-guess",
                                            headers={"X-Forwarded-For": "203.0.113.66"})
                assert status == 401
            assert (await _login(stranger, stack.console_url, name, PASSWORD,
                                 headers={"X-Forwarded-For": "203.0.113.66"}))[0] == 401
        async with client_from("127.0.0.1", cookies=True) as staff:
            status, body, _ = await _login(staff, stack.console_url, name, PASSWORD,
                                           headers={"X-Forwarded-For": "198.51.100.4"})
        assert status == 200, body

    async def lock_of_stranger():
        import sqlalchemy as sa

        from bot.console.models import LoginFailure
        from bot.db import session_scope
        async with session_scope(stack.database_url) as s:
            row = (await s.execute(sa.select(LoginFailure).where(LoginFailure.user_name == name,
                                                                 LoginFailure.locked_until.isnot(None)))).scalar_one()
            return row.key, row.strikes, auth._utc(row.locked_until) - auth.utcnow()

    async def expire(key):
        import datetime as dt

        import sqlalchemy as sa

        from bot.console.models import LoginFailure
        from bot.db import session_scope
        async with session_scope(stack.database_url) as s:
            await s.execute(sa.update(LoginFailure).where(LoginFailure.key == key)
                            .values(locked_until=auth.utcnow() - dt.timedelta(seconds=1)))

    asyncio.run(run())
    key, strikes, left = asyncio.run(lock_of_stranger())
    assert strikes == 1 and 14 * 60 < left.total_seconds() <= 15 * 60
    # Back-off: when the lock has run out and the guessing goes on, the next lock lasts twice as long.
    asyncio.run(expire(key))
    asyncio.run(run())
    key2, strikes, left = asyncio.run(lock_of_stranger())
    assert key2 == key and strikes == 2 and 29 * 60 < left.total_seconds() <= 30 * 60
    assert [auth.lock_minutes(n) for n in (1, 2, 3)] == [15, 30, 60] and auth.lock_minutes(20) == 24 * 60
