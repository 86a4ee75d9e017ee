"""Issue 12 item 12: the call-back number a resident leaves for staff can be seen — encrypted at rest, masked
in lists, revealed with an audit record, gone after its retention period."""
from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid

import pytest
import sqlalchemy as sa

from tests.handoff_helpers import Resident, Staff, ensure_staff_user

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]
PASSWORD = "callback-password-1"


def test_call_back_number_is_kept_encrypted_and_revealed_with_audit(stack):
    from bot.console.auth import audit_entries
    from bot.db import session_scope
    from bot.handoff.models import Callback
    from bot.retention.policies import POLICIES
    from bot.retention.run import apply_policies

    name = f"cb-{uuid.uuid4().hex[:6]}"
    number = "139" + str(uuid.uuid4().int)[:8]

    async def run():
        await ensure_staff_user(stack.database_url, name, PASSWORD)
        resident, staff = Resident(stack.rasa_url), Staff(stack.console_url)
        await resident.connect()
        await staff.login(name, PASSWORD)
        try:
            await resident.say("转人工")
            ticket = await staff.wait_ticket(resident.session_id, timeout=60)
            await resident.say(f"我的手机是 {number[:3]} {number[3:7]} {number[7:]}，麻烦回个电话")
            deadline, listed = time.monotonic() + 60, []
            while not listed and time.monotonic() < deadline:
                listed = (await staff.get(f"/api/tickets/{ticket['id']}/callbacks"))["callbacks"]
                await asyncio.sleep(0.5)
            assert len(listed) == 1, listed
            assert listed[0]["masked"] == number[:3] + "****" + number[-4:]
            detail = await staff.get(f"/api/tickets/{ticket['id']}")
            assert number not in str(detail) and number not in str(listed)

            revealed = await staff.post(f"/api/tickets/{ticket['id']}/callbacks/{listed[0]['id']}/reveal")
            assert revealed["number"] == number
            await staff.post(f"/api/tickets/{ticket['id']}/callbacks/999999/reveal", expect=404)
        finally:
            await resident.close()
            await staff.http.close()
        entries = await audit_entries(target=f"ticket:{ticket['id']}", url=stack.database_url)
        assert any(e["user"] == name and e["action"] == "reveal" and "call-back" in (e["detail"] or "")
                   for e in entries), entries
        async with session_scope(stack.database_url) as s:
            stored = (await s.execute(sa.select(Callback.ciphertext, Callback.masked)
                                      .where(Callback.ticket_id == ticket["id"]))).all()
        assert stored and all(number not in c and number[3:7] not in c for c, _ in stored)
        return ticket

    ticket = asyncio.run(run())
    policy = [p for p in POLICIES if p.table == "handoff_callbacks"]
    assert policy and policy[0].days() == 30
    later = dt.datetime.utcnow() + dt.timedelta(days=31)  # naive UTC, as apply_policies expects
    counts = apply_policies(stack.database_url, now=later, policies=policy)
    assert sum(counts.values()) >= 1, counts

    async def gone():
        async with session_scope(stack.database_url) as s:
            return (await s.execute(sa.select(sa.func.count()).select_from(Callback)
                                    .where(Callback.ticket_id == ticket["id"]))).scalar()
    assert asyncio.run(gone()) == 0
