"""Issue 12 item 13: importing application records (verification factors included) needs the importer role or
admin; every staff look-up of an application is in the audit log."""
from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from bot.settings import ROOT

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]
PASSWORD = "import-password-1"
DEMO = ROOT / "bot" / "applications" / "demo" / "applications_demo.csv"


async def _session(console: str, name: str):
    s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with s.get(f"{console}/api/auth/csrf") as r:
        token = (await r.json())["csrf_token"]
    async with s.post(f"{console}/api/auth/login", json={"username": name, "password": PASSWORD},
                      headers={"X-CSRF-Token": token}) as r:
        assert r.status == 200, await r.text()
        s.csrf = (await r.json())["csrf_token"]
    return s


async def _import(s, console: str, csv: bytes) -> int:
    form = aiohttp.FormData()
    # A staff member "correcting" a record: the applicant's verification factors rewritten.
    form.add_field("file", csv, filename="records.csv", content_type="text/csv")
    async with s.post(f"{console}/api/applications/import", data=form, headers={"X-CSRF-Token": s.csrf}) as r:
        await r.read()
        return r.status


def test_import_needs_the_importer_role_and_lookups_are_audited(stack):
    from bot.console.auth import audit_entries, create_user

    tag = uuid.uuid4().hex[:6]
    names = {role: f"{role}-{tag}" for role in ("staff", "editor", "importer", "admin")}

    async def run():
        for role, name in names.items():
            await create_user(name, role, PASSWORD, stack.database_url)
        csv = DEMO.read_bytes()
        sessions = {role: await _session(stack.console_url, name) for role, name in names.items()}
        try:
            assert await _import(sessions["staff"], stack.console_url, csv) == 403
            assert await _import(sessions["editor"], stack.console_url, csv) == 403
            assert await _import(sessions["importer"], stack.console_url, csv) == 200
            assert await _import(sessions["admin"], stack.console_url, csv) == 200

            async with sessions["staff"].get(f"{stack.console_url}/api/applications/MZ2026000102") as r:
                assert r.status == 200
            async with sessions["staff"].get(f"{stack.console_url}/api/applications/MZ2026999977") as r:
                assert r.status == 404
        finally:
            for s in sessions.values():
                await s.close()
        seen = await audit_entries(target="application:MZ2026000102", url=stack.database_url)
        assert any(e["user"] == names["staff"] and e["action"] == "application_viewed" for e in seen), seen
        missing = await audit_entries(target="application:MZ2026999977", url=stack.database_url)
        assert any(e["user"] == names["staff"] for e in missing), missing

    asyncio.run(run())
