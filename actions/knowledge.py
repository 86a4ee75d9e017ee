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

from pathlib import Path

from actions.rereading import already_reread, choice_named_in_part, reread, typed_choice
from actions.latest import classifier_aspect_intent, latest_entities, latest_intent, latest_text
from bot.knowledge import answers
from bot.knowledge.loader import KnowledgeBase, KnowledgeError, KnowledgeStore
from bot.understanding import replies
from bot.understanding.choices import is_list_of_entries, last_buttons, programs_offered
from bot.understanding.context import narrow_group, reading_for, service_names
from bot.understanding.lexicon import first_positions, load_lexicon
from bot.understanding.reading import KNOWLEDGE_INTENTS, Reading

logger = logging.getLogger(__name__)

OVERVIEW = "overview"
ELIGIBILITY = "eligibility"
REREAD_FROM_KNOWLEDGE = {"emergency", "request_human", "check_status", "distress", "book_service"}
INFORM = "inform"
# The classifier's aspect is used for a question without question words only when it gave it at least this much
# (chosen on the development sets; below it the overview with its aspect buttons serves better than a guess).
RANKED_ASPECT_FLOOR = 0.2

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

def entity_values(tracker: Tracker, entity: str) -> List[str]:
    return [v for v in tracker.get_latest_entity_values(entity) if isinstance(v, str) and v]


def _values(entities: List[Dict[str, Any]], entity: str) -> List[str]:
    return [e["value"] for e in entities
            if e.get("entity") == entity and isinstance(e.get("value"), str) and e["value"]]


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


def program_before_this_message(tracker: Tracker) -> Optional[str]:
    """The programme talked about before the latest message (the ``program`` slot is already refilled from this
    message's own entities by the time an action runs)."""
    seen_user = False
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            seen_user = True
        elif seen_user and kind == "slot" and event.get("name") == "program":
            return event.get("value")
    return None


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


def _locality_for(kb: KnowledgeBase, tracker: Tracker, entities: Optional[List[Dict[str, Any]]] = None
                  ) -> Tuple[Optional[str], bool]:
    """(locality id, whether it was named in this message). The deployment's HUIMIN_LOCALITY is the default."""
    named = _values(entities, "locality") if entities is not None else entity_values(tracker, "locality")
    for value in named:
        loc = resolve_locality(kb, value)
        if loc:
            return loc, True
    loc = resolve_locality(kb, tracker.get_slot("locality"))
    if loc:
        return loc, False
    from bot.settings import get_settings

    return resolve_locality(kb, get_settings().locality), False


def named_service_item(kb: KnowledgeBase, tracker: Tracker, entities: Optional[List[Dict[str, Any]]] = None
                       ) -> Tuple[Optional[str], Optional[str]]:
    """(service-list item id, the programme it stands for) of the first item named in this message."""
    named = _values(entities, "service_item") if entities is not None else entity_values(tracker, "service_item")
    for value in named:
        item = kb.service_list.items.get(value) or kb.find_service_item(value)
        if item is not None:
            return item.id, (item.program if item.program in kb.programs else None)
    return None, None


def send(dispatcher: CollectingDispatcher, answer: answers.Answer) -> None:
    dispatcher.utter_message(**answer.as_message())


def recommend(dispatcher: CollectingDispatcher, kb: KnowledgeBase, reading: Reading,
              offer_person: bool = True) -> List[EventType]:
    """Names the programmes and services that fit the situation told. The next question without a name ("能给
    多少钱", "怎么申请") is asked of the best fit, the first programme named; the others stay a tap away."""
    send(dispatcher, replies.recommend(kb, load_lexicon(Path(kb.directory)), reading.situations,
                                       service_names(kb.directory), offer_person=offer_person))
    programs = [s.entry_id for s in reading.situations if s.kind == "program" and s.entry_id in kb.programs]
    return [SlotSet("program", programs[0])] if programs else []


# ---------------------------------------------------------------------------------------------------------
# Actions

def heard_aspect_intent(tracker: Tracker) -> Optional[str]:
    """The knowledge question the classifier ranked highest for the latest message, if it gave it at least
    RANKED_ASPECT_FLOOR (also after the message was re-read as another intent)."""
    return classifier_aspect_intent(tracker, KNOWLEDGE_INTENTS.values(), RANKED_ASPECT_FLOOR)


def _clear_pending(tracker: Tracker) -> List[EventType]:
    return [SlotSet("pending_aspect", None)] if tracker.get_slot("pending_aspect") else []


def _aspect_asked(kb: KnowledgeBase, tracker: Tracker, intent: Optional[str], reading: Reading,
                  program_named: Optional[str], locality_named: bool, pending: Optional[str]
                  ) -> Tuple[str, List[str]]:
    """(the aspect to answer, the aspects cued by the words of the message in the order asked)."""
    aspect = kb.aspect_for_intent(intent)
    cued = [a for a in reading.aspects if a in kb.aspects]
    if cued and intent != INFORM:
        # The words of the question (多少钱, 去哪办) are more precise than the classifier's guess between aspects,
        # and the first one asked is answered first (the second is offered as the first button).
        aspect = cued[0]
    if aspect == OVERVIEW and not cued and program_named and reading.follow_up and tracker.get_slot("aspect") \
            and program_named != resolve_program(kb, program_before_this_message(tracker)):
        # "高龄津贴要带什么" → "那低宝呢": the same question of another programme, whatever the classifier guessed.
        return tracker.get_slot("aspect"), cued
    if aspect == OVERVIEW and not cued and intent != INFORM and not pending:
        # No question word, and the classifier's own guess was not an aspect ("低保边缘户又不发钱 评上了图个啥"
        # heard as distress): the aspect it ranked highest, if it ranked one above a bare name.
        ranked = classifier_aspect_intent(tracker, list(KNOWLEDGE_INTENTS.values()) + [INFORM], RANKED_ASPECT_FLOOR)
        if ranked and ranked != INFORM:
            aspect = kb.aspect_for_intent(ranked) or OVERVIEW
        elif reading.asks_whether and intent != kb.aspects[OVERVIEW].intent and ELIGIBILITY in kb.aspects:
            # "一个人带娃打零工 一个月两千出头 像我这种吃得上低保不": told who they are, asked yes or no.
            aspect = ELIGIBILITY
    if pending and program_named and (intent == INFORM or aspect == OVERVIEW) and not cued:
        # "要带什么材料？" → "哪一项？" → "低保": answer the aspect asked first.
        return pending, cued
    if intent == INFORM or aspect is None:
        if cued:
            return cued[0], cued
        if program_named and not (reading.follow_up and tracker.get_slot("aspect")):
            return OVERVIEW, cued
        if (locality_named or reading.places or reading.follow_up) and tracker.get_slot("program"):
            # "高龄津贴多少钱" → "那广州呢？" / "低保呢？": the same question for another place or programme.
            return tracker.get_slot("aspect") or OVERVIEW, cued
        return pending or OVERVIEW, cued
    return aspect, cued


def _with_place_note(kb: KnowledgeBase, lex: Any, answer: answers.Answer, reading: Reading,
                     locality_id: Optional[str], locality_named: bool) -> answers.Answer:
    """A place was heard whose own rule we have not recorded: say so plainly before the national text, never give
    the national text again as if it answered ("那成都呢", "广州高龄津贴多大岁数能领")."""
    locality = kb.localities.get(locality_id) if locality_named and locality_id else None
    if locality is not None:
        name = locality.short_name
        place = name if f"【{name}" not in answer.text and f"{name}的" not in answer.text else None
    else:
        place = reading.places[0] if reading.places else None
    if place is None:
        return answer
    return answers.Answer(text=replies.no_local_rule(lex, place) + "\n" + answer.text, buttons=answer.buttons,
                          program_id=answer.program_id, aspect=answer.aspect, locality_id=answer.locality_id,
                          verified=answer.verified)


def _member_just_offered(kb: KnowledgeBase, tracker: Tracker, program_id: Optional[str]) -> Optional[str]:
    """A group named right after a list that offered one of its members is that member: "护理补贴一个月多少" after
    the situation of a disabled daughter, whose list named 重度残疾人护理补贴."""
    group = kb.programs.get(program_id) if program_id else None
    if group is None or not group.is_group or not group.members:
        return program_id
    offered = [p for p in programs_offered(last_buttons(tracker.events)) if p in group.members]
    return offered[0] if len(offered) == 1 else program_id


def answer_message(dispatcher: CollectingDispatcher, tracker: Tracker, kb: KnowledgeBase, intent: Optional[str],
                   entities: List[Dict[str, Any]], reading: Optional[Reading] = None,
                   domain: Optional[Dict[str, Any]] = None, as_told: bool = False) -> List[EventType]:
    """Answers one message understood as ``intent`` with ``entities``; the second reading of its text supplies what
    the classifier missed: a programme named as a homophone or typo, a second question, a situation, a place we
    have no local rules for, two programmes asked together. ``as_told``: answer it as this question even though the
    message is also something else (distress that asks something concrete), never re-read it."""
    if reading is None:
        reading = reading_for(kb, latest_text(tracker), entities)
    lex = load_lexicon(Path(kb.directory))
    if not already_reread(tracker) and not as_told:
        chosen = typed_choice(tracker, domain or {})
        if chosen is None and not reading.recognised and reading.referral is None and is_list_of_entries(
                last_buttons(tracker.events)):
            # Only among a list of entries, never an aspect button of the programme just answered ("那批下来哪个月
            # 开始发").
            chosen = choice_named_in_part(tracker, domain or {}, reading, intent)
        if chosen is not None:
            return chosen
        # A number pasted alone, a request for a person, distress, a booking, danger: not a knowledge question,
        # whatever the classifier heard — re-read it so its own rule or form answers.
        decision = reading.intent(has_program_context=bool(tracker.get_slot("program")))
        if decision is not None and decision[0] in REREAD_FROM_KNOWLEDGE:
            return reread(tracker, decision[0], decision[1], domain or {})
    if reading.referral is not None and reading.referral_asked_last:
        # The programme was only who the resident is ("俺娘吃着低保"); the question is another office's business.
        send(dispatcher, replies.referral(lex, reading.referral))
        return _clear_pending(tracker)
    locality_id, locality_named = _locality_for(kb, tracker, entities)
    if not locality_named:
        loc = next((lid for lid in reading.localities if lid in kb.localities), None)
        if loc:
            locality_id, locality_named = loc, True
    named = _values(entities, "program")
    # The reading holds the classifier's programme entities too, minus any inside a longer name heard by sound.
    said = latest_text(tracker)
    program_named = narrow_group(kb, next((p for p in (resolve_program(kb, v) for v in reading.asked_programs) if p),
                                          None), said)
    program_named = _member_just_offered(kb, tracker, program_named)
    pending = fresh_pending_aspect(tracker)
    slot_program = resolve_program(kb, tracker.get_slot("program"))

    if named and program_named is None:
        dispatcher.utter_message(response="utter_program_unknown")
        return _clear_pending(tracker)

    programs = [p for p in dict.fromkeys(narrow_group(kb, resolve_program(kb, v), said) for v in reading.programs) if p]
    earlier = resolve_program(kb, program_before_this_message(tracker))
    if len(programs) == 1 and earlier and earlier != programs[0] and first_positions(
            reading.text, lex.together_with_last):
        # "跟刚性支出那个能一起认定吗" right after an answer about 低保边缘家庭: the pair is the last one and this one.
        programs = [earlier] + programs
    if len(programs) >= 2 and (reading.pair or first_positions(reading.text, lex.together_with_last)):
        combined = replies.combine(kb, lex, programs[0], programs[1])
        if combined is not None:
            send(dispatcher, combined)
            return [SlotSet("program", programs[0])] + _clear_pending(tracker)

    if program_named is None and not named:
        item_id, item_program = named_service_item(kb, tracker, entities)
        if item_program:
            program_named = item_program
        elif item_id:
            send(dispatcher, answers.render_service_list(kb, item_id, locality_id))
            return _clear_pending(tracker)
        elif kb.mentions_service_list(latest_text(tracker)):
            send(dispatcher, answers.render_service_list(kb, None, locality_id))
            return _clear_pending(tracker)
        elif reading.referral is not None:
            # 医保报销, 养老金调整 …: another office's business, whatever aspect the classifier heard.
            send(dispatcher, replies.referral(lex, reading.referral))
            return _clear_pending(tracker)
        elif reading.situations and not (slot_program and reading.aspects):
            # A life situation, no programme named: name the ones that fit instead of a programme picker.
            return recommend(dispatcher, kb, reading) + _clear_pending(tracker)

    aspect, cued = _aspect_asked(kb, tracker, intent, reading, program_named, locality_named, pending)

    program_id = program_named or slot_program
    if program_id is None:
        send(dispatcher, answers.render_clarify_program(kb, aspect, locality_id))
        return [SlotSet("pending_aspect", aspect)]

    answer = answers.render_answer(kb, program_id, aspect, locality_id, said=said)
    answer = _with_place_note(kb, lex, answer, reading, locality_id, locality_named)
    others = [a for a in cued if a != aspect][:2]
    # The words said one aspect and the classifier heard another: the resident may well have asked both ("困境儿童
    # 有些啥帮助 是谁来认定的" cues only 谁…认定) — offer the one heard as the first button.
    heard = kb.aspect_for_intent(heard_aspect_intent(tracker)) if cued else None
    maybe = [heard] if heard not in (None, OVERVIEW, aspect, *others) else []
    if (others or maybe) and aspect != OVERVIEW:
        answer = replies.offer_more_questions(kb, lex, answer, program_id, others, locality_id, maybe=maybe)
    send(dispatcher, answer)
    events: List[EventType] = [SlotSet("program", program_id), SlotSet("aspect", aspect)]
    if locality_named:
        events.append(SlotSet("locality", locality_id))
    return events + _clear_pending(tracker)


class ActionAnswerKnowledge(Action):
    """Answers ask_overview … ask_handler, and a bare programme/place name (``inform``)."""

    def name(self) -> Text:
        return "action_answer_knowledge"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb = current_knowledge(dispatcher)
        if kb is None:
            return []
        entities = latest_entities(tracker)
        return answer_message(dispatcher, tracker, kb, latest_intent(tracker), entities, domain=domain)



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
        send(dispatcher, answers.render_service_list(kb, item_id, locality_id))
        return []
