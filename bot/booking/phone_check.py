"""Proving, with a one-time code sent by SMS, that the resident holds the mobile their bookings are under.

Bookings made in another conversation are shown, cancelled or moved only after this conversation has proven the
mobile: the code goes to that phone (bot/sms), the resident types it back. Wrong codes are limited like the
status lookup's second factor (bot/applications/verification.py: 5 per phone in 30 minutes, 5 per conversation,
then 30 minutes' lock-out), and so are the messages sent (5 per phone in 30 minutes, 5 per conversation a day),
so nobody can guess a code or flood a phone. The proof is the server's own record (an ``ok`` verification
attempt for ``phone:<hash>``), valid for 30 minutes; slots only say which phone was given.

The code is not stored: it is an HMAC of the conversation, the phone and a 10-minute period under the
installation's secret, so it is valid for 10–20 minutes and only in the conversation that asked for it.
"""
from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from bot.applications import verification
from bot.clock import naive_utcnow
from bot.privacy import to_halfwidth
from bot.settings import get_settings

logger = logging.getLogger(__name__)

CODE_DIGITS = 6
PERIOD_SECONDS = 600
CODE_MINUTES = 10
PROOF_WINDOW = timedelta(minutes=30)
FACTOR = "sms_code"
SCOPE = "sms"  # the conversation's own counter for codes (separate from status lookups)
_CODE_RE = re.compile(r"\s*(\d{6})\s*")

SENT, REFUSED, FAILED, LOCKED = "sent", "refused", "failed", "locked"


def subject(phone_hash: str) -> str:
    # Fits the audit table's 40 characters; 34 hex digits of an HMAC identify the phone well enough.
    return "phone:" + phone_hash[:34]


def _period(now: datetime) -> int:
    return int(now.timestamp()) // PERIOD_SECONDS


def code_for(conversation_id: str, phone_hash: str, period: int) -> str:
    key = get_settings().hash_key.encode()
    digest = hmac.new(key, f"booking-code|{conversation_id}|{phone_hash}|{period}".encode(), "sha256").digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10 ** CODE_DIGITS:0{CODE_DIGITS}d}"


def code_in(text: str) -> Optional[str]:
    """The code, when the whole message is six digits (full-width digits and spaces allowed)."""
    m = _CODE_RE.fullmatch(to_halfwidth(text or ""))
    return m.group(1) if m else None


async def proven(conversation_id: str, phone_hash: Optional[str], url: Optional[str] = None) -> bool:
    if not phone_hash:
        return False
    return await verification.verified_within(subject(phone_hash), conversation_id, PROOF_WINDOW, url=url)


@dataclass
class Sending:
    outcome: str  # sent | refused (too many codes) | failed (the gateway) | locked (too many wrong codes)
    locked_until: Optional[datetime] = None


async def send_code(conversation_id: str, phone: str, phone_hash: str, now: Optional[datetime] = None,
                    url: Optional[str] = None) -> Sending:
    from bot.sms import SmsError, get_sender, texts

    now = now or naive_utcnow(whole_seconds=True)
    # No new code while wrong ones have locked this phone or conversation.
    until = await verification.lock_state(subject(phone_hash), conversation_id, now, url, SCOPE)
    if until is not None:
        return Sending(LOCKED, until)
    if not await verification.take_quota("sms-phone:" + phone_hash, verification.APP_WINDOW, now, url) or \
            not await verification.take_quota(verification.conversation_key(conversation_id, "sms-sent"),
                                              verification.CONVERSATION_WINDOW, now, url):
        return Sending(REFUSED)
    code = code_for(conversation_id, phone_hash, _period(now))
    try:
        await get_sender().send(phone, texts()["booking_code"].format(code=code, minutes=CODE_MINUTES))
    except SmsError:
        logger.exception("the one-time code could not be sent")
        return Sending(FAILED)
    return Sending(SENT)


async def check_code(conversation_id: str, phone_hash: str, given: str, now: Optional[datetime] = None,
                     url: Optional[str] = None) -> verification.Verification:
    now = now or naive_utcnow(whole_seconds=True)

    async def check() -> bool:
        period = _period(now)
        expected = [code_for(conversation_id, phone_hash, p) for p in (period, period - 1)]
        # Both compared, always: the time taken says nothing about which one matched.
        return any([hmac.compare_digest(given, e) for e in expected])

    return await verification.guarded_attempt(subject(phone_hash), conversation_id, FACTOR, check, now=now,
                                              url=url, scope=SCOPE)
