"""Issue 12 item 3: typing someone's mobile number shows nothing of their bookings. Bookings made in another
conversation are listed, cancelled or moved only after a one-time code sent to that phone (bot/sms; the
development sender writes it to the action server's log) is typed back, in the same conversation, with
attempts limited. Through the running stack."""
from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
import uuid

import pytest

from tests.security.victims import plant_booking


def _say(stack, sender: str, text: str) -> str:
    req = urllib.request.Request(f"{stack.rasa_url}/webhooks/rest/webhook",
                                 data=json.dumps({"sender": sender, "message": text}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=180) as resp:
        return "\n".join(r.get("text") or "" for r in json.loads(resp.read()))


def _codes_sent(stack, masked_phone: str):
    """The codes the development SMS sender logged for this phone, oldest first."""
    pattern = re.compile(re.escape(masked_phone) + r": .*?验证码是(\d{6})")
    return pattern.findall(stack.logs())


def _wait_for_code(stack, masked_phone: str, count: int) -> str:
    for _ in range(50):
        codes = _codes_sent(stack, masked_phone)
        if len(codes) >= count:
            return codes[count - 1]
        time.sleep(0.2)
    raise AssertionError(f"no code logged for {masked_phone}")


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


@pytest.mark.stack
def test_the_owner_proves_the_phone_with_the_code_then_sees_and_cancels(stack):
    phone, masked = "13912340001", "139****0001"
    code_of_booking = asyncio.run(plant_booking(stack.database_url, f"wx:oOwner{uuid.uuid4().hex[:8]}", phone))
    me = f"owner-{uuid.uuid4().hex[:8]}"
    assert "手机号" in _say(stack, me, "我的预约")
    said = _say(stack, me, phone)
    assert "验证码" in said and masked in said and code_of_booking not in said, said
    code = _wait_for_code(stack, masked, 1)
    said = _say(stack, me, _wrong(code))
    assert "验证码不对" in said and code_of_booking not in said, said
    said = _say(stack, me, code)
    assert code_of_booking in said, said
    said = _say(stack, me, f"取消预约 {code_of_booking}")
    assert code_of_booking in said and "验证码" not in said, said
    assert "已经取消" in _say(stack, me, "/affirm")


@pytest.mark.stack
def test_a_stranger_with_the_number_learns_nothing_and_is_stopped(stack):
    from bot.booking import bookings

    phone, masked = "13912340002", "139****0002"
    victim_booking = asyncio.run(plant_booking(stack.database_url, f"wx:oVictim{uuid.uuid4().hex[:8]}", phone))
    stranger = f"stranger-{uuid.uuid4().hex[:8]}"
    replies = [_say(stack, stranger, "我的预约"), _say(stack, stranger, phone)]
    assert "验证码" in replies[-1]
    code = _wait_for_code(stack, masked, 1)
    # The owner's code, sent for another conversation, is not valid in this one.
    owner = f"owner-{uuid.uuid4().hex[:8]}"
    _say(stack, owner, "我的预约")
    _say(stack, owner, phone)
    owners_code = _wait_for_code(stack, masked, 2)
    guesses = [g for g in (owners_code, "000000", "123456", "111111", "654321", "999999") if g != code][:5]
    for guess in guesses[:-1]:
        replies.append(_say(stack, stranger, guess))
        assert "验证码不对" in replies[-1], replies[-1]
    replies.append(_say(stack, stranger, guesses[-1]))
    assert "验证码错的次数多了" in replies[-1], replies[-1]
    # Locked now: even the right code does not open it, and asking by the booking's own code finds nothing.
    replies.append(_say(stack, stranger, "我的预约"))
    replies.append(_say(stack, stranger, phone))
    replies.append(_say(stack, stranger, code))
    replies.append(_say(stack, stranger, f"取消预约 {victim_booking}"))
    assert "没有找到" in replies[-1], replies[-1]  # the same words as for a code that does not exist
    replies.append(_say(stack, stranger, "/affirm"))
    text = "\n".join(replies)
    assert "白下路" not in text and "探访" not in text and "已经取消" not in text, text
    assert asyncio.run(bookings.get(victim_booking, stack.database_url)).status == "booked"


# ------------------------------------------------------------------ the rules, against a real database

class _Recorder:
    def __init__(self):
        self.sent = []

    async def send(self, phone, text):
        self.sent.append((phone, text))


@pytest.fixture
def sms(monkeypatch):
    from bot import sms as sms_module

    recorder = _Recorder()
    monkeypatch.setattr(sms_module, "get_sender", lambda: recorder)
    return recorder


async def test_codes_are_per_conversation_and_limited(db_url, sms):
    from bot.applications import verification
    from bot.booking import phone_check
    from bot.booking.understand import PHONE_PURPOSE
    from bot.privacy import keyed_hash

    phone = "13912340003"
    phone_hash = keyed_hash(phone, PHONE_PURPOSE)
    assert (await phone_check.send_code("rest:a", phone, phone_hash)).outcome == phone_check.SENT
    code = re.search(r"验证码是(\d{6})", sms.sent[-1][1]).group(1)
    assert phone == sms.sent[-1][0]
    # Another conversation cannot use it; the one that asked can, and is then trusted for this phone only.
    assert (await phone_check.check_code("rest:b", phone_hash, code)).outcome == verification.FAILED
    assert not await phone_check.proven("rest:a", phone_hash)
    assert (await phone_check.check_code("rest:a", phone_hash, code)).outcome == verification.OK
    assert await phone_check.proven("rest:a", phone_hash)
    assert not await phone_check.proven("rest:b", phone_hash)
    assert not await phone_check.proven("rest:a", keyed_hash("13912340004", PHONE_PURPOSE))
    # At most 5 codes to one phone in 30 minutes, whoever asks.
    outcomes = [(await phone_check.send_code(f"rest:c{i}", phone, phone_hash)).outcome for i in range(5)]
    assert outcomes == [phone_check.SENT] * 4 + [phone_check.REFUSED]
    assert len(sms.sent) == 5


async def test_five_wrong_codes_lock_the_phone(db_url, sms):
    from bot.applications import verification
    from bot.booking import phone_check
    from bot.booking.understand import PHONE_PURPOSE
    from bot.privacy import keyed_hash

    phone = "13912340005"
    phone_hash = keyed_hash(phone, PHONE_PURPOSE)
    await phone_check.send_code("rest:x", phone, phone_hash)
    code = re.search(r"验证码是(\d{6})", sms.sent[-1][1]).group(1)
    results = [await phone_check.check_code("rest:x", phone_hash, _wrong(code)) for _ in range(5)]
    assert [r.outcome for r in results] == [verification.FAILED] * 5 and results[-1].now_locked
    assert (await phone_check.check_code("rest:x", phone_hash, code)).outcome == verification.LOCKED
    assert (await phone_check.send_code("rest:x", phone, phone_hash)).outcome == phone_check.LOCKED
    assert not await phone_check.proven("rest:x", phone_hash)
