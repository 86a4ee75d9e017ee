"""The fallback ladder: the first miss asks to rephrase, a second miss in a row offers a person.

Consecutive misses are counted in the ``fallback_count`` slot; its ``from_intent`` mapping (bot/domain/core.yml)
sets it back to 0 on every understood message, so this action only counts up.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions.latest import latest_intent

FALLBACK_COUNT_SLOT = "fallback_count"
# The miss number at which a person is offered instead of another "please rephrase".
OFFER_HUMAN_AT = 2


def misses_so_far(tracker: Tracker) -> int:
    value = tracker.get_slot(FALLBACK_COUNT_SLOT)
    try:
        return max(0, int(float(value or 0)))
    except (TypeError, ValueError):
        return 0


class ActionDefaultFallback(Action):
    """Replaces Rasa's default fallback (used for ``nlu_fallback`` and when no policy is confident)."""

    def name(self) -> Text:
        return "action_default_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        # Read the message again from the knowledge base before admitting a miss (actions/understanding.py).
        from actions.rereading import already_reread
        from actions.understanding import second_look

        # When no policy was confident (Rasa's core fallback, not ``nlu_fallback``), the message is re-read rather
        # than answered here: answered here, it would stay on record with the intent no rule follows, the next
        # prediction would be this fallback again, and the answer would repeat until Rasa's circuit breaker trips.
        core_fallback = latest_intent(tracker) != "nlu_fallback"
        events = second_look(dispatcher, tracker, domain, answer=not core_fallback)
        if events is not None:
            return events + [SlotSet(FALLBACK_COUNT_SLOT, 0.0)]
        loop = (tracker.active_loop or {}).get("name")
        if loop and already_reread(tracker):
            # Re-read for a form that still could not take it: the form asks its question again.
            return [FollowupAction(loop)]
        misses = misses_so_far(tracker) + 1
        if misses >= OFFER_HUMAN_AT:
            dispatcher.utter_message(response="utter_offer_human")
        else:
            dispatcher.utter_message(response="utter_ask_rephrase")
        # Revert the misunderstood message so it does not steer the next prediction (as Rasa's own fallback
        # does); the count is set after the revert, so it survives it.
        return [UserUtteranceReverted(), SlotSet(FALLBACK_COUNT_SLOT, float(misses))]
