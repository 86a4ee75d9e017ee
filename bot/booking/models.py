"""Booking tables: one capacity counter row per slot, and the bookings themselves.

Times (``start``/``end``) are the site's local wall-clock times (Asia/Shanghai), naive; bookkeeping timestamps
(``created_at`` …) are UTC, naive. The contact mobile is stored as a mask and a keyed hash (what residents and
the lists see, and how a resident's bookings are found) and, encrypted, in full (bot/booking/contacts.py): the
service site must be able to call, so staff may reveal it, with an audit record.
"""
from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, DateTime, Index, Integer, String, Text, UniqueConstraint

from bot.clock import naive_utcnow
from bot.db import Base


class BookingSlot(Base):
    """How many places of a slot are taken. Created on first use (INSERT … ON CONFLICT DO NOTHING);
    a booking takes a place with a conditional UPDATE (booked < capacity) in its own transaction."""
    __tablename__ = "booking_slots"

    id = Column(Integer, primary_key=True, autoincrement=True)
    site_id = Column(String(40), nullable=False)
    service_id = Column(String(40), nullable=False)
    mode = Column(String(8), nullable=False)
    start = Column(DateTime, nullable=False)
    capacity = Column(Integer, nullable=False)
    booked = Column(Integer, nullable=False, default=0)

    __table_args__ = (
        UniqueConstraint("site_id", "service_id", "mode", "start", name="uq_booking_slots_slot"),
        # The last line of defence: whatever the code does, the database refuses an overbooked slot.
        CheckConstraint("booked >= 0 AND booked <= capacity", name="ck_booking_slots_booked"),
    )


class Booking(Base):
    __tablename__ = "bookings"

    id = Column(Integer, primary_key=True, autoincrement=True)
    code = Column(String(24), unique=True)  # YY + yymmdd of the first booked day + id, set in the same transaction
    service_id = Column(String(40), nullable=False)
    mode = Column(String(8), nullable=False)
    site_id = Column(String(40), nullable=False)
    start = Column(DateTime, nullable=False)
    end = Column(DateTime, nullable=False)
    person = Column(String(60), nullable=False)
    address = Column(String(200))
    phone_masked = Column(String(20), nullable=False)
    phone_hash = Column(String(64), nullable=False)
    # The full mobile, encrypted (bot.privacy.encrypt); NULL for bookings made before it was kept, and once the
    # retention run has dropped the person.
    phone_cipher = Column(Text)
    conversation_id = Column(String(128))
    status = Column(String(16), nullable=False, default="booked")  # booked | cancelled
    idempotency_key = Column(String(128), nullable=False, unique=True)
    cancel_reason = Column(Text)
    cancelled_by = Column(String(16))  # resident | staff
    created_at = Column(DateTime, nullable=False, default=naive_utcnow)
    updated_at = Column(DateTime, nullable=False, default=naive_utcnow)
    cancelled_at = Column(DateTime)

    __table_args__ = (
        Index("ix_bookings_start", "start"),
        Index("ix_bookings_conversation", "conversation_id"),
        Index("ix_bookings_phone_hash", "phone_hash"),
    )


class BookingContact(Base):
    """The mobile a resident gave in a conversation, encrypted, until a booking made in it copies it (the tracker
    store keeps only its mask). Deleted with the conversation's retention period."""
    __tablename__ = "booking_contacts"

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(128), nullable=False)
    phone_hash = Column(String(64), nullable=False)
    ciphertext = Column(Text, nullable=False)
    created_at = Column(DateTime, nullable=False, default=naive_utcnow)

    __table_args__ = (
        UniqueConstraint("conversation_id", "phone_hash", name="uq_booking_contacts_phone"),
        Index("ix_booking_contacts_created_at", "created_at"),
    )
