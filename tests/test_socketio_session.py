"""The socket.io channel's session binding (bot/channels/socketio.py) against the running stack: the server
issues the session id, a socket speaks only in the session it was granted, a forged or foreign id is never
granted (a new one is issued instead), an issued one is granted again (a page reload), and answers reach only
the socket's own session."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest

from bot.channels.chat_session import is_signed
from tests.handoff_helpers import Resident

pytestmark = [pytest.mark.stack, pytest.mark.timeout(1800)]


async def user_texts(stack, conversation_id: str):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.rasa_url}/conversations/{conversation_id}/tracker",
                            params={"token": stack.token}, timeout=aiohttp.ClientTimeout(total=60)) as r:
            assert r.status == 200, await r.text()
            return [e.get("text") for e in (await r.json()).get("events") or [] if e.get("event") == "user"]


async def connected(stack, requested: str = "") -> Resident:
    resident = Resident(stack.rasa_url)
    if requested:
        resident.session_id = requested
    await resident.connect()
    return resident


async def close(*residents: Resident) -> None:
    # Together: each disconnect waits for its pending long-poll request to end.
    await asyncio.gather(*(r.close() for r in residents))


async def test_a_socket_speaks_only_in_the_session_it_was_granted(stack):
    a, b = await asyncio.gather(connected(stack), connected(stack))
    try:
        assert is_signed(a.session_id) and is_signed(b.session_id) and a.session_id != b.session_id
        # B writes into A's session: ignored. B's own next message is answered — the server has dealt with
        # both — and neither conversation holds the intruding text.
        await b.sio.emit("user_uttered", {"message": "我替别人说一句", "session_id": a.session_id})
        await b.say("你好")
        await b.wait_for(lambda m: bool(m.get("text")))
        assert await user_texts(stack, a.session_id) == []
        assert await user_texts(stack, b.session_id) == ["你好"]
        assert a.received == []

        # A's conversation answers A only: after A's answer, B's next answer is B's, and B got nothing between.
        mark = len(b.received)
        await a.say("谢谢")
        answer = await a.wait_for(lambda m: bool(m.get("text")))
        await b.say("再见")
        await b.wait_for(lambda m: bool(m.get("text")), after=mark)
        assert answer["text"] not in b.texts(mark)
        assert await user_texts(stack, a.session_id) == ["谢谢"]
        assert await user_texts(stack, b.session_id) == ["你好", "再见"]
    finally:
        await close(a, b)


async def test_a_forged_or_foreign_session_id_is_never_granted(stack):
    first = await connected(stack)
    others = []
    try:
        await first.say("你好")
        await first.wait_for(lambda m: bool(m.get("text")))
        issued = first.session_id
        tampered = issued[:-1] + ("A" if issued[-1] != "A" else "B")
        refused = [tampered, "plain-session-0001", "wx:oABCDEFGHIJKLMNOPQRSTUVWXYZ", "rest:someone", "x" * 200]
        # The issued id is granted again to a page that kept it (a reload); the others never are.
        others = await asyncio.gather(connected(stack, issued), *(connected(stack, r) for r in refused))
        assert others[0].session_id == issued
        for requested, resident in zip(refused, others[1:]):
            assert resident.session_id not in (requested, issued), requested
            assert is_signed(resident.session_id)
    finally:
        await close(first, *others)
