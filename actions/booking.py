"""Booking elderly-care services in the conversation — thin adapters over ``bot.booking`` (form logic in
``bot/booking/form.py``, list/cancel/move in ``bot/booking/manage.py``). All wording is in
``bot/domain/booking.yml``; the contact mobile only ever appears masked.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Callable, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.latest import latest_entities, latest_intent, latest_text
from actions.rereading import already_reread, reread
from actions.understanding import first_reading
from bot.booking import bookings, contacts, form, manage, nearest, slots, when
from bot.booking.catalogue import CatalogueError, get_catalogue
from bot.booking.understand import PHONE_PURPOSE, Message, phone_of
from bot.privacy import keyed_hash

logger = logging.getLogger(__name__)

# The wall clock (Asia/Shanghai, naive). Tests replace it to make dates deterministic.
CLOCK: Callable[[], dt.datetime] = when.now

# Actions Rasa runs between a message and the form's validation of it (the form inserts its own name).
_BEFORE_VALIDATION = {"action_listen", "action_extract_slots", "booking_form"}
ALL_SLOTS = form.FORM_SLOTS + form.CONTACT_SLOTS + (manage.CODE, manage.PENDING, manage.MOVE_TO, "booking_outcome")


def _message(tracker: Tracker) -> Message:
    return Message(text=latest_text(tracker), intent=latest_intent(tracker) or "",
                   entities=latest_entities(tracker))


def _asks_something_else(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """A message the classifier was unsure of that the second reading finds to be something else than an answer to
    the form: a question about a programme ("还有那个残急人补贴咋申请" while the address is asked), a request for a
    person, distress or danger."""
    reading = first_reading(dispatcher, tracker)
    if reading is None:
        return False
    return reading.wants_human or reading.danger or reading.distress or bool(
        reading.programs and reading.aspects and not reading.booking)


def _state(tracker: Tracker) -> Dict[str, Any]:
    return {name: tracker.get_slot(name) for name in ALL_SLOTS}


def _emit(dispatcher: CollectingDispatcher, step) -> List[EventType]:
    for say in step.say:
        dispatcher.utter_message(response=say.response, buttons=say.buttons or None, **say.values)
    return [SlotSet(k, v) for k, v in step.slots.items()]


async def _keep_contact(tracker: Tracker, step) -> None:
    """The slots and the tracker keep only the mask: the mobile a step takes is stored encrypted for the
    conversation, so that the booking made with it can be called (bot/booking/contacts.py)."""
    phone_hash = step.slots.get(form.PHONE_HASH)
    if not phone_hash:
        return
    msg = _message(tracker)
    for number in (phone_of(msg.text), phone_of(msg.entity("phone") or "")):
        if number and keyed_hash(number, PHONE_PURPOSE) == phone_hash:
            try:
                await contacts.keep(tracker.sender_id, number)
            except Exception:  # the booking can still be made; staff then see only the mask
                logger.exception("the booking contact could not be kept")
            return


def _template(domain: Dict[str, Any], name: str) -> str:
    variations = (domain.get("responses") or {}).get(name) or [{}]
    return variations[0].get("text") or ""


def _templates(domain: Dict[str, Any]) -> Dict[str, str]:
    return {"item": _template(domain, "utter_booking_list_item"),
            "move_button": _template(domain, "utter_booking_button_move"),
            "cancel_button": _template(domain, "utter_booking_button_cancel"),
            "pick_button": _template(domain, "utter_booking_button_pick")}


def _catalogue(dispatcher: CollectingDispatcher):
    try:
        return get_catalogue()
    except (CatalogueError, OSError) as exc:
        logger.error("booking catalogue unavailable: %s", exc)
        dispatcher.utter_message(response="utter_booking_unavailable")
        return None


def _fresh_message(tracker: Tracker) -> bool:
    """True when the latest user message has not been handled by another action yet (then it is an answer for
    the form); False when the form resumes after a rule answered it (a question, "我的预约", a full slot)."""
    for event in reversed(tracker.events or []):
        if event.get("event") == "user":
            return True
        if event.get("event") == "action" and event.get("name") not in _BEFORE_VALIDATION:
            return False
    return True


def _confirmation_key(tracker: Tracker) -> str:
    """Conversation + the confirming user message: a replay of that message (double tap, channel retry, action
    retry) maps to the same key, and the database keeps the key unique."""
    for event in reversed(tracker.events or []):
        if event.get("event") == "user":
            return bookings.idempotency_key(tracker.sender_id,
                                            str(event.get("message_id") or event.get("timestamp") or ""))
    return bookings.idempotency_key(tracker.sender_id, "no-user-message")


class ValidateBookingForm(Action):
    def name(self) -> Text:
        return "validate_booking_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        cat = _catalogue(dispatcher)
        if cat is None:
            return []
        state = _state(tracker)
        # Coming back after an interruption: the latest message was the question, not an answer for the form.
        if not _fresh_message(tracker):
            return [SlotSet("requested_slot", form.next_slot(cat, state))]
        message = _message(tracker)
        if message.intent not in form.INTERRUPTING and _asks_something_else(dispatcher, tracker):
            return []  # the form steps aside, as for any question; it asks again once that is answered
        try:
            step = await form.validate(state, message, tracker.get_slot("requested_slot"), cat, CLOCK())
        except Exception:  # the database is down: say so plainly instead of failing silently
            logger.exception("booking form validation failed")
            dispatcher.utter_message(response="utter_booking_unavailable")
            return []
        if step is None:
            return []  # not an answer: the form steps aside and the rules answer the message
        state.update(step.slots)
        await _keep_contact(tracker, step)
        # Which slots are needed depends on the answers (at home: an address; at a site: which site), so the
        # validation decides what to ask next; None completes the form.
        return _emit(dispatcher, step) + [SlotSet("requested_slot", form.next_slot(cat, state))]


class _Ask:
    """Asks for one form slot with buttons computed from the catalogue (mixed into Action below, so that
    rasa-sdk does not register this base as an action of its own)."""
    slot = ""

    def name(self) -> Text:
        return f"action_ask_{self.slot}"

    async def step(self, cat, state):  # pragma: no cover - overridden
        raise NotImplementedError

    async def run(self, dispatcher, tracker, domain):
        cat = _catalogue(dispatcher)
        if cat is None:
            return []
        return _emit(dispatcher, await self.step(cat, _state(tracker)))


class AskService(_Ask, Action):
    slot = form.SERVICE

    async def step(self, cat, state):
        return form.ask_service(cat)


class AskSite(_Ask, Action):
    slot = form.SITE

    async def step(self, cat, state):
        return form.ask_site(cat, state)


class AskDate(_Ask, Action):
    slot = form.DATE

    async def step(self, cat, state):
        return await form.ask_date(cat, state, CLOCK())


class AskTime(_Ask, Action):
    slot = form.TIME

    async def step(self, cat, state):
        return await form.ask_time(cat, state, CLOCK())


class AskConfirmed(_Ask, Action):
    slot = form.CONFIRMED

    async def step(self, cat, state):
        return form.ask_confirmed(cat, state)


class ActionBookingConfirm(Action):
    """Runs when the form is complete and confirmed: books, or explains why not and goes back to the form."""

    def name(self) -> Text:
        return "action_booking_confirm"

    async def run(self, dispatcher, tracker, domain):
        cat = _catalogue(dispatcher)
        state = _state(tracker)
        if cat is None or state.get(form.CONFIRMED) is not True:
            return []
        now = CLOCK()
        try:
            start = dt.datetime.fromisoformat(f"{state[form.DATE]}T{state[form.TIME]}")
            cipher = await contacts.cipher_for(tracker.sender_id, state[form.PHONE_HASH])
            request = bookings.BookingRequest(
                service_id=state[form.SERVICE], mode=state[form.MODE], site_id=state[form.SITE], start=start,
                person=state[form.PERSON], phone_masked=state[form.PHONE], phone_hash=state[form.PHONE_HASH],
                address=state.get(form.ADDRESS) if state[form.MODE] == "home" else None,
                conversation_id=tracker.sender_id, phone_cipher=cipher)
            outcome = await bookings.book(cat, request, _confirmation_key(tracker), now)
        except (KeyError, TypeError, ValueError):
            logger.warning("booking form completed with missing slots")
            return [SlotSet(form.CONFIRMED, None), SlotSet("booking_outcome", "full")]
        except Exception:
            logger.exception("booking failed")
            dispatcher.utter_message(response="utter_booking_unavailable")
            return [SlotSet(form.CONFIRMED, None), SlotSet("booking_outcome", "failed")]
        if outcome.status in (bookings.OK, bookings.REPLAYED):
            dispatcher.utter_message(response="utter_booking_done", **manage.booking_values(cat, outcome.booking))
            return [SlotSet(name, None) for name in form.FORM_SLOTS] + [SlotSet("booking_outcome", "booked")]
        buttons = [form.slot_button(s) for s in outcome.alternatives]
        offering = cat.offering(request.site_id, request.service_id, request.mode)
        reason = slots.FULL if outcome.status == bookings.FULL else outcome.reason
        say = form.explain(reason, cat, offering, when.When(date=start.date(), time=start.time()), None, buttons)
        dispatcher.utter_message(response=say.response, buttons=buttons or None, **say.values)
        if outcome.status == bookings.FULL:
            events = [SlotSet(form.TIME, None)]
        else:
            events = [SlotSet(form.DATE, None), SlotSet(form.TIME, None), SlotSet(form.PART, None)]
        return events + [SlotSet(form.CONFIRMED, None), SlotSet(form.OFFERED, bool(buttons)),
                         SlotSet("booking_outcome", "full")]


class ActionBookingStop(Action):
    """"算了" inside the booking form: forget the half-filled booking (the contact mobile is kept)."""

    def name(self) -> Text:
        return "action_booking_stop"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(response="utter_booking_stopped")
        return [SlotSet(name, None) for name in form.FORM_SLOTS] + [SlotSet("requested_slot", None)]


class ActionBookingManage(Action):
    """"我的预约", "取消预约 …", "改到后天" and the follow-ups (a mobile to find them, 确认/不用了)."""

    def name(self) -> Text:
        return "action_booking_manage"

    async def run(self, dispatcher, tracker, domain):
        cat = _catalogue(dispatcher)
        if cat is None:
            return []
        msg, state, now = _message(tracker), _state(tracker), CLOCK()
        pending = state.get(manage.PENDING)
        conv = tracker.sender_id
        templates = _templates(domain)
        intent = msg.intent
        if intent == "my_bookings" and not pending and not already_reread(tracker):
            number = _entity_value(tracker, "application_no")
            if number:
                # "之前交过一次 号是MZ-2026-… 帮我看看": an application number, not a booking (codes are YY…).
                return reread(tracker, "check_status", {"application_no": number}, domain)
            wanted = _new_booking_asked(dispatcher, tracker)
            if wanted:
                # "帮我 book 个 visit": a new booking, not the list of old ones.
                return reread(tracker, "book_service", {"service": wanted}, domain)
        try:
            if pending == manage.CANCEL_CONFIRM and intent in ("affirm", "deny"):
                if intent == "affirm":
                    step = await manage.cancel_do(state, conv, cat)
                else:
                    step = manage.Step({manage.PENDING: None, manage.CODE: None}, [form.Say("utter_booking_kept")])
            elif pending == manage.MOVE_CONFIRM and intent in ("affirm", "deny"):
                if intent == "affirm":
                    step = await manage.move_do(state, conv, cat, now)
                else:
                    step = manage.Step({manage.PENDING: None, manage.MOVE_TO: None},
                                       [form.Say("utter_booking_kept")])
            elif intent == "my_bookings" or (pending == manage.LIST_PHONE and intent not in (
                    "cancel_booking", "reschedule_booking")):
                step = await manage.list_step(msg, state, conv, cat, now, templates)
            elif intent == "cancel_booking" or pending == manage.CANCEL_PHONE:
                step = await manage.cancel_ask(msg, state, conv, cat, now, templates)
            else:  # reschedule_booking, or the new time / mobile after we asked for it
                step = await manage.move_ask(msg, state, conv, cat, now, templates)
        except Exception:
            logger.exception("booking management failed")
            dispatcher.utter_message(response="utter_booking_unavailable")
            return []
        await _keep_contact(tracker, step)
        return _emit(dispatcher, step)


def _new_booking_asked(dispatcher: CollectingDispatcher, tracker: Tracker) -> Optional[str]:
    """The service of a new booking the message asks for, read from its words (bot.understanding), if any."""
    from actions.knowledge import current_knowledge
    from bot.understanding.context import reading_of

    kb = current_knowledge(dispatcher)
    decision = reading_of(kb, tracker).intent() if kb is not None else None
    return decision[1].get("service") if decision and decision[0] == "book_service" else None


def _entity_value(tracker: Tracker, name: str) -> Any:
    for entity in latest_entities(tracker):
        if entity.get("entity") == name:
            return entity.get("value")
    return None


class ActionNearestSites(Action):
    """A location sent on WeChat: the nearest service sites, with buttons to book a service of the nearest."""

    def name(self) -> Text:
        return "action_nearest_sites"

    async def run(self, dispatcher, tracker, domain):
        cat = _catalogue(dispatcher)
        if cat is None:
            return []
        where = nearest.point(_entity_value(tracker, "latitude"), _entity_value(tracker, "longitude"))
        found = nearest.nearest_sites(cat, *where, within_m=nearest.NEARBY_LIMIT_M) if where else []
        if not found:
            dispatcher.utter_message(response="utter_nearest_sites_none")
            return []
        templates = {key: _template(domain, name) for key, name in nearest.TEMPLATES.items()}
        closest = found[0][0]
        dispatcher.utter_message(
            response="utter_nearest_sites", buttons=nearest.service_buttons(cat, closest) or None,
            sites="\n".join(nearest.describe_site(site, metres, templates) for site, metres in found),
            nearest=closest.name)
        return []
