"""The whole handoff against the running stack: a resident on socket.io asks for a person, a staff member
claims and replies through the console API, the resident's next message reaches the ticket while Huimin
stays silent, and after the hand-back Huimin answers again."""
from __future__ import annotations

import asyncio
import time

import pytest

from tests.handoff_helpers import Resident, Staff, ensure_staff_user

pytestmark = [pytest.mark.stack, pytest.mark.timeout(1800)]
PASSWORD = "e2e-password-1"


async def test_resident_talks_to_staff_and_back_to_huimin(stack):
    await ensure_staff_user(stack.database_url, "e2e_wang", PASSWORD)
    resident = Resident(stack.rasa_url)
    staff = Staff(stack.console_url)
    try:
        await resident.connect()
        await resident.say("转人工")
        await resident.wait_for(lambda m: "工作人员" in (m.get("text") or ""))

        await staff.login("e2e_wang", PASSWORD)
        ticket = await staff.wait_ticket(resident.session_id)
        assert ticket["reason"] == "requested" and ticket["channel"] == "socketio"
        assert "转人工" in ticket["summary"]
        await staff.post(f"/api/tickets/{ticket['id']}/claim")

        mark = len(resident.received)
        body = await staff.post(f"/api/tickets/{ticket['id']}/messages", {"text": "您好，我是社区的小王，请说。"},
                                expect=201)
        assert body["message"]["status"] == "delivered"
        await resident.wait_for(lambda m: m.get("text") == "您好，我是社区的小王，请说。", after=mark)

        mark = len(resident.received)
        await resident.say("我想问问低保怎么申请")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            detail = await staff.get(f"/api/tickets/{ticket['id']}")
            if any(e["who"] == "resident" and e["text"] == "我想问问低保怎么申请" for e in detail["transcript"]):
                break
            await asyncio.sleep(0.3)
        else:
            raise AssertionError("the resident's message did not reach the ticket")
        assert detail["paused"] is True
        # The queue shows it too (the console's tracker watcher).
        deadline = time.monotonic() + 10
        wanted = "我想问问低保怎么申请"
        while (await staff.get(f"/api/tickets/{ticket['id']}"))["ticket"]["last_resident_text"] != wanted:
            assert time.monotonic() < deadline, "watcher did not record the resident's message"
            await asyncio.sleep(0.3)
        # Huimin stayed silent: the resident got only the acknowledgement that staff will see the message.
        from bot.handoff.wording import text as wording_text
        assert resident.texts(mark) == [wording_text("received")]
        assert resident.received[mark].get("kind") == "received"

        await staff.post(f"/api/tickets/{ticket['id']}/handback")
        await resident.wait_for(lambda m: "惠民助手继续" in (m.get("text") or ""), after=mark)

        mark = len(resident.received)
        await resident.say("你好")
        await resident.wait_for(lambda m: bool(m.get("text")), after=mark)

        closed = await staff.post(f"/api/tickets/{ticket['id']}/close", {"outcome": "已说明低保申请流程"})
        assert closed["ticket"]["status"] == "closed"
    finally:
        await resident.close()
        await staff.close()
