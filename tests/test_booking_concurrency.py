"""No slot is ever overbooked: 50 concurrent attempts at a slot with capacity 3, on SQLite and PostgreSQL;
repeated confirmations make one booking; cancelling frees the place at once; moves keep the counters right."""
import asyncio
import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.booking import bookings
from bot.booking.bookings import BookingRequest, idempotency_key
from bot.booking.catalogue import load_catalogue
from bot.booking.models import Booking, BookingSlot
from bot.db import session_scope
from bot.privacy import keyed_hash, mask_phone

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 12, 2, 9, 30)
SLOT = dt.datetime(2026, 12, 3, 10, 0)  # wulaocun, bath at the centre: capacity 3


@pytest.fixture(scope="module")
def cat():
    cat = load_catalogue(ROOT / "knowledge")
    assert cat.offering("wulaocun", "bath", "site").capacity == 3
    return cat


def request(i: int, start=SLOT) -> BookingRequest:
    phone = f"1380000{i:04d}"
    return BookingRequest(service_id="bath", mode="site", site_id="wulaocun", start=start, person=f"居民{i}",
                          phone_masked=mask_phone(phone), phone_hash=keyed_hash(phone, "booking_phone"),
                          conversation_id=f"conv-{i}")


async def counter(url, start=SLOT) -> int:
    async with session_scope(url) as s:
        return (await s.execute(sa.select(BookingSlot.booked).where(
            BookingSlot.site_id == "wulaocun", BookingSlot.start == start))).scalar_one()


async def live_bookings(url, start=SLOT) -> int:
    async with session_scope(url) as s:
        return (await s.execute(sa.select(sa.func.count()).select_from(Booking).where(
            Booking.start == start, Booking.status == "booked"))).scalar_one()


async def test_fifty_concurrent_attempts_capacity_three(db_url, cat):
    outcomes = await asyncio.gather(*(
        bookings.book(cat, request(i), idempotency_key(f"conv-{i}", "confirm-1"), NOW, url=db_url)
        for i in range(50)))
    ok = [o for o in outcomes if o.status == bookings.OK]
    full = [o for o in outcomes if o.status == bookings.FULL]
    assert len(ok) == 3 and len(full) == 47, [o.status for o in outcomes]
    assert await live_bookings(db_url) == 3 and await counter(db_url) == 3
    # every "full" answer comes with other slots that still have room
    for o in full:
        assert o.alternatives and all(a.start != SLOT for a in o.alternatives)
    codes = {o.booking.code for o in ok}
    assert len(codes) == 3 and all(c.startswith("YY261203") for c in codes)


async def test_replayed_confirmation_makes_one_booking(db_url, cat):
    key = idempotency_key("conv-7", "confirm-event-42")
    outcomes = await asyncio.gather(*(bookings.book(cat, request(7), key, NOW, url=db_url) for _ in range(10)))
    assert sorted(o.status for o in outcomes).count(bookings.OK) == 1
    assert {o.booking.code for o in outcomes} == {outcomes[0].booking.code}
    assert await live_bookings(db_url) == 1 and await counter(db_url) == 1
    again = await bookings.book(cat, request(7), key, NOW, url=db_url)
    assert again.status == bookings.REPLAYED and again.booking.code == outcomes[0].booking.code


async def test_cancel_frees_the_place_at_once(db_url, cat):
    made = [await bookings.book(cat, request(i), idempotency_key(f"c{i}", "e"), NOW, url=db_url) for i in range(4)]
    assert [m.status for m in made] == ["ok", "ok", "ok", "full"]
    cancelled = await bookings.cancel(made[0].booking.code, "家里有事", url=db_url)
    assert cancelled.status == bookings.OK and cancelled.booking.status == "cancelled"
    assert await counter(db_url) == 2
    assert (await bookings.cancel(made[0].booking.code, "again", url=db_url)).status == bookings.ALREADY_CANCELLED
    assert await counter(db_url) == 2
    retry = await bookings.book(cat, request(3), idempotency_key("c3", "e2"), NOW, url=db_url)
    assert retry.status == bookings.OK and await counter(db_url) == 3


async def test_concurrent_cancels_free_one_place(db_url, cat):
    made = await bookings.book(cat, request(1), idempotency_key("c1", "e"), NOW, url=db_url)
    results = await asyncio.gather(*(bookings.cancel(made.booking.code, "x", url=db_url) for _ in range(8)))
    assert [r.status for r in results].count(bookings.OK) == 1
    assert await counter(db_url) == 0


async def test_move_takes_the_new_place_and_frees_the_old(db_url, cat):
    other = SLOT.replace(hour=14)
    made = await bookings.book(cat, request(1), idempotency_key("c1", "e"), NOW, url=db_url)
    moved = await bookings.move(cat, made.booking.code, other, NOW, url=db_url)
    assert moved.status == bookings.OK and moved.booking.start == other and moved.booking.code == made.booking.code
    assert await counter(db_url, SLOT) == 0 and await counter(db_url, other) == 1
    assert (await bookings.move(cat, made.booking.code, other, NOW, url=db_url)).status == bookings.UNCHANGED
    # fill the first slot, then a move into it is refused with alternatives
    for i in range(2, 5):
        await bookings.book(cat, request(i), idempotency_key(f"c{i}", "e"), NOW, url=db_url)
    refused = await bookings.move(cat, made.booking.code, SLOT, NOW, url=db_url)
    assert refused.status == bookings.FULL and refused.alternatives
    assert await counter(db_url, SLOT) == 3 and await counter(db_url, other) == 1


async def test_concurrent_moves_into_a_nearly_full_slot(db_url, cat):
    target = SLOT.replace(hour=15)
    made = [await bookings.book(cat, request(i, SLOT.replace(hour=9)), idempotency_key(f"m{i}", "e"), NOW,
                                url=db_url) for i in range(3)]
    made += [await bookings.book(cat, request(i, SLOT.replace(hour=14)), idempotency_key(f"n{i}", "e"), NOW,
                                 url=db_url) for i in range(3)]
    await bookings.book(cat, request(99, target), idempotency_key("t", "e"), NOW, url=db_url)  # 2 places left
    results = await asyncio.gather(*(bookings.move(cat, m.booking.code, target, NOW, url=db_url) for m in made))
    assert [r.status for r in results].count(bookings.OK) == 2
    assert await counter(db_url, target) == 3 and await live_bookings(db_url, target) == 3
    assert await counter(db_url, SLOT.replace(hour=9)) + await counter(db_url, SLOT.replace(hour=14)) == 4


async def test_booking_outside_the_rules_is_refused(db_url, cat):
    sunday = dt.datetime(2026, 12, 6, 10, 0)
    out = await bookings.book(cat, request(1, sunday), idempotency_key("c", "e"), NOW, url=db_url)
    assert out.status == bookings.INVALID and out.reason == "closed" and out.alternatives
    assert await live_bookings(db_url, sunday) == 0


async def test_phone_is_stored_masked_and_hashed(db_url, cat):
    await bookings.book(cat, request(5), idempotency_key("c5", "e"), NOW, url=db_url)
    async with session_scope(db_url) as s:
        row = (await s.execute(sa.select(Booking))).scalar_one()
    assert row.phone_masked == "138****0005" and "13800000005" not in repr(row.__dict__)


async def test_fifty_residents_confirm_the_same_slot_through_the_action(db_url, monkeypatch):
    """The same race seen by residents: 3 get a booking code, 47 hear "已约满" with other times as buttons."""
    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher
    from ruamel.yaml import YAML

    import actions.booking as ab

    domain = YAML(typ="safe").load((ROOT / "bot" / "domain" / "booking.yml").read_text(encoding="utf-8"))
    monkeypatch.setattr(ab, "CLOCK", lambda: NOW)

    async def confirm(i: int):
        slots = {"booking_service": "bath", "booking_mode": "site", "booking_site": "wulaocun",
                 "booking_date": "2026-12-03", "booking_time": "10:00", "booking_person": f"居民{i}",
                 "booking_phone": "138****0000", "booking_phone_hash": keyed_hash(f"1380000{i:04d}", "booking_phone"),
                 "booking_confirmed": True, "requested_slot": None}
        events = [{"event": "user", "text": "确认", "message_id": f"m{i}", "timestamp": 1.0}]
        tracker = Tracker(f"resident-{i}", slots, {"text": "确认", "intent": {"name": "affirm"}, "entities": []},
                          events, False, None, {}, "booking_form")
        dispatcher = CollectingDispatcher()
        result = await ab.ActionBookingConfirm().run(dispatcher, tracker, domain)
        return dispatcher.messages, {e["name"]: e["value"] for e in result if e["event"] == "slot"}

    results = await asyncio.gather(*(confirm(i) for i in range(50)))
    done = [r for r in results if r[0][0]["response"] == "utter_booking_done"]
    full = [r for r in results if r[0][0]["response"] == "utter_booking_slot_full"]
    assert len(done) == 3 and len(full) == 47
    assert "已约满" in domain["responses"]["utter_booking_slot_full"][0]["text"]
    for messages, slots in full:
        assert messages[0]["buttons"] and slots["booking_outcome"] == "full" and slots["booking_time"] is None
        assert all("2026-12-03T10:00" not in b["payload"] for b in messages[0]["buttons"])
    assert await live_bookings(db_url) == 3 and await counter(db_url) == 3
