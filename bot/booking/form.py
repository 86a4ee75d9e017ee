"""The booking form's logic: what a message changes, whether the requested time can be booked, and what to ask or
explain next. Returns slot changes and ``Say`` items (a domain response name, its variables, buttons); the
actions in ``actions/booking.py`` only translate these into rasa-sdk events and messages.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from bot.booking import bookings, slots as slotlib
from bot.booking.catalogue import Catalogue, Offering
from bot.booking.slots import Slot
from bot.booking.understand import Message, understand
from bot.booking.when import PART_HOURS, When, describe_date, describe_time, merge

SERVICE, MODE, SITE, ADDRESS = "booking_service", "booking_mode", "booking_site", "booking_address"
DATE, TIME, PART = "booking_date", "booking_time", "booking_part"
PERSON, PHONE, PHONE_HASH, CONFIRMED = "booking_person", "booking_phone", "booking_phone_hash", "booking_confirmed"
OFFERED = "booking_offered"
FORM_SLOTS = (SERVICE, MODE, SITE, ADDRESS, DATE, TIME, PART, PERSON, CONFIRMED, OFFERED)
# Kept after a booking so "我的预约" and the next booking need not ask again.
CONTACT_SLOTS = (PHONE, PHONE_HASH)

# Intents that are not an answer to the form: the form steps aside (the rules answer them) and resumes after.
INTERRUPTING = {
    "ask_overview", "ask_eligibility", "ask_benefits", "ask_amount", "ask_materials", "ask_apply", "ask_duration",
    "ask_handler", "ask_service_list", "check_status", "request_human", "complaint", "emergency", "bot_challenge",
    "ask_capabilities", "stop", "goodbye", "my_bookings", "cancel_booking", "share_location",
}

EXPLAIN = {
    slotlib.PAST: "utter_booking_time_past",
    slotlib.CLOSED: "utter_booking_closed_day",
    slotlib.OUTSIDE_HOURS: "utter_booking_outside_hours",
    slotlib.BEYOND_HORIZON: "utter_booking_beyond_horizon",
    slotlib.TOO_SOON: "utter_booking_too_soon",
}


@dataclass
class Say:
    response: str
    values: Dict[str, Any] = field(default_factory=dict)
    buttons: List[Dict[str, str]] = field(default_factory=list)


@dataclass
class Step:
    slots: Dict[str, Any] = field(default_factory=dict)
    say: List[Say] = field(default_factory=list)


def payload(intent: str, **entities: str) -> str:
    return f"/{intent}" + (json.dumps(entities, ensure_ascii=False) if entities else "")


def slot_button(slot: Slot, intent: str = "inform", **extra: str) -> Dict[str, str]:
    return {"title": f"{describe_date(slot.start.date())} {describe_time(slot.start.time())}",
            "payload": payload(intent, booking_when=slot.key, **extra)}


def offering_of(cat: Catalogue, state: Dict[str, Any]) -> Optional[Offering]:
    if state.get(SERVICE) and state.get(MODE) and state.get(SITE):
        return cat.offering(state[SITE], state[SERVICE], state[MODE])
    return None


def when_of_state(state: Dict[str, Any]) -> When:
    date = dt.date.fromisoformat(state[DATE]) if state.get(DATE) else None
    time = dt.time.fromisoformat(state[TIME]) if state.get(TIME) else None
    return When(date=date, time=time, part=state.get(PART))


def _around(w: When) -> Optional[dt.datetime]:
    if w.date is None:
        return None
    t = w.time or (PART_HOURS[w.part][0] if w.part in PART_HOURS else dt.time(9, 0))
    return dt.datetime.combine(w.date, t)


def place_values(cat: Catalogue, state: Dict[str, Any]) -> Dict[str, Any]:
    site = cat.sites.get(state.get(SITE) or "")
    service = cat.services.get(state.get(SERVICE) or "")
    return {"service_name": service.name if service else "", "site_name": site.name if site else "",
            "site_address": site.address if site else "", "site_phone": site.phone if site else ""}


def explain(reason: str, cat: Catalogue, offering: Offering, w: When, holiday: Optional[str],
            buttons: List[Dict[str, str]]) -> Say:
    """Why the asked time cannot be booked (a domain response per reason), with the alternatives as buttons."""
    values = {"date": describe_date(w.date) if w.date else "", "time": describe_time(w.time) if w.time else "",
              "holiday": holiday or "", "horizon_days": offering.horizon_days,
              "notice": offering.notice_days, "notice_hours": offering.notice_hours,
              "hours": "、".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in offering.hours)}
    values.update(place_values(cat, {SITE: offering.site_id, SERVICE: offering.service_id}))
    response = EXPLAIN.get(reason, EXPLAIN[slotlib.PAST])
    if reason == slotlib.CLOSED and holiday:
        response = "utter_booking_closed_holiday"
    if reason == slotlib.TOO_SOON and offering.notice_days:
        response = "utter_booking_too_soon_days"
    if reason == slotlib.FULL:
        response = "utter_booking_slot_full"
    return Say(response, values, buttons)


async def validate(state: Dict[str, Any], msg: Message, requested: Optional[str], cat: Catalogue, now: dt.datetime,
                   url: Optional[str] = None) -> Optional[Step]:
    """What the latest message changes. ``None``: nothing for the form (let the other rules answer it)."""
    if msg.intent in INTERRUPTING:
        return None
    up = _Update(state, understand(msg, cat, now, requested), cat, requested)
    _service(up)
    _mode(up)
    _site(up)
    _contact(up)
    await _day_and_time(up, now, url)
    _read_back(up, msg)
    if not up.step.slots and not up.step.say:
        return None
    return up.step


class _Update:
    """The slot changes one message makes to the form, section by section (``validate``)."""

    def __init__(self, state: Dict[str, Any], u, cat: Catalogue, requested: Optional[str]) -> None:
        self.u, self.cat, self.requested = u, cat, requested
        self.cur = dict(state)
        self.step = Step()

    def put(self, key: str, value: Any, force: bool = False) -> None:
        if force or self.cur.get(key) != value:
            self.step.slots[key] = value
            self.cur[key] = value


def _service(up: _Update) -> None:
    u, cur, cat, step, put = up.u, up.cur, up.cat, up.step, up.put
    requested = up.requested
    if u.service and u.service != cur.get(SERVICE):
        put(SERVICE, u.service)
        if cur.get(MODE) and cur[MODE] not in cat.modes_offered(u.service):
            put(MODE, None)
        if cur.get(SITE) and cur.get(MODE) and not cat.offering(cur[SITE], u.service, cur[MODE]):
            put(SITE, None)
    elif requested == SERVICE and not u.service and not u.anything:
        step.say.append(Say("utter_booking_service_unknown"))
        put(SERVICE, None, force=True)


def _mode(up: _Update) -> None:
    """At home or at a site."""
    u, cur, cat, step, put = up.u, up.cur, up.cat, up.step, up.put
    service_id = cur.get(SERVICE)
    modes = cat.modes_offered(service_id) if service_id else []
    if u.mode and service_id and u.mode not in modes:
        step.say.append(Say("utter_booking_mode_unavailable_home" if u.mode == "home"
                            else "utter_booking_mode_unavailable_site", place_values(cat, cur)))
    elif u.mode and (not service_id or u.mode in modes):
        put(MODE, u.mode)
    if service_id and len(modes) == 1:
        put(MODE, modes[0])


def _site(up: _Update) -> None:
    """Which site (and the address of a service at home)."""
    u, cur, cat, step, put = up.u, up.cur, up.cat, up.step, up.put
    service_id = cur.get(SERVICE)
    mode = cur.get(MODE)
    if u.site and service_id and mode and not cat.offering(u.site, service_id, mode):
        wrong = place_values(cat, {SITE: u.site, SERVICE: service_id})
        step.say.append(Say("utter_booking_site_lacks_service", wrong,
                            [{"title": s.name, "payload": payload("inform", site=s.id)}
                             for s in cat.sites_for(service_id, mode)]))
        put(OFFERED, True)
    elif u.site and (mode != "home" or not cur.get(SITE)):
        put(SITE, u.site)
    if u.address:
        put(ADDRESS, u.address)
    elif u.address_invalid:
        step.say.append(Say("utter_booking_address_invalid"))
        put(ADDRESS, None, force=True)
    if service_id and mode == "home" and cur.get(ADDRESS) and not cat.offering(cur.get(SITE) or "", service_id, "home"):
        serving = cat.site_for_address(service_id, cur[ADDRESS])
        put(SITE, serving.id if serving else None)
    if service_id and mode == "site" and not cur.get(SITE):
        sites = cat.sites_for(service_id, "site")
        if len(sites) == 1:
            put(SITE, sites[0].id)
    if cur.get(SITE) and service_id and mode and not cat.offering(cur[SITE], service_id, mode):
        put(SITE, None)


def _contact(up: _Update) -> None:
    """Who receives the service and how to reach them."""
    u, step, put = up.u, up.step, up.put
    if u.person:
        put(PERSON, u.person)
    if u.phone_masked:
        put(PHONE, u.phone_masked)
        put(PHONE_HASH, u.phone_hash)
    elif u.phone_invalid:
        step.say.append(Say("utter_booking_phone_invalid"))
        put(PHONE, None, force=True)


async def _day_and_time(up: _Update, now: dt.datetime, url: Optional[str]) -> None:
    u, cur, cat, step, put = up.u, up.cur, up.cat, up.step, up.put
    if not u.when.empty:
        w = merge(when_of_state(cur), u.when)
        put(DATE, w.date.isoformat() if w.date else None)
        put(TIME, w.time.strftime("%H:%M") if w.time else None)
        put(PART, w.part)
    offering = offering_of(cat, cur)
    if offering and cur.get(DATE):
        w = when_of_state(cur)
        verdict = slotlib.resolve(cat, offering, w, now)
        if verdict.reason in EXPLAIN:
            alts = await bookings.alternatives(cat, offering, _around(w), now, url=url)
            step.say.append(explain(verdict.reason, cat, offering, w, verdict.holiday, [slot_button(a) for a in alts]))
            put(OFFERED, bool(alts))
            if verdict.reason in (slotlib.OUTSIDE_HOURS, slotlib.TOO_SOON):  # the day is fine, the time is not
                put(TIME, None, force=True)
                put(PART, None)
            else:
                put(DATE, None, force=True)
                put(TIME, None)
                put(PART, None)
        elif verdict.reason == slotlib.NEED_TIME:
            put(TIME, None)
        elif verdict.ok:
            free = await bookings.free_among(offering, [verdict.slot], url)
            if not free:
                alts = await bookings.alternatives(cat, offering, verdict.slot.start, now,
                                                   exclude=(verdict.slot.start,), url=url)
                step.say.append(explain(slotlib.FULL, cat, offering, w, None, [slot_button(a) for a in alts]))
                put(OFFERED, bool(alts))
                put(TIME, None, force=True)
            else:
                put(TIME, verdict.slot.start.strftime("%H:%M"))


def _read_back(up: _Update, msg: Message) -> None:
    cur, step, put = up.cur, up.step, up.put
    requested = up.requested
    # the read-back: a change re-asks it with the new summary; "对" confirms; "不对" asks what to change
    changed = {k for k in step.slots if k not in (CONFIRMED, OFFERED)}
    if requested == CONFIRMED:
        if changed or step.say:
            put(CONFIRMED, None, force=True)
        elif msg.intent == "affirm":
            put(CONFIRMED, True)
        elif msg.intent == "deny":
            step.say.append(Say("utter_booking_what_to_change"))
            put(CONFIRMED, None, force=True)
    elif changed and cur.get(CONFIRMED) is not None:
        put(CONFIRMED, None)


# ---------------------------------------------------------------- asking for the next slot

def ask_service(cat: Catalogue) -> Step:
    return Step(say=[Say("utter_ask_booking_service", buttons=[
        {"title": s.name, "payload": payload("inform", service=s.id)} for s in cat.services.values()])])


def ask_site(cat: Catalogue, state: Dict[str, Any]) -> Step:
    sites = cat.sites_for(state.get(SERVICE) or "", state.get(MODE) or "site")
    return Step(say=[Say("utter_ask_booking_site", place_values(cat, state),
                         [{"title": s.name, "payload": payload("inform", site=s.id)} for s in sites])])


async def ask_date(cat: Catalogue, state: Dict[str, Any], now: dt.datetime, url: Optional[str] = None) -> Step:
    if state.get(OFFERED):
        return Step({OFFERED: False}, [Say("utter_ask_booking_date_after_offer")])
    offering = offering_of(cat, state)
    if offering is None:
        return Step(say=[Say("utter_ask_booking_date")])
    soonest = await bookings.alternatives(cat, offering, None, now, n=4, url=url)
    if not soonest:
        return Step(say=[Say("utter_booking_nothing_free", place_values(cat, state))])
    return Step(say=[Say("utter_ask_booking_date_with_offer", place_values(cat, state),
                         [slot_button(s) for s in soonest])])


async def ask_time(cat: Catalogue, state: Dict[str, Any], now: dt.datetime, url: Optional[str] = None) -> Step:
    if state.get(OFFERED):
        return Step({OFFERED: False}, [Say("utter_ask_booking_time_after_offer")])
    offering = offering_of(cat, state)
    w = when_of_state(state)
    if offering is None or w.date is None:
        return Step(say=[Say("utter_ask_booking_time")])
    verdict = slotlib.resolve(cat, offering, When(date=w.date, part=w.part), now)
    free = await bookings.free_among(offering, verdict.candidates, url) if verdict.candidates else []
    if free:
        return Step(say=[Say("utter_ask_booking_time_choose", {"date": describe_date(w.date)},
                             [slot_button(s) for s in free[:6]])])
    alts = await bookings.alternatives(cat, offering, _around(w), now, url=url)
    return Step({DATE: None, PART: None},
                [Say("utter_booking_day_full", {"date": describe_date(w.date)}, [slot_button(s) for s in alts])])


def summary_values(cat: Catalogue, state: Dict[str, Any]) -> Dict[str, Any]:
    values = place_values(cat, state)
    w = when_of_state(state)
    offering = offering_of(cat, state)
    end = ""
    if offering and w.date and w.time:
        end_at = dt.datetime.combine(w.date, w.time) + dt.timedelta(minutes=offering.slot_minutes)
        end = describe_time(end_at.time())
    values.update({"date": describe_date(w.date) if w.date else "", "time": describe_time(w.time) if w.time else "",
                   "end_time": end, "person": state.get(PERSON) or "", "phone": state.get(PHONE) or "",
                   "address": state.get(ADDRESS) or ""})
    return values


def ask_confirmed(cat: Catalogue, state: Dict[str, Any]) -> Step:
    # The buttons (confirm / change) are part of the domain response.
    return Step(say=[Say("utter_ask_booking_confirmed", summary_values(cat, state))])


def next_slot(cat: Catalogue, state: Dict[str, Any]) -> Optional[str]:
    """The next thing to ask, in the order a person at the service centre would (None: ready to book).
    At home needs an address (the serving site follows from it); at a site needs the site."""
    if not state.get(SERVICE):
        return SERVICE
    if not state.get(MODE):
        return MODE
    if state[MODE] == "home" and not state.get(ADDRESS):
        return ADDRESS
    if not state.get(SITE):
        return SITE
    for name in (DATE, TIME, PERSON, PHONE):
        if not state.get(name):
            return name
    if state.get(CONFIRMED) is not True:
        return CONFIRMED
    return None
