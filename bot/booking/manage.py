"""Listing, cancelling and moving a resident's own bookings in the conversation.

A resident sees and changes only bookings made in this conversation, or under a contact mobile this conversation
has proven with a one-time code sent to it (bot/booking/phone_check.py) — typing someone's number is not enough.
Each function returns a ``Step`` (slot changes + domain responses to say), like ``bot.booking.form``.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any, Dict, List, Optional, Tuple

from bot.applications import verification
from bot.booking import bookings, phone_check, slots as slotlib
from bot.booking.bookings import BookingView
from bot.booking.catalogue import Catalogue
from bot.booking.form import EXPLAIN, PHONE, PHONE_HASH, Say, Step, explain, payload, slot_button
from bot.booking.understand import Message, phone_of, understand, when_of
from bot.booking.when import When, describe_date, describe_time, merge
from bot.clock import naive_utcnow

CODE, PENDING, MOVE_TO = "booking_code", "booking_pending", "booking_move_to"
# What the next message answers (booking_pending, a categorical slot the rules look at).
LIST_PHONE, CANCEL_PHONE, MOVE_PHONE = "list_phone", "cancel_phone", "move_phone"
CANCEL_CONFIRM, MOVE_CONFIRM, MOVE_WHEN = "cancel_confirm", "move_confirm", "move_when"
RESIDENT_CANCEL_REASON = "resident cancelled in the conversation"


def booking_values(cat: Catalogue, b: BookingView) -> Dict[str, Any]:
    site = cat.sites.get(b.site_id)
    service = cat.services.get(b.service_id)
    return {"code": b.code, "service_name": service.name if service else b.service_id,
            "date": describe_date(b.start.date()), "time": describe_time(b.start.time()),
            "end_time": describe_time(b.end.time()), "site_name": site.name if site else b.site_id,
            "site_phone": site.phone if site else "", "site_address": site.address if site else "",
            "address": b.address or "", "person": b.person, "phone": b.phone_masked,
            "prepare": service.prepare if service else ""}


def render_lines(template: str, cat: Catalogue, rows: List[BookingView]) -> str:
    """One line per booking, worded by the domain's item template."""
    return "\n".join(template.format(**booking_values(cat, b)) for b in rows)


async def upcoming(conversation_id: str, phone_hash: Optional[str], now: dt.datetime,
                   url: Optional[str] = None) -> List[BookingView]:
    return await bookings.list_bookings(url, conversation_id=conversation_id, phone_hash=phone_hash,
                                        upcoming_from=now, include_cancelled=False)


def _contact(msg: Message, cat: Catalogue, now: dt.datetime,
             state: Dict[str, Any]) -> Tuple[Dict[str, Any], Optional[str], Optional[str]]:
    u = understand(msg, cat, now, requested=PHONE)
    changes: Dict[str, Any] = {}
    phone_hash = state.get(PHONE_HASH)
    if u.phone_hash:
        changes = {PHONE: u.phone_masked, PHONE_HASH: u.phone_hash}
        phone_hash = u.phone_hash
    return changes, phone_hash, u.code


def _minutes_until(until: Optional[dt.datetime]) -> int:
    if until is None:
        return 30
    return max(1, math.ceil((until - naive_utcnow(whole_seconds=True)).total_seconds() / 60))


async def _trusted_phone(msg: Message, conversation_id: str, phone_hash: Optional[str], changes: Dict[str, Any],
                         url) -> Tuple[Optional[str], List[Say], bool]:
    """The mobile (hash) whose bookings this conversation may see, what to say about proving it, and whether
    the next message should be the code.

    A number typed now gets a code sent to it; six digits typed after that are checked as the code."""
    if not phone_hash:
        return None, [], False
    if await phone_check.proven(conversation_id, phone_hash, url):
        return phone_hash, [], False
    code = phone_check.code_in(msg.text)
    if code and PHONE_HASH not in changes:
        result = await phone_check.check_code(conversation_id, phone_hash, code, url=url)
        if result.outcome == verification.OK:
            return phone_hash, [], False
        if result.outcome == verification.LOCKED or result.now_locked:
            return None, [Say("utter_booking_code_locked", {"minutes": _minutes_until(result.locked_until)})], False
        return None, [Say("utter_booking_code_wrong")], True
    number = phone_of(msg.text) or phone_of(msg.entity("phone") or "")
    if number and changes.get(PHONE_HASH) == phone_hash:
        sending = await phone_check.send_code(conversation_id, number, phone_hash, url=url)
        if sending.outcome == phone_check.SENT:
            return None, [Say("utter_booking_code_sent", {"phone": changes.get(PHONE) or ""})], True
        if sending.outcome == phone_check.LOCKED:
            return None, [Say("utter_booking_code_locked", {"minutes": _minutes_until(sending.locked_until)})], False
        return None, [Say("utter_booking_code_not_sent")], False
    return None, [], False


async def _owned(code: str, conversation_id: str, phone_hash: Optional[str], url) -> Optional[BookingView]:
    b = await bookings.get(code, url)
    if b and (b.conversation_id == conversation_id
              or (phone_hash and await bookings.phone_matches(code, phone_hash, url))):
        return b
    return None


async def list_step(msg: Message, state: Dict[str, Any], conversation_id: str, cat: Catalogue, now: dt.datetime,
                    templates: Dict[str, str], url: Optional[str] = None) -> Step:
    """``templates``: the domain's wording for one list line (item) and the per-booking buttons."""
    changes, phone_hash, _ = _contact(msg, cat, now, state)
    phone_hash, proof, code_next = await _trusted_phone(msg, conversation_id, phone_hash, changes, url)
    step = Step(dict(changes))
    step.slots[PENDING] = None
    if proof:
        step.say += proof
        step.slots[PENDING] = LIST_PHONE if code_next else None
        return step
    rows = await upcoming(conversation_id, phone_hash, now, url)
    if rows:
        buttons = []
        for b in rows[:3]:
            values = booking_values(cat, b)
            buttons.append({"title": templates["move_button"].format(**values),
                            "payload": payload("reschedule_booking", booking_code=b.code)})
            buttons.append({"title": templates["cancel_button"].format(**values),
                            "payload": payload("cancel_booking", booking_code=b.code)})
        step.say.append(Say("utter_booking_list", {"bookings": render_lines(templates["item"], cat, rows),
                                                   "count": len(rows)}, buttons))
    elif not phone_hash:
        step.say.append(Say("utter_booking_ask_phone_to_find"))
        step.slots[PENDING] = LIST_PHONE
    else:
        step.say.append(Say("utter_booking_none_found", {"phone": state.get(PHONE) or changes.get(PHONE) or ""}))
    return step


async def _target(msg: Message, state: Dict[str, Any], conversation_id: str, cat: Catalogue, now: dt.datetime,
                  url, templates: Dict[str, str], intent: str,
                  phone_pending: str) -> Tuple[Optional[BookingView], Step]:
    """Which booking the resident means: the code said (or on the button), else their only upcoming one."""
    changes, phone_hash, code = _contact(msg, cat, now, state)
    phone_hash, proof, code_next = await _trusted_phone(msg, conversation_id, phone_hash, changes, url)
    step = Step(dict(changes))
    code = code or (state.get(CODE) if state.get(PENDING) in (MOVE_WHEN, MOVE_CONFIRM, CANCEL_CONFIRM, MOVE_PHONE,
                                                               CANCEL_PHONE) else None)
    if proof:
        # Prove the mobile first; the booking asked about (if any) is remembered for after the code.
        step.say += proof
        step.slots.update({PENDING: phone_pending if code_next else None, CODE: code if code_next else None})
        return None, step
    if code:
        b = await _owned(code, conversation_id, phone_hash, url)
        if b is None:
            step.say.append(Say("utter_booking_code_not_found", {"code": code}))
            step.slots[PENDING] = None
            return None, step
        if b.status != bookings.BOOKED:
            step.say.append(Say("utter_booking_already_cancelled", booking_values(cat, b)))
            step.slots[PENDING] = None
            return None, step
        return b, step
    rows = await upcoming(conversation_id, phone_hash, now, url)
    if len(rows) == 1:
        return rows[0], step
    if len(rows) > 1:
        step.say.append(Say("utter_booking_which", {"bookings": render_lines(templates["item"], cat, rows)},
                            [{"title": templates["pick_button"].format(**booking_values(cat, b)),
                              "payload": payload(intent, booking_code=b.code)} for b in rows[:5]]))
        step.slots[PENDING] = None
        return None, step
    if not phone_hash:
        step.say.append(Say("utter_booking_ask_phone_to_find"))
        step.slots[PENDING] = phone_pending
    else:
        step.say.append(Say("utter_booking_none_found", {"phone": state.get(PHONE) or changes.get(PHONE) or ""}))
        step.slots[PENDING] = None
    return None, step


async def cancel_ask(msg, state, conversation_id, cat, now, templates, url=None) -> Step:
    b, step = await _target(msg, state, conversation_id, cat, now, url, templates, "cancel_booking", CANCEL_PHONE)
    if b:
        step.say.append(Say("utter_booking_cancel_confirm", booking_values(cat, b)))
        step.slots.update({CODE: b.code, PENDING: CANCEL_CONFIRM})
    return step


async def _proven_hash(state: Dict[str, Any], conversation_id: str, url) -> Optional[str]:
    """The mobile in the slots, only if this conversation proved it (checked again when the change is made)."""
    phone_hash = state.get(PHONE_HASH)
    return phone_hash if await phone_check.proven(conversation_id, phone_hash, url) else None


async def cancel_do(state, conversation_id, cat, url=None) -> Step:
    outcome = await bookings.cancel(state.get(CODE) or "", RESIDENT_CANCEL_REASON, by="resident", url=url,
                                    conversation_id=conversation_id, restrict=True,
                                    phone_hash=await _proven_hash(state, conversation_id, url))
    step = Step({PENDING: None, CODE: None})
    if outcome.status == bookings.OK:
        step.say.append(Say("utter_booking_cancelled", booking_values(cat, outcome.booking)))
    elif outcome.status == bookings.ALREADY_CANCELLED:
        step.say.append(Say("utter_booking_already_cancelled", booking_values(cat, outcome.booking)))
    else:
        step.say.append(Say("utter_booking_code_not_found", {"code": state.get(CODE) or ""}))
    return step


def _move_buttons(code: str, slots_: List[slotlib.Slot]) -> List[Dict[str, str]]:
    return [slot_button(s, "reschedule_booking", booking_code=code) for s in slots_]


async def move_ask(msg, state, conversation_id, cat, now, templates, url=None) -> Step:
    b, step = await _target(msg, state, conversation_id, cat, now, url, templates, "reschedule_booking",
                            MOVE_PHONE)
    if b is None:
        return step
    step.slots[CODE] = b.code
    values = booking_values(cat, b)
    offering = cat.offering(b.site_id, b.service_id, b.mode)
    asked = when_of(msg, now)
    if asked.empty or offering is None:
        step.say.append(Say("utter_booking_move_ask_when", values))
        step.slots[PENDING] = MOVE_WHEN
        return step
    w = merge(When(date=b.start.date(), time=b.start.time()), asked)
    verdict = slotlib.resolve(cat, offering, w, now)
    around = dt.datetime.combine(w.date, w.time or dt.time(9, 0)) if w.date else None
    step.slots[PENDING] = MOVE_WHEN
    if verdict.reason in EXPLAIN:
        alts = await bookings.alternatives(cat, offering, around, now, exclude=(b.start,), url=url)
        step.say.append(explain(verdict.reason, cat, offering, w, verdict.holiday, _move_buttons(b.code, alts)))
        return step
    if verdict.reason == slotlib.NEED_TIME:
        free = [s for s in await bookings.free_among(offering, verdict.candidates, url) if s.start != b.start]
        if free:
            step.say.append(Say("utter_ask_booking_time_choose", {"date": describe_date(w.date)},
                                _move_buttons(b.code, free[:6])))
            return step
        alts = await bookings.alternatives(cat, offering, around, now, exclude=(b.start,), url=url)
        step.say.append(Say("utter_booking_day_full", {"date": describe_date(w.date)}, _move_buttons(b.code, alts)))
        return step
    if verdict.slot.start == b.start:
        step.say.append(Say("utter_booking_move_same", values))
        step.slots[PENDING] = None
        return step
    if not await bookings.free_among(offering, [verdict.slot], url):
        alts = await bookings.alternatives(cat, offering, verdict.slot.start, now,
                                           exclude=(verdict.slot.start, b.start), url=url)
        full_at = When(date=verdict.slot.start.date(), time=verdict.slot.start.time())
        step.say.append(explain(slotlib.FULL, cat, offering, full_at, None, _move_buttons(b.code, alts)))
        return step
    values.update({"new_date": describe_date(verdict.slot.start.date()),
                   "new_time": describe_time(verdict.slot.start.time())})
    step.say.append(Say("utter_booking_move_confirm", values))
    step.slots.update({PENDING: MOVE_CONFIRM, MOVE_TO: verdict.slot.key})
    return step


async def move_do(state, conversation_id, cat, now, url=None) -> Step:
    code = state.get(CODE) or ""
    try:
        target = dt.datetime.fromisoformat(state.get(MOVE_TO) or "")
    except ValueError:
        return Step({PENDING: None}, [Say("utter_booking_move_ask_when", {"code": code})])
    outcome = await bookings.move(cat, code, target, now, url=url, conversation_id=conversation_id,
                                  phone_hash=await _proven_hash(state, conversation_id, url), restrict=True)
    if outcome.status in (bookings.OK, bookings.UNCHANGED):
        return Step({PENDING: None, CODE: None, MOVE_TO: None},
                    [Say("utter_booking_moved", booking_values(cat, outcome.booking))])
    if outcome.status in (bookings.FULL, bookings.INVALID):
        b = outcome.booking
        offering = cat.offering(b.site_id, b.service_id, b.mode)
        reason = slotlib.FULL if outcome.status == bookings.FULL else outcome.reason
        say = explain(reason, cat, offering, When(date=target.date(), time=target.time()), None,
                      _move_buttons(code, outcome.alternatives))
        return Step({PENDING: MOVE_WHEN, MOVE_TO: None}, [say])
    if outcome.status == bookings.ALREADY_CANCELLED:
        return Step({PENDING: None, CODE: None}, [Say("utter_booking_already_cancelled",
                                                      booking_values(cat, outcome.booking))])
    return Step({PENDING: None, CODE: None}, [Say("utter_booking_code_not_found", {"code": code})])
