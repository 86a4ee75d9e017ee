"""Application status lookup: the form's validation (number, second factor, lockout) and the result.

Thin adapter over bot.applications: numbers.py understands what was typed, verification.py checks the second
factor with atomic lockout counters, status_text.py says what the status means. All wording is in
bot/domain/status.yml and knowledge/application_status.yml.
"""
from __future__ import annotations

import logging
import math
import time
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.latest import latest_entities, latest_intent, latest_text
from bot.applications import attempt_limits, verification
from bot.applications.numbers import (canonical_application_no, find_application_no, looks_like_answer_attempt,
                                      parse_answer)
from bot.clock import naive_utcnow
from bot.privacy import install_log_redaction

# The action server configures logging before it imports the actions: mask personal numbers from here on.
install_log_redaction()
logger = logging.getLogger(__name__)

VERIFIED = "verified"
# A verified resident may look again without a second factor for this long (same conversation).
VERIFIED_WINDOW_SECONDS = 600


def _catalogue():
    # The knowledge base's process-wide store reloads itself when an editor changes a file.
    from bot.applications.programs import ProgramCatalogue
    from bot.knowledge.loader import default_store

    return ProgramCatalogue(default_store().get())


async def verified_number(tracker: Tracker, now: Optional[float] = None) -> Optional[str]:
    """The application number this conversation verified less than 10 minutes ago, if any.

    The slots only say which number to check; the server's own verification record for this conversation
    decides (a tracker sent to the action server could claim anything)."""
    number, at = tracker.get_slot("status_verified_no"), tracker.get_slot("status_verified_at")
    now = time.time() if now is None else now
    if not (number and isinstance(number, str) and isinstance(at, (int, float))
            and 0 <= now - at <= VERIFIED_WINDOW_SECONDS):
        return None
    if await verification.verified_within(number, tracker.sender_id, timedelta(seconds=VERIFIED_WINDOW_SECONDS)):
        return number
    return None


def _minutes_until(until: Optional[datetime]) -> int:
    if until is None:
        return 30
    return max(1, math.ceil((until - naive_utcnow(whole_seconds=True)).total_seconds() / 60))


def _text(tracker: Tracker) -> str:
    return latest_text(tracker)


def _meant_as_number(tracker: Tracker) -> bool:
    """A number, not a question with a figure in it ("80岁以上能领多少" is answered, not taken as a number)."""
    intent = latest_intent(tracker)
    return looks_like_answer_attempt(_text(tracker), min_digits=1 if intent == "inform" else 4)


def _entity(tracker: Tracker, name: str) -> Optional[str]:
    for entity in latest_entities(tracker):
        if entity.get("entity") == name and entity.get("value"):
            return str(entity["value"])
    return None


def _end_form() -> Dict[Text, Any]:
    return {"application_no": None, "status_answer": None, "requested_slot": None}


class ValidateStatusForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_status_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        # An exception here would make rasa-sdk answer 500 with the whole tracker (the typed answer included)
        # echoed into Rasa's error log: end the lookup politely instead.
        try:
            return await super().run(dispatcher, tracker, domain)
        except Exception:
            logger.exception("status lookup failed; the lookup is ended")
            dispatcher.utter_message(response="utter_status_unavailable")
            return [SlotSet(k, v) for k, v in _end_form().items()]

    async def extract_application_no(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: DomainDict) -> Dict[Text, Any]:
        # No requested slot yet: the form is being activated by this message (Rasa already marks the loop
        # active in the tracker it sends, so the active loop cannot tell).
        requested = tracker.get_slot("requested_slot")
        text = _text(tracker)
        found = find_application_no(text, whole_message_is_number=requested == "application_no")
        if found is None and (entity := _entity(tracker, "application_no")):
            found = canonical_application_no(entity)
        if found:
            return {"application_no": found}
        if requested == "application_no" and _meant_as_number(tracker):
            # Meant as a number but not one: validate_application_no explains (never echoing it).
            return {"application_no": text}
        if requested is None and not tracker.get_slot("application_no"):
            # A new lookup shortly after a verified one: the same application, no second factor again.
            number = await verified_number(tracker)
            if number:
                return {"application_no": number}
        return {}

    async def extract_status_answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") != "status_answer":
            return {}
        text = _text(tracker)
        if find_application_no(text):  # a corrected application number, handled by extract_application_no
            return {}
        return {"status_answer": text} if _meant_as_number(tracker) else {}

    async def validate_application_no(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: DomainDict) -> Dict[Text, Any]:
        number = find_application_no(str(value), whole_message_is_number=True) if value else None
        if number is None:
            dispatcher.utter_message(response="utter_status_bad_number")
            return {"application_no": None}
        until = await verification.lock_state(number, tracker.sender_id)
        if until is not None:
            dispatcher.utter_message(response="utter_status_locked", minutes=_minutes_until(until))
            return _end_form()
        if await verified_number(tracker) == number:
            return {"application_no": number, "status_answer": VERIFIED}
        # A different number than the one being verified: its answer must be asked again.
        return {"application_no": number, "status_answer": None}

    async def validate_status_answer(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: DomainDict) -> Dict[Text, Any]:
        if value == VERIFIED:
            return {"status_answer": VERIFIED}
        number = tracker.get_slot("application_no")
        answer = parse_answer(str(value or ""))
        if answer is None:
            dispatcher.utter_message(response="utter_status_bad_answer")
            return {"status_answer": None}
        if not number:
            return {"status_answer": None}
        result = await attempt_limits.verify(number, answer, tracker.sender_id,
                                             attempt_limits.client_of(tracker.events, tracker.sender_id))
        if result.outcome == verification.OK:
            return {"status_answer": VERIFIED, "status_verified_no": number, "status_verified_at": time.time()}
        if result.outcome == verification.LOCKED or result.now_locked:
            dispatcher.utter_message(response="utter_status_locked", minutes=_minutes_until(result.locked_until))
            return _end_form()
        # Unknown number and wrong answer: the same words, so nobody learns which numbers exist.
        dispatcher.utter_message(response="utter_status_not_matched")
        return {"status_answer": None}


class ActionStatusResult(Action):
    """After the form: show the verified application (programme, masked name, status, meaning, date)."""

    def name(self) -> Text:
        return "action_status_result"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        reset = [SlotSet("application_no", None), SlotSet("status_answer", None)]
        try:
            return await self._show(dispatcher, tracker) + reset
        except Exception:
            logger.exception("showing the application status failed")
            dispatcher.utter_message(response="utter_status_unavailable")
            return reset

    async def _show(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> List[Dict[Text, Any]]:
        from bot.applications.records import get_application, is_demo_record, last_status_change
        from bot.applications.status_text import demo_notice, load_status_texts

        number = await verified_number(tracker)
        if not number or tracker.get_slot("status_answer") != VERIFIED:
            return []
        app = await get_application(number)
        if app is None:  # removed since verification
            dispatcher.utter_message(response="utter_status_unavailable")
            return []
        change = await last_status_change(app.id)
        changed = change.changed_at if change else app.updated_at
        program = _catalogue().name(app.program_id)
        text = load_status_texts(program_id=app.program_id).get(app.status)
        meaning = text.render(program, app.note) if text else ""
        if await is_demo_record(app.id):  # a fictitious applicant of the demo seed: say so
            meaning = "\n".join(t for t in (meaning, demo_notice()) if t)
        dispatcher.utter_message(
            response="utter_status_result",
            program=program, name=app.name_masked, application_no=app.application_no,
            status=text.label if text else app.status,
            changed=f"{changed.year}年{changed.month}月{changed.day}日",
            meaning=meaning,
        )
        return []


class ActionStatusCancel(Action):
    """"算了 / 不查了" during the lookup: leave it, forget the number and anything typed for it."""

    def name(self) -> Text:
        return "action_status_cancel"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        dispatcher.utter_message(response="utter_status_cancelled")
        return [SlotSet("application_no", None), SlotSet("status_answer", None), SlotSet("requested_slot", None)]
