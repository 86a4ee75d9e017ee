"""Time slots of an offering (a service in one mode at one site) and whether a requested time can be booked.

Pure functions over the catalogue and an injected ``now`` (local wall clock); how many places are taken comes
from the database (``bot.booking.bookings.booked_counts``) and is passed in as a mapping.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from bot.booking.catalogue import Catalogue, Offering
from bot.booking.when import PART_HOURS, When

# Reasons a request cannot be booked as asked (the action explains each with a domain response).
NEED_DATE = "need_date"
NEED_TIME = "need_time"
PAST = "past"
TOO_SOON = "too_soon"
CLOSED = "closed"
OUTSIDE_HOURS = "outside_hours"
BEYOND_HORIZON = "beyond_horizon"
FULL = "full"


@dataclass(frozen=True)
class Slot:
    site_id: str
    service_id: str
    mode: str
    start: dt.datetime
    end: dt.datetime
    capacity: int

    @property
    def key(self) -> str:
        """A stable text form for slots and button payloads: 2026-12-03T09:00."""
        return self.start.strftime("%Y-%m-%dT%H:%M")


@dataclass
class Verdict:
    reason: Optional[str] = None          # None: the slot can be booked (capacity permitting)
    slot: Optional[Slot] = None
    holiday: Optional[str] = None         # for CLOSED on a public holiday
    candidates: List[Slot] = field(default_factory=list)  # for NEED_TIME: the day's slots that fit the request

    @property
    def ok(self) -> bool:
        return self.reason is None and self.slot is not None


def day_slots(offering: Offering, day: dt.date) -> List[Slot]:
    """Every slot of the offering on ``day`` (opening days are not considered here)."""
    out = []
    step = dt.timedelta(minutes=offering.slot_minutes)
    for start_t, end_t in offering.hours:
        start = dt.datetime.combine(day, start_t)
        end = dt.datetime.combine(day, end_t)
        while start + step <= end:
            out.append(Slot(offering.site_id, offering.service_id, offering.mode, start, start + step,
                            offering.capacity))
            start += step
    return out


def earliest_start(offering: Offering, now: dt.datetime) -> dt.datetime:
    """The earliest start the minimum notice allows (at-home services: from the next day)."""
    earliest = now + dt.timedelta(hours=offering.notice_hours)
    if offering.notice_days:
        earliest = max(earliest, dt.datetime.combine(now.date() + dt.timedelta(days=offering.notice_days),
                                                     dt.time(0, 0)))
    return earliest


def last_day(offering: Offering, now: dt.datetime) -> dt.date:
    return now.date() + dt.timedelta(days=offering.horizon_days)


def slot_problem(catalogue: Catalogue, offering: Offering, slot: Slot, now: dt.datetime) -> Optional[str]:
    """Why this slot cannot be booked now (ignoring capacity), or None."""
    if slot.start < now:
        return PAST
    if slot.start.date() > last_day(offering, now):
        return BEYOND_HORIZON
    if catalogue.closed_reason(catalogue.sites[offering.site_id], slot.start.date()):
        return CLOSED
    if slot.start < earliest_start(offering, now):
        return TOO_SOON
    return None


def bookable_slots(catalogue: Catalogue, offering: Offering, now: dt.datetime,
                   days: Optional[Iterable[dt.date]] = None) -> List[Slot]:
    """All slots from now to the end of the booking horizon that the rules allow (capacity aside)."""
    if days is None:
        first = now.date()
        days = (first + dt.timedelta(days=i) for i in range((last_day(offering, now) - first).days + 1))
    return [s for d in days for s in day_slots(offering, d) if slot_problem(catalogue, offering, s, now) is None]


def _in_part(slot: Slot, part: str) -> bool:
    lo, hi = PART_HOURS[part]
    return lo <= slot.start.time() < hi


def resolve(catalogue: Catalogue, offering: Offering, when: When, now: dt.datetime) -> Verdict:
    """Match a parsed request against the offering's slots and rules."""
    if when.date is None:
        return Verdict(NEED_DATE)
    day = when.date
    today = now.date()
    if day < today:
        return Verdict(PAST)
    if day > last_day(offering, now):
        return Verdict(BEYOND_HORIZON)
    closed = catalogue.closed_reason(catalogue.sites[offering.site_id], day)
    if closed:
        return Verdict(CLOSED, holiday=closed.split(":", 1)[1] if closed.startswith("holiday:") else None)
    slots = day_slots(offering, day)
    if when.time is not None:
        at = dt.datetime.combine(day, when.time)
        # A time inside a slot means that slot (at-home windows: "十点" falls in 9:00–11:00).
        slot = next((s for s in slots if s.start <= at < s.end), None)
        if slot is None:
            return Verdict(OUTSIDE_HOURS)
        problem = slot_problem(catalogue, offering, slot, now)
        if problem:
            return Verdict(problem, slot=slot)
        return Verdict(None, slot=slot)
    fitting = [s for s in slots if when.part is None or _in_part(s, when.part)]
    if not fitting:
        return Verdict(OUTSIDE_HOURS)
    open_ = [s for s in fitting if slot_problem(catalogue, offering, s, now) is None]
    if not open_:
        return Verdict(PAST if all(s.start < now for s in fitting) else TOO_SOON)
    return Verdict(NEED_TIME, candidates=open_)


def has_room(slot: Slot, booked: Mapping[dt.datetime, int]) -> bool:
    return booked.get(slot.start, 0) < slot.capacity


def nearest_available(catalogue: Catalogue, offering: Offering, around: Optional[dt.datetime], now: dt.datetime,
                      booked: Mapping[dt.datetime, int], n: int = 3,
                      exclude: Tuple[dt.datetime, ...] = ()) -> List[Slot]:
    """Up to ``n`` bookable slots with room, nearest to ``around`` (later ones first on a tie), in time order."""
    around = around or now
    free = [s for s in bookable_slots(catalogue, offering, now) if has_room(s, booked) and s.start not in exclude]
    free.sort(key=lambda s: (abs((s.start - around).total_seconds()), s.start < around))
    return sorted(free[:n], key=lambda s: s.start)


def with_room(slots: Iterable[Slot], booked: Mapping[dt.datetime, int]) -> List[Slot]:
    return [s for s in slots if has_room(s, booked)]


def count_window(offering: Offering, now: dt.datetime) -> Tuple[dt.datetime, dt.datetime]:
    """The time range whose booked counts ``nearest_available`` needs."""
    return (dt.datetime.combine(now.date(), dt.time(0, 0)),
            dt.datetime.combine(last_day(offering, now) + dt.timedelta(days=1), dt.time(0, 0)))


BookedCounts = Dict[dt.datetime, int]
