"""Demo console accounts for `make run`: one per role, created once, with a random password written to
var/demo_accounts.txt (readable by the operator only) — never a fixed default password."""
from __future__ import annotations

import asyncio
import os
import secrets
from typing import Optional

import sqlalchemy as sa

from bot.settings import ROOT

DEMO_USERS = (("demo-staff", "staff"), ("demo-editor", "editor"), ("demo-admin", "admin"))
ACCOUNTS_FILE = ROOT / "var" / "demo_accounts.txt"


async def _seed(url: Optional[str]) -> Optional[str]:
    from bot.console.auth import create_user
    from bot.console.models import User
    from bot.db import session_scope

    async with session_scope(url) as s:
        if (await s.execute(sa.select(sa.func.count()).select_from(User))).scalar():
            return None  # accounts exist: never add demo ones beside real ones
    password = secrets.token_urlsafe(9)
    for name, role in DEMO_USERS:
        await create_user(name, role, password, url)
    ACCOUNTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    ACCOUNTS_FILE.write_text("".join(f"{name} ({role}): {password}\n" for name, role in DEMO_USERS))
    os.chmod(ACCOUNTS_FILE, 0o600)
    return f"console accounts {', '.join(n for n, _ in DEMO_USERS)}; password in {ACCOUNTS_FILE.relative_to(ROOT)}"


def seed_demo(url: Optional[str] = None) -> Optional[str]:
    async def run() -> Optional[str]:
        from bot.db import dispose_engines

        try:
            return await _seed(url)
        finally:
            await dispose_engines()  # engines are bound to this event loop

    return asyncio.run(run())
