"""Call-back numbers a resident leaves in a conversation handed to a person (after hours: "leave your mobile
number and we will call you back").

The tracker store masks every mobile number before it is written (bot/rasa/tracker_store.py), so staff could never
call back. Here, and only for a conversation that is paused with an open ticket, the number is kept apart:
encrypted (Fernet, key derived from HUIMIN_SECRET_KEY), shown masked, revealed in full only through the console
with an audit record, and deleted by the retention run (bot/retention/policies.py, HUIMIN_RETENTION_CALLBACK_DAYS,
30 days unless set).
"""
from __future__ import annotations

import logging
from typing import Iterable, List, Optional

import sqlalchemy as sa

from bot.db import session_scope
from bot.handoff import tickets
from bot.handoff.models import Callback
from bot.privacy import MOBILE_RE, decrypt, encrypt, mask_phone

log = logging.getLogger(__name__)

# The key's purpose (bot.privacy.encrypt): numbers stored under it stay readable.
PURPOSE = "huimin.handoff.callback"


def numbers_in(text: str) -> List[str]:
    return ["".join(m.groups()) for m in MOBILE_RE.finditer(text or "")]


async def keep(conversation_id: str, texts: Iterable[str], url: Optional[str] = None) -> int:
    """Store the mobile numbers in ``texts`` for the conversation's open ticket; returns how many were new."""
    found = [n for t in texts for n in numbers_in(t)]
    if not found:
        return 0
    ticket = await tickets.open_ticket_for(conversation_id, url)
    if ticket is None:
        return 0
    now = tickets.utcnow()
    async with session_scope(url) as s:
        known = {decrypt(c, PURPOSE) for (c,) in await s.execute(
            sa.select(Callback.ciphertext).where(Callback.ticket_id == ticket.id))}
        new = [n for n in dict.fromkeys(found) if n not in known]
        for number in new:
            s.add(Callback(ticket_id=ticket.id, conversation_id=conversation_id, masked=mask_phone(number),
                           ciphertext=encrypt(number, PURPOSE), created_at=now))
    return len(new)


async def for_ticket(ticket_id: int, url: Optional[str] = None) -> List[dict]:
    async with session_scope(url) as s:
        rows = (await s.execute(sa.select(Callback).where(Callback.ticket_id == ticket_id)
                                .order_by(Callback.id))).scalars().all()
        return [{"id": c.id, "masked": c.masked, "created_at": tickets.as_utc(c.created_at).isoformat()}
                for c in rows]


async def reveal(ticket_id: int, callback_id: int, url: Optional[str] = None) -> Optional[str]:
    """The full number (the caller records the audit entry first), or None when there is none."""
    async with session_scope(url) as s:
        c = (await s.execute(sa.select(Callback).where(Callback.id == callback_id,
                                                       Callback.ticket_id == ticket_id))).scalars().first()
        ciphertext = c.ciphertext if c else None
    if ciphertext is None:
        return None
    number = decrypt(ciphertext, PURPOSE)
    if number is None:  # written under a previous secret key
        log.warning("call-back %s cannot be decrypted with the current secret key", callback_id)
    return number
