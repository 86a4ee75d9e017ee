"""Re-reading a message as the intent it really is (Rasa's own clarification mechanism, as in its two-stage fallback):
the misread user event is reverted and the same text is logged again with the intent it was understood as, so the
ordinary rules and forms answer it. A re-read message carries ``second_reading`` in its parse data and is never
re-read again."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, EventType, SlotSet, UserUttered, UserUtteranceReverted

from actions.latest import CLASSIFIER_RANKING

REREAD_MARK = "second_reading"
# Slots filled from the entities of a re-read message (action_extract_slots ran on the misread one).
ENTITY_SLOTS = {"service": "service", "application_no": "application_no", "program": "program"}


def already_reread(tracker: Tracker) -> bool:
    return bool((tracker.latest_message or {}).get(REREAD_MARK))


def reread(tracker: Tracker, intent: str, entities: Dict[str, Any], domain: Dict[str, Any]) -> List[EventType]:
    """Events that replace the latest user message by the same text understood as ``intent``."""
    message = dict(tracker.latest_message or {})
    text = message.get("text") or ""
    found = [e for e in message.get("entities") or [] if e.get("entity") not in entities]
    found += [{"entity": k, "value": v, "extractor": "second_reading"} for k, v in entities.items()]
    parse = {"text": text, "intent": {"name": intent, "confidence": 1.0},
             "intent_ranking": [{"name": intent, "confidence": 1.0}], "entities": found, REREAD_MARK: True,
             # What the classifier heard, for the aspect of a question re-read without one (actions.latest).
             CLASSIFIER_RANKING: message.get(CLASSIFIER_RANKING) or message.get("intent_ranking") or []}
    slots = set((domain or {}).get("slots", {}) or {})
    events: List[EventType] = [UserUtteranceReverted(), ActionExecuted("action_listen"),
                               UserUttered(text, parse_data=parse, input_channel=tracker.get_latest_input_channel())]
    events += [SlotSet(slot, entities[name]) for name, slot in ENTITY_SLOTS.items()
               if name in entities and slot in slots]
    return events


def typed_choice(tracker: Tracker, domain: Dict[str, Any], by_name: bool = False,
                 aspect_intent: Optional[str] = None) -> Optional[List[EventType]]:
    """"第二个" typed under an answer with buttons: re-read as that button's payload (outside forms, whose own
    questions take numbers and dates). With ``by_name`` also "改造那个 …" — a button named in part — and with
    ``aspect_intent`` the aspect the message asks of it ("要自己掏钱吗": the amount)."""
    from bot.nlu.textnorm import normalize
    from bot.understanding import choices

    if already_reread(tracker) or (tracker.active_loop or {}).get("name"):
        return None
    text = normalize((tracker.latest_message or {}).get("text") or "")
    buttons = choices.last_buttons(tracker.events)
    button = choices.choose(text, buttons) or (choices.by_name(text, buttons) if by_name else None)
    parsed = choices.parse_payload(button.get("payload", "")) if button else None
    if parsed is None:
        return None
    intent, entities = parsed
    if aspect_intent and intent == "ask_overview" and entities.get("program"):
        intent = aspect_intent
    return reread(tracker, intent, entities, domain)


def choice_named_in_part(tracker: Tracker, domain: Dict[str, Any], reading: Any,
                         asked_intent: Optional[str] = None) -> Optional[List[EventType]]:
    """"改造那个 要自己掏钱吗" under a list that offered 了解适老化改造: that button, asked what the message asks of
    it — its first question cue, else ``asked_intent`` (the classifier's) when that is a knowledge question."""
    from bot.understanding.reading import KNOWLEDGE_INTENTS

    aspect = KNOWLEDGE_INTENTS.get(reading.aspects[0]) if reading.aspects else asked_intent
    return typed_choice(tracker, domain, by_name=True,
                        aspect_intent=aspect if aspect in KNOWLEDGE_INTENTS.values() else None)
