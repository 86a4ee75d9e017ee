"""Knowledge questions: pick the programme, aspect and locality from the tracker; the answer itself (text and
quick-reply buttons) is rendered by ``bot.knowledge.answers`` from ``knowledge/``.

The programme carries across turns in the ``program`` slot. An aspect asked without any programme gets a
clarifying question, and the aspect waits in ``pending_aspect`` for the next message naming a programme.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.knowledge import answers
from bot.knowledge.loader import KnowledgeBase, KnowledgeError, KnowledgeStore

logger = logging.getLogger(__name__)

OVERVIEW = "overview"
INFORM = "inform"

_store: Optional[KnowledgeStore] = None


def knowledge_store() -> KnowledgeStore:
    """Created on first use (not at import), so the action server starts even before knowledge/ is readable,
    and tests can point HUIMIN_KNOWLEDGE_DIR elsewhere before the first question."""
    global _store
    if _store is None:
        _store = KnowledgeStore()
    return _store


def current_knowledge(dispatcher: CollectingDispatcher) -> Optional[KnowledgeBase]:
    try:
        return knowledge_store().get()
    except (KnowledgeError, OSError):
        # The store keeps the last good version once it has one; this only happens on a broken first load.
        logger.exception("knowledge base could not be loaded")
        dispatcher.utter_message(response="utter_knowledge_unavailable")
        return None


# ---------------------------------------------------------------------------------------------------------
# Reading the tracker

def latest_intent(tracker: Tracker) -> Optional[str]:
    return (tracker.latest_message or {}).get("intent", {}).get("name")


def entity_values(tracker: Tracker, entity: str) -> List[str]:
    return [v for v in tracker.get_latest_entity_values(entity) if isinstance(v, str) and v]


def resolve_program(kb: KnowledgeBase, value: Optional[str]) -> Optional[str]:
    """Entity values are programme ids; a name or alias (e.g. typed into a payload) is accepted too."""
    if not value:
        return None
    if value in kb.programs:
        return value
    found = kb.find_program(value)
    return found.id if found else None


def resolve_locality(kb: KnowledgeBase, value: Optional[str]) -> Optional[str]:
    if not value:
        return None
    if value in kb.localities:
        return value
    found = kb.find_locality(value)
    return found.id if found else None


def fresh_pending_aspect(tracker: Tracker) -> Optional[str]:
    """The aspect of a clarifying question asked in the turn just before this message, if any.

    Only the previous turn counts: a clarifying question left unanswered while the resident moved on must not
    hijack a programme name typed much later. Reverted turns (fallback misses) do not count as turns.
    """
    users_seen = 0
    for event in reversed(tracker.applied_events()):
        kind = event.get("event")
        if kind == "user":
            users_seen += 1
            if users_seen == 2:
                break
        elif kind == "slot" and event.get("name") == "pending_aspect" and users_seen == 1:
            return event.get("value") or None
    return None


def _locality_for(kb: KnowledgeBase, tracker: Tracker) -> Tuple[Optional[str], bool]:
    """(locality id, whether it was named in this message). The deployment's HUIMIN_LOCALITY is the default."""
    for value in entity_values(tracker, "locality"):
        loc = resolve_locality(kb, value)
        if loc:
            return loc, True
    loc = resolve_locality(kb, tracker.get_slot("locality"))
    if loc:
        return loc, False
    from bot.settings import get_settings

    return resolve_locality(kb, get_settings().locality), False


def named_service_item(kb: KnowledgeBase, tracker: Tracker) -> Tuple[Optional[str], Optional[str]]:
    """(service-list item id, the programme it stands for) of the first item named in this message."""
    for value in entity_values(tracker, "service_item"):
        item = kb.service_list.items.get(value) or kb.find_service_item(value)
        if item is not None:
            return item.id, (item.program if item.program in kb.programs else None)
    return None, None


def _send(dispatcher: CollectingDispatcher, answer: answers.Answer) -> None:
    dispatcher.utter_message(**answer.as_message())


# ---------------------------------------------------------------------------------------------------------
# Actions

class ActionAnswerKnowledge(Action):
    """Answers ask_overview … ask_handler, and a bare programme/place name (``inform``)."""

    def name(self) -> Text:
        return "action_answer_knowledge"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb = current_knowledge(dispatcher)
        if kb is None:
            return []
        intent = latest_intent(tracker)
        locality_id, locality_named = _locality_for(kb, tracker)
        named = entity_values(tracker, "program")
        program_named = next((p for p in (resolve_program(kb, v) for v in named) if p), None)
        pending = fresh_pending_aspect(tracker)

        if named and program_named is None:
            dispatcher.utter_message(response="utter_program_unknown")
            return self._clear_pending(tracker)

        if program_named is None and not named:
            item_id, item_program = named_service_item(kb, tracker)
            if item_program:
                program_named = item_program
            elif item_id:
                _send(dispatcher, answers.render_service_list(kb, item_id, locality_id))
                return self._clear_pending(tracker)
            elif kb.mentions_service_list((tracker.latest_message or {}).get("text")):
                _send(dispatcher, answers.render_service_list(kb, None, locality_id))
                return self._clear_pending(tracker)

        aspect = kb.aspect_for_intent(intent)
        if pending and program_named and (intent == INFORM or aspect == OVERVIEW):
            # "要带什么材料？" → "哪一项？" → "低保": answer the aspect asked first.
            aspect = pending
        elif intent == INFORM or aspect is None:
            if program_named:
                aspect = OVERVIEW
            elif locality_named and tracker.get_slot("program"):
                # "高龄津贴多少钱" → "那广州呢？": the same question for another place.
                aspect = tracker.get_slot("aspect") or OVERVIEW
            else:
                aspect = pending or OVERVIEW

        program_id = program_named or resolve_program(kb, tracker.get_slot("program"))
        if program_id is None:
            _send(dispatcher, answers.render_clarify_program(kb, aspect, locality_id))
            return [SlotSet("pending_aspect", aspect)]

        said = (tracker.latest_message or {}).get("text")
        _send(dispatcher, answers.render_answer(kb, program_id, aspect, locality_id, said=said))
        events: List[EventType] = [SlotSet("program", program_id), SlotSet("aspect", aspect)]
        if locality_named:
            events.append(SlotSet("locality", locality_id))
        return events + self._clear_pending(tracker)

    @staticmethod
    def _clear_pending(tracker: Tracker) -> List[EventType]:
        return [SlotSet("pending_aspect", None)] if tracker.get_slot("pending_aspect") else []


class ActionAnswerServiceList(Action):
    """The national basic elderly-care service list, or one of its items."""

    def name(self) -> Text:
        return "action_answer_service_list"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb = current_knowledge(dispatcher)
        if kb is None:
            return []
        locality_id, _ = _locality_for(kb, tracker)
        item_id, _ = named_service_item(kb, tracker)
        _send(dispatcher, answers.render_service_list(kb, item_id, locality_id))
        return []
