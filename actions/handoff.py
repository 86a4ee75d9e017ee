"""Handoff actions: open a ticket and pause (action_handoff), hand back (action_handback), relay a staff text
(action_relay_staff_message), and keep a conversation with an open ticket paused across sessions
(action_session_start). The work is in bot.handoff; wording is in bot/domain/handoff.yml."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import (ActionExecuted, ConversationPaused, ConversationResumed, EventType, SessionStarted,
                             SlotSet)
from rasa_sdk.executor import CollectingDispatcher

from actions.latest import latest_intent
from bot.handoff import tickets
from bot.handoff.offices import load_offices
from bot.handoff.summary import summarise
from bot.handoff.wording import next_open_words

log = logging.getLogger(__name__)

# After this many misses in a row, asking for a person counts as "repeated misunderstanding".
MISUNDERSTOOD_AFTER = 2


def handoff_reason(tracker: Tracker) -> str:
    intent = latest_intent(tracker)
    if intent == "emergency":
        return "emergency"
    if intent == "complaint":
        return "complaint"
    try:
        misses = int(float(tracker.get_slot("fallback_count") or 0))
    except (TypeError, ValueError):
        misses = 0
    return "repeated_misunderstanding" if misses >= MISUNDERSTOOD_AFTER else "requested"


class ActionHandoff(Action):
    def name(self) -> Text:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        offices = load_offices()
        office = offices.get()
        channel = tracker.get_latest_input_channel() or ""
        info = summarise(tracker.events, tracker.current_slot_values())
        try:
            ticket, _created = await tickets.create_ticket(
                tracker.sender_id, channel, handoff_reason(tracker), info["summary"], info["context"], office.id)
            ahead = max(0, await tickets.queue_position(ticket["id"]) - 1)
        except Exception as exc:
            # Without a ticket nobody would ever answer: say so and stay with Huimin.
            log.error("handoff ticket could not be created: %s", type(exc).__name__)
            dispatcher.utter_message(response="utter_handoff_failed", office_phone=office.phone)
            return []
        now = offices.now()
        if office.is_open(now):
            if ahead:
                dispatcher.utter_message(response="utter_handoff_queued", queue_ahead=ahead,
                                         wait_minutes=max(1, ahead * office.minutes_per_ticket))
            else:
                dispatcher.utter_message(response="utter_handoff_next")
        else:
            when = next_open_words(office, now)
            response = "utter_handoff_after_hours_wechat" if channel == "wechat" else "utter_handoff_after_hours"
            dispatcher.utter_message(response=response, next_open=when, office_phone=office.phone)
        return [ConversationPaused()]


class ActionHandback(Action):
    """Run by the console (``POST /conversations/{id}/execute``) when the staff member is done."""

    def name(self) -> Text:
        return "action_handback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        dispatcher.utter_message(response="utter_handback")
        # The console runs this action outside a turn (POST …/execute), so no action_listen follows it; without one
        # the resident's next message is featurised after action_handback, no rule matches it and the core
        # fallback answers 没听明白. Listening is what the assistant does now.
        return [ConversationResumed(), SlotSet("fallback_count", 0.0), ActionExecuted("action_listen")]


class ActionRelayStaffMessage(Action):
    """Says the text in the ``staff_message`` slot (for relays that set the slot and execute this action)."""

    def name(self) -> Text:
        return "action_relay_staff_message"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        text = tracker.get_slot("staff_message")
        if text:
            dispatcher.utter_message(text=str(text))
        return [SlotSet("staff_message", None)]


class ActionSessionStart(Action):
    """Rasa's session start, plus: a conversation whose ticket is still open stays paused (a new session
    would otherwise un-pause it and Huimin would talk over the staff member)."""

    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        events: List[EventType] = [SessionStarted()]
        if (domain.get("session_config") or {}).get("carry_over_slots_to_new_session", True):
            events += [SlotSet(name, value) for name, value in tracker.current_slot_values().items()
                       if value is not None and name != "session_started_metadata"]
        try:
            held = await tickets.open_ticket_for(tracker.sender_id)
        except Exception as exc:
            log.error("could not check for an open handoff ticket: %s", type(exc).__name__)
            held = None
        if held is not None:
            events.append(ConversationPaused())
        events.append(ActionExecuted("action_listen"))
        return events
