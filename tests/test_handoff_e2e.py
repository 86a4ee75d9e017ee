"""The whole handoff against the running stack: a resident on socket.io asks for a person, a staff member
claims and replies through the console API, the resident's next message reaches the ticket while Huimin
stays silent, and after the hand-back Huimin answers again."""
from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
import pytest

from bot.handoff.wording import response_text
from tests.handoff_helpers import Resident, Staff, ensure_staff_user

pytestmark = [pytest.mark.stack, pytest.mark.timeout(1800)]
PASSWORD = "e2e-password-1"


async def rasa_tracker(stack, conversation_id: str) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.rasa_url}/conversations/{conversation_id}/tracker",
                            params={"token": stack.token}, timeout=aiohttp.ClientTimeout(total=60)) as r:
            assert r.status == 200, await r.text()
            return await r.json()


@contextlib.asynccontextmanager
async def handed_back(stack):
    """The whole handoff up to the hand-back, checked step by step; yields (resident, staff, ticket)."""
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
        # Rasa ran action_handback: the resident reads the domain's hand-back words, the conversation runs again.
        handback = response_text("utter_handback").strip()
        await resident.wait_for(lambda m: (m.get("text") or "").strip() == handback, after=mark)
        tracker = await rasa_tracker(stack, resident.session_id)
        assert tracker["paused"] is False
        assert [e["event"] for e in tracker["events"] if e["event"] in ("pause", "resume")][-1] == "resume"

        yield resident, staff, ticket
    finally:
        await resident.close()
        await staff.close()


async def test_resident_talks_to_staff_and_back_to_huimin(stack):
    async with handed_back(stack) as (resident, staff, ticket):
        closed = await staff.post(f"/api/tickets/{ticket['id']}/close", {"outcome": "已说明低保申请流程"})
        assert closed["ticket"]["status"] == "closed"


async def test_huimin_answers_the_first_message_after_the_hand_back(stack):
    async with handed_back(stack) as (resident, staff, ticket):
        mark = len(resident.received)
        await resident.say("你好")
        reply = await resident.wait_for(lambda m: bool(m.get("text")), after=mark)
        assert reply["text"].strip() == response_text("utter_greet").strip(), resident.texts(mark)
