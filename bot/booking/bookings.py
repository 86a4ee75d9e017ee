"""Book, list, cancel and move appointments. The database enforces capacity:

* each slot has a counter row, created with INSERT … ON CONFLICT DO NOTHING;
* a booking takes a place with ``UPDATE … SET booked = booked + 1 WHERE … AND booked < capacity`` in the same
  transaction that inserts the booking — when no row is updated the slot is full, whatever other requests do;
* a CHECK constraint (booked <= capacity) backs this up;
* confirmations are idempotent: the key (from the conversation and the confirming message) is UNIQUE, and a
  replay returns the booking the first confirmation made.

Cancelling and moving use optimistic updates (``WHERE status = 'booked' AND start = <what we read>``) so that a
concurrent cancel/move can never free or take a place twice.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.booking import slots as slotlib
from bot.booking.catalogue import Catalogue, Offering
from bot.booking.models import Booking, BookingSlot
from bot.clock import naive_utcnow
from bot.booking.slots import Slot
from bot.db import session_scope

BOOKED, CANCELLED = "booked", "cancelled"
# Outcomes
OK, REPLAYED, FULL, INVALID, NOT_FOUND, ALREADY_CANCELLED, UNCHANGED = (
    "ok", "replayed", "full", "invalid", "not_found", "already_cancelled", "unchanged")


@dataclass(frozen=True)
class BookingView:
    code: str
    service_id: str
    mode: str
    site_id: str
    start: dt.datetime
    end: dt.datetime
    person: str
    address: Optional[str]
    phone_masked: str
    conversation_id: Optional[str]
    status: str
    cancel_reason: Optional[str] = None

    @classmethod
    def of(cls, b: Booking) -> "BookingView":
        return cls(b.code, b.service_id, b.mode, b.site_id, b.start, b.end, b.person, b.address, b.phone_masked,
                   b.conversation_id, b.status, b.cancel_reason)


@dataclass(frozen=True)
class BookingRequest:
    service_id: str
    mode: str
    site_id: str
    start: dt.datetime
    person: str
    phone_masked: str
    phone_hash: str
    address: Optional[str] = None
    conversation_id: Optional[str] = None
    phone_cipher: Optional[str] = None  # the full mobile, encrypted (bot/booking/contacts.py), when it was kept


@dataclass
class Outcome:
    status: str
    booking: Optional[BookingView] = None
    reason: Optional[str] = None               # for INVALID: a slots.* reason
    alternatives: List[Slot] = field(default_factory=list)


def idempotency_key(conversation_id: str, event_id: str) -> str:
    """The same confirmation (conversation + the confirming message) always maps to the same key."""
    return hashlib.sha256(f"{conversation_id}\x1f{event_id}".encode()).hexdigest()


def _insert_ignore(session, table, values: dict):
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).values(**values).on_conflict_do_nothing()


def _slot_where(site_id: str, service_id: str, mode: str, start: dt.datetime):
    t = BookingSlot.__table__.c
    return sa.and_(t.site_id == site_id, t.service_id == service_id, t.mode == mode, t.start == start)


async def _take_place(session, offering: Offering, start: dt.datetime) -> bool:
    """Take one place of the slot inside the caller's transaction; False when it is full."""
    table = BookingSlot.__table__
    await session.execute(_insert_ignore(session, table, dict(
        site_id=offering.site_id, service_id=offering.service_id, mode=offering.mode, start=start,
        capacity=offering.capacity, booked=0)))
    # The capacity in force is the catalogue's now (an editor may have changed it since the row was made).
    result = await session.execute(
        table.update()
        .where(_slot_where(offering.site_id, offering.service_id, offering.mode, start))
        .where(table.c.booked < offering.capacity)
        .values(booked=table.c.booked + 1, capacity=offering.capacity))
    return result.rowcount == 1


async def _free_place(session, site_id: str, service_id: str, mode: str, start: dt.datetime) -> None:
    table = BookingSlot.__table__
    await session.execute(
        table.update().where(_slot_where(site_id, service_id, mode, start)).where(table.c.booked > 0)
        .values(booked=table.c.booked - 1))


async def booked_counts(offering: Offering, start: dt.datetime, end: dt.datetime,
                        url: Optional[str] = None) -> Dict[dt.datetime, int]:
    t = BookingSlot.__table__.c
    async with session_scope(url) as session:
        rows = await session.execute(
            sa.select(t.start, t.booked).where(t.site_id == offering.site_id, t.service_id == offering.service_id,
                                               t.mode == offering.mode, t.start >= start, t.start < end))
        return {r.start: r.booked for r in rows}


async def alternatives(catalogue: Catalogue, offering: Offering, around: Optional[dt.datetime], now: dt.datetime,
                       n: int = 3, exclude=(), url: Optional[str] = None) -> List[Slot]:
    """The nearest slots with room (for buttons after a full, closed, past or out-of-hours request)."""
    lo, hi = slotlib.count_window(offering, now)
    counts = await booked_counts(offering, lo, hi, url)
    return slotlib.nearest_available(catalogue, offering, around, now, counts, n=n, exclude=tuple(exclude))


async def free_among(offering: Offering, candidates: List[Slot], url: Optional[str] = None) -> List[Slot]:
    if not candidates:
        return []
    counts = await booked_counts(offering, candidates[0].start, candidates[-1].end, url)
    return slotlib.with_room(candidates, counts)


async def _by_key(key: str, url: Optional[str]) -> Optional[BookingView]:
    async with session_scope(url) as session:
        row = (await session.execute(sa.select(Booking).where(Booking.idempotency_key == key))).scalar_one_or_none()
        return BookingView.of(row) if row else None


async def book(catalogue: Catalogue, request: BookingRequest, key: str, now: dt.datetime,
               url: Optional[str] = None) -> Outcome:
    """Book one place; ``key`` makes a repeated confirmation return the first booking."""
    existing = await _by_key(key, url)
    if existing:
        return Outcome(REPLAYED, booking=existing)
    offering = catalogue.offering(request.site_id, request.service_id, request.mode)
    if offering is None:
        return Outcome(INVALID, reason=slotlib.OUTSIDE_HOURS)
    slot = next((s for s in slotlib.day_slots(offering, request.start.date()) if s.start == request.start), None)
    problem = slotlib.OUTSIDE_HOURS if slot is None else slotlib.slot_problem(catalogue, offering, slot, now)
    if problem:
        return Outcome(INVALID, reason=problem,
                       alternatives=await alternatives(catalogue, offering, request.start, now, url=url))
    try:
        async with session_scope(url) as session:
            # The first statement writes, so SQLite takes its write lock at once (no read-then-upgrade deadlock).
            if not await _take_place(session, offering, slot.start):
                raise _Full()
            stamp = naive_utcnow()
            booking = Booking(
                service_id=request.service_id, mode=request.mode, site_id=request.site_id, start=slot.start,
                end=slot.end, person=request.person, address=request.address, phone_masked=request.phone_masked,
                phone_hash=request.phone_hash, phone_cipher=request.phone_cipher,
                conversation_id=request.conversation_id, status=BOOKED,
                idempotency_key=key, created_at=stamp, updated_at=stamp)
            session.add(booking)
            await session.flush()
            booking.code = f"YY{slot.start:%y%m%d}{booking.id:05d}"
            await session.flush()
            view = BookingView.of(booking)
        return Outcome(OK, booking=view)
    except _Full:
        return Outcome(FULL, alternatives=await alternatives(catalogue, offering, slot.start, now,
                                                             exclude=(slot.start,), url=url))
    except IntegrityError:
        # A concurrent replay of the same confirmation won the race: return its booking.
        existing = await _by_key(key, url)
        if existing:
            return Outcome(REPLAYED, booking=existing)
        raise


class _Full(Exception):
    pass


class _Changed(Exception):
    pass


def _owned(query, conversation_id: Optional[str], phone_hash: Optional[str]):
    """Residents may only touch bookings of their conversation or of the mobile they gave."""
    conds = []
    if conversation_id:
        conds.append(Booking.conversation_id == conversation_id)
    if phone_hash:
        conds.append(Booking.phone_hash == phone_hash)
    return query.where(sa.or_(*conds)) if conds else query


async def get(code: str, url: Optional[str] = None) -> Optional[BookingView]:
    async with session_scope(url) as session:
        query = sa.select(Booking).where(Booking.code == code.strip().upper())
        row = (await session.execute(query)).scalar_one_or_none()
        return BookingView.of(row) if row else None


async def cancel(code: str, reason: str, by: str = "resident", url: Optional[str] = None,
                 conversation_id: Optional[str] = None, phone_hash: Optional[str] = None,
                 restrict: bool = False) -> Outcome:
    """Cancel a booking and free its place at once. ``restrict``: only the resident's own bookings."""
    code = code.strip().upper()
    for _ in range(5):
        async with session_scope(url) as session:
            q = sa.select(Booking).where(Booking.code == code)
            if restrict:
                q = _owned(q, conversation_id, phone_hash)
            row = (await session.execute(q)).scalar_one_or_none()
            if row is None:
                return Outcome(NOT_FOUND)
            if row.status != BOOKED:
                return Outcome(ALREADY_CANCELLED, booking=BookingView.of(row))
            seen_start = row.start
        try:
            async with session_scope(url) as session:
                stamp = naive_utcnow()
                result = await session.execute(
                    Booking.__table__.update()
                    .where(Booking.__table__.c.code == code, Booking.__table__.c.status == BOOKED,
                           Booking.__table__.c.start == seen_start)
                    .values(status=CANCELLED, cancel_reason=reason[:500], cancelled_by=by, cancelled_at=stamp,
                            updated_at=stamp))
                if result.rowcount != 1:
                    raise _Changed()
                await _free_place(session, row.site_id, row.service_id, row.mode, seen_start)
        except _Changed:
            continue  # moved or cancelled meanwhile: read again
        return Outcome(OK, booking=await get(code, url))
    return Outcome(NOT_FOUND)


async def move(catalogue: Catalogue, code: str, new_start: dt.datetime, now: dt.datetime, url: Optional[str] = None,
               conversation_id: Optional[str] = None, phone_hash: Optional[str] = None,
               restrict: bool = False) -> Outcome:
    """Move a booking to another slot of the same offering: take the new place, free the old one, one transaction."""
    code = code.strip().upper()
    for _ in range(5):
        current = await get(code, url)
        if current is None:
            return Outcome(NOT_FOUND)
        if restrict and not ((conversation_id and current.conversation_id == conversation_id) or
                             (phone_hash and await phone_matches(code, phone_hash, url))):
            return Outcome(NOT_FOUND)
        if current.status != BOOKED:
            return Outcome(ALREADY_CANCELLED, booking=current)
        offering = catalogue.offering(current.site_id, current.service_id, current.mode)
        if offering is None:
            return Outcome(INVALID, booking=current, reason=slotlib.OUTSIDE_HOURS)
        slot = next((s for s in slotlib.day_slots(offering, new_start.date()) if s.start <= new_start < s.end), None)
        if slot is not None and slot.start == current.start:
            return Outcome(UNCHANGED, booking=current)
        problem = slotlib.OUTSIDE_HOURS if slot is None else slotlib.slot_problem(catalogue, offering, slot, now)
        if problem:
            return Outcome(INVALID, booking=current, reason=problem,
                           alternatives=await alternatives(catalogue, offering, new_start, now,
                                                           exclude=(current.start,), url=url))
        try:
            async with session_scope(url) as session:
                if not await _take_place(session, offering, slot.start):
                    raise _Full()
                t = Booking.__table__
                result = await session.execute(
                    t.update().where(t.c.code == code, t.c.status == BOOKED, t.c.start == current.start)
                    .values(start=slot.start, end=slot.end, updated_at=naive_utcnow()))
                if result.rowcount != 1:
                    raise _Changed()
                await _free_place(session, current.site_id, current.service_id, current.mode, current.start)
        except _Changed:
            continue
        except _Full:
            return Outcome(FULL, booking=current,
                           alternatives=await alternatives(catalogue, offering, slot.start, now,
                                                           exclude=(slot.start, current.start), url=url))
        return Outcome(OK, booking=await get(code, url))
    return Outcome(NOT_FOUND)


async def phone_matches(code: str, phone_hash: str, url: Optional[str]) -> bool:
    async with session_scope(url) as session:
        return (await session.execute(sa.select(Booking.id).where(
            Booking.code == code, Booking.phone_hash == phone_hash))).first() is not None


async def list_bookings(url: Optional[str] = None, *, day: Optional[dt.date] = None, site_id: Optional[str] = None,
                        service_id: Optional[str] = None, conversation_id: Optional[str] = None,
                        phone_hash: Optional[str] = None, upcoming_from: Optional[dt.datetime] = None,
                        include_cancelled: bool = True) -> List[BookingView]:
    q = sa.select(Booking)
    if day is not None:
        start = dt.datetime.combine(day, dt.time(0, 0))
        q = q.where(Booking.start >= start, Booking.start < start + dt.timedelta(days=1))
    if site_id:
        q = q.where(Booking.site_id == site_id)
    if service_id:
        q = q.where(Booking.service_id == service_id)
    if conversation_id or phone_hash:
        q = _owned(q, conversation_id, phone_hash)
    if upcoming_from is not None:
        q = q.where(Booking.start >= upcoming_from)
    if not include_cancelled:
        q = q.where(Booking.status == BOOKED)
    async with session_scope(url) as session:
        rows = (await session.execute(q.order_by(Booking.start, Booking.id))).scalars().all()
        return [BookingView.of(r) for r in rows]
