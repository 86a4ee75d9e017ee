"""The resident's latest message, read one way by every action: its text, intent and entities
(rasa_sdk's Tracker holds the parse result as a plain dict, possibly empty)."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

from rasa_sdk import Tracker

# Parse-data key of a re-read message holding the classifier's own ranking (actions.rereading).
CLASSIFIER_RANKING = "classifier_ranking"


def latest_text(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("text") or ""


def latest_intent(tracker: Tracker) -> Optional[str]:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def latest_entities(tracker: Tracker) -> List[Dict[str, Any]]:
    return list((tracker.latest_message or {}).get("entities") or [])


def classifier_aspect_intent(tracker: Tracker, intents: Iterable[str], floor: float = 0.0) -> Optional[str]:
    """The knowledge intent (one of ``intents``) the classifier ranked highest for the latest message, also after
    it was re-read as another intent: a programme named without a question word ("评上了图个啥") is asked what
    the classifier heard rather than answered with the overview."""
    message = tracker.latest_message or {}
    ranking = message.get(CLASSIFIER_RANKING) or message.get("intent_ranking") or []
    wanted = set(intents)
    for entry in ranking:
        if entry.get("name") in wanted:
            return entry["name"] if (entry.get("confidence") or 0.0) >= floor else None
    return None
