"""The booker's full mobile, which the service site must be able to call.

The tracker store masks every mobile before it is written (bot/rasa/tracker_store.py) and a booking's slots carry
only the mask and a keyed hash, so the number is kept apart when the resident gives it: encrypted (bot.privacy,
key derived from HUIMIN_SECRET_KEY) per conversation and phone, copied onto the booking made with it, revealed
in full only through the console with an audit record (bot/console/staff_records.py). The retention run deletes
the contact with the conversation's period and blanks the booking's copy with its person
(bot/retention/policies.py).
"""
from __future__ import annotations

import logging
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.booking.models import Booking, BookingContact
from bot.clock import naive_utcnow
from bot.booking.understand import PHONE_PURPOSE
from bot.db import session_scope
from bot.privacy import decrypt, encrypt, keyed_hash

log = logging.getLogger(__name__)

# The key's purpose (bot.privacy.encrypt): a booking phone cannot be read as another kind of number.
PURPOSE = "huimin.booking.phone"


async def keep(conversation_id: str, number: str, url: Optional[str] = None) -> str:
    """Store ``number`` encrypted for the conversation (refreshing an earlier copy); returns its keyed hash."""
    phone_hash = keyed_hash(number, PHONE_PURPOSE)
    ciphertext = encrypt(number, PURPOSE)
    where = (BookingContact.conversation_id == conversation_id, BookingContact.phone_hash == phone_hash)
    try:
        async with session_scope(url) as s:
            updated = await s.execute(sa.update(BookingContact).where(*where)
                                      .values(ciphertext=ciphertext, created_at=naive_utcnow()))
            if not updated.rowcount:
                s.add(BookingContact(conversation_id=conversation_id, phone_hash=phone_hash, ciphertext=ciphertext,
                                     created_at=naive_utcnow()))
    except IntegrityError:  # the same number kept by a concurrent message of the conversation: it is there
        pass
    return phone_hash


async def cipher_for(conversation_id: str, phone_hash: Optional[str], url: Optional[str] = None) -> Optional[str]:
    """The encrypted number behind ``phone_hash`` in this conversation, or None when it was not kept."""
    if not phone_hash:
        return None
    async with session_scope(url) as s:
        return (await s.execute(sa.select(BookingContact.ciphertext).where(
            BookingContact.conversation_id == conversation_id,
            BookingContact.phone_hash == phone_hash))).scalar_one_or_none()


async def of_booking(code: str, url: Optional[str] = None) -> Optional[str]:
    """The booking's encrypted number (None: made before numbers were kept, or its person has expired)."""
    async with session_scope(url) as s:
        return (await s.execute(sa.select(Booking.phone_cipher).where(Booking.code == code))).scalar_one_or_none()


def number_of(ciphertext: Optional[str]) -> Optional[str]:
    """The full number of a booking's ``phone_cipher``; None when none was kept or the secret key changed."""
    if not ciphertext:
        return None
    number = decrypt(ciphertext, PURPOSE)
    if number is None:
        log.warning("a booking phone cannot be decrypted with the current secret key")
    return number
