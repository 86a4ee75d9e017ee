"""The second reading in the conversation: when the classifier is unsure, out of scope or alarmed, read the message
again from the knowledge base (``bot.understanding``) and either answer it here or re-read it as the intent it
really is, so the ordinary rules and forms take it from there.

Re-reading is Rasa's own clarification mechanism (the two-stage fallback does the same): the misread user event
is reverted and the same text is logged again with the intent it was understood as. A re-read message carries
``second_reading`` in its parse data and is never re-read again.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import (REREAD_FROM_KNOWLEDGE, answer_message, current_knowledge, heard_aspect_intent,
                               recommend, send)
from actions.rereading import already_reread, choice_named_in_part, reread, typed_choice
from actions.latest import latest_intent
from bot.knowledge.loader import KnowledgeBase
from bot.understanding import replies
from bot.understanding.context import reading_of, warm_up
from bot.understanding.lexicon import load_lexicon
from bot.understanding.reading import KNOWLEDGE_INTENTS, Reading

logger = logging.getLogger(__name__)
# Intents a second reading answers in place (one-step rules); any other is re-read so its rule or form runs.
ANSWERED_HERE = {"ask_overview", "ask_eligibility", "ask_benefits", "ask_amount", "ask_materials", "ask_apply",
                 "ask_duration", "ask_handler", "inform", "describe_situation", "out_of_scope"}
# The action server imports this module when it starts: load the dictionaries now, not on a resident's message.
warm_up()

def answer_here(dispatcher: CollectingDispatcher, tracker: Tracker, kb: KnowledgeBase, reading: Reading,
                intent: str, entities: Dict[str, Any], domain: Dict[str, Any]) -> List[EventType]:
    """Answers a reading whose intent needs no form or hand-over: knowledge, a situation, a referral."""
    lex = load_lexicon(kb.directory)
    if intent == "describe_situation":
        return recommend(dispatcher, kb, reading)
    if intent == "out_of_scope":
        if reading.referral is not None:
            send(dispatcher, replies.referral(lex, reading.referral))
        else:
            dispatcher.utter_message(response="utter_out_of_scope")
        return []
    ents = [{"entity": k, "value": v} for k, v in entities.items()]
    return answer_message(dispatcher, tracker, kb, intent, ents, reading, domain)


def second_look(dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any],
                answer: bool = True) -> Optional[List[EventType]]:
    """Events for a message read again, or None when the second reading recognises nothing in it either.
    With ``answer`` False every recognised message is re-read rather than answered here."""
    if already_reread(tracker):
        return None
    chosen = typed_choice(tracker, domain)
    if chosen is not None:
        return chosen
    kb = current_knowledge(dispatcher)
    if kb is None:
        return []
    reading = reading_of(kb, tracker)
    if not reading.recognised and reading.referral is None:
        # (Not "我妈的养老金涨了没" under 了解养老服务补贴: another office's topic that shares a word with a button.)
        named = choice_named_in_part(tracker, domain, reading)
        if named is not None:
            return named
    decision = reading.intent(has_program_context=bool(tracker.get_slot("program")))
    if decision is None and kb.mentions_service_list(reading.text):
        # "国家基本养老服务清单里头都装了些啥": the list itself, which the classifier was unsure of.
        decision = ("ask_service_list", {})
    if decision is None:
        return None
    intent, entities = decision
    logger.info("second reading: %s %s", intent, sorted(entities))
    loop = (tracker.active_loop or {}).get("name")
    if loop and intent == latest_intent(tracker):
        # The form already had this very intent and no policy took it: reading it again would fail the same way.
        # Let the form ask its question again instead of "没听明白".
        return [FollowupAction(loop)]
    if answer and intent in ANSWERED_HERE:
        return answer_here(dispatcher, tracker, kb, reading, intent, entities, domain)
    return reread(tracker, intent, entities, domain)


def read_latest(dispatcher: CollectingDispatcher,
                tracker: Tracker) -> Tuple[Optional[KnowledgeBase], Optional[Reading]]:
    """The live knowledge base and the reading of the latest message (both None when the knowledge base is
    unreadable; the resident has then been told so by ``current_knowledge``)."""
    kb = current_knowledge(dispatcher)
    return (kb, reading_of(kb, tracker)) if kb is not None else (None, None)


def first_reading(dispatcher: CollectingDispatcher, tracker: Tracker) -> Optional[Reading]:
    """The reading of a message not yet re-read, for the actions that check a classifier's verdict before the rule
    goes on (None: leave the verdict alone)."""
    if already_reread(tracker):
        return None
    kb = current_knowledge(dispatcher)
    return reading_of(kb, tracker) if kb is not None else None


class ActionOutOfScope(Action):
    """Out of scope — unless a second reading finds what the resident meant; else refer them where we can."""

    def name(self) -> Text:
        return "action_out_of_scope"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        events = second_look(dispatcher, tracker, domain)
        if events is not None:
            return events
        kb, reading = read_latest(dispatcher, tracker)
        if kb is not None and reading is not None and reading.referral is not None:
            # Re-read here by another check ("单位没给我交社保 去哪投诉" first sounded like a complaint).
            send(dispatcher, replies.referral(load_lexicon(Path(kb.directory)), reading.referral))
            return []
        dispatcher.utter_message(response="utter_out_of_scope")
        return []


class ActionCheckEmergency(Action):
    """The emergency path is for danger now. Hardship that sounds alarming (a child whose parents are gone, a flooded
    home, an old man who can no longer cook) is re-read as the situation it is; anything else stays an emergency."""

    def name(self) -> Text:
        return "action_check_emergency"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        reading = first_reading(dispatcher, tracker)
        if reading is None:
            return []
        if reading.danger:
            return []
        decision = reading.intent(has_program_context=False)
        if decision is None or decision[0] in ("emergency", "out_of_scope", "inform"):
            return []
        return reread(tracker, decision[0], decision[1], domain)


class ActionRecommend(Action):
    """A situation described without naming a programme: the one to three programmes or services that fit."""

    def name(self) -> Text:
        return "action_recommend"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb, reading = read_latest(dispatcher, tracker)
        if kb is None or reading is None:
            return []
        decision = reading.intent(has_program_context=bool(tracker.get_slot("program")))
        if decision is not None and decision[0] in REREAD_FROM_KNOWLEDGE and not already_reread(tracker):
            return reread(tracker, decision[0], decision[1], domain)
        if decision is not None and decision[0] in ANSWERED_HERE and (
                reading.recognised or decision[0] == "out_of_scope"
                or (decision[0].startswith("ask_") and tracker.get_slot("program"))):
            # A programme named outright is answered, even when the message also describes a situation; another
            # office's business is referred there; "我舅七十三 没儿没女 能申请不" right after 特困供养 asks that
            # programme's question, the situation being why they ask.
            return answer_here(dispatcher, tracker, kb, reading, decision[0], decision[1], domain)
        return recommend(dispatcher, kb, reading)


class ActionCheckComplaint(Action):
    """A complaint goes to a person; one that is really distress (说话不算数, 跑断了腿) is first acknowledged."""

    def name(self) -> Text:
        return "action_check_complaint"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        reading = first_reading(dispatcher, tracker)
        if reading is None:
            return []
        if reading.distress and not reading.danger:
            return reread(tracker, "distress", {"program": reading.programs[0]} if reading.programs else {}, domain)
        if reading.referral is not None and (reading.referral_asked_last or not reading.recognised):
            # "单位没给我交社保 去哪投诉": a grievance with another office, which is where it can be settled.
            return reread(tracker, "out_of_scope", {}, domain)
        return []


class ActionCheckSmallTalk(Action):
    """Greetings, thanks and "what can you do" are answered as such — unless the message also names a programme or
    service with a question ("你好 低保怎么申请", "lin shi jiu zhu duo shao qian"), which is then answered instead, or
    asks for a person ("真人呢"), is in distress or in danger."""

    def name(self) -> Text:
        return "action_check_small_talk"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        reading = first_reading(dispatcher, tracker)
        if reading is None:
            return []
        intent = latest_intent(tracker)
        chosen = typed_choice(tracker, domain)
        if chosen is not None:
            return chosen
        if reading.danger:
            return reread(tracker, "emergency", {}, domain)
        if reading.wants_human and not reading.asks_if_bot and intent not in ("thank", "goodbye"):
            # "真人呢？" is not "are you a bot?": it asks for one. ("谢谢工作人员" only thanks them.)
            return reread(tracker, "request_human", {}, domain)
        if reading.distress:
            return reread(tracker, "distress", {"program": reading.programs[0]} if reading.programs else {}, domain)
        asks = bool(reading.aspects) or intent not in ("thank", "goodbye")
        if not reading.recognised and tracker.get_slot("program") and (reading.places or reading.localities) and (
                intent not in ("thank", "goodbye")):
            # "我在呼和浩特" right after a programme's answer: where they live, for that programme.
            loc = {"locality": reading.localities[0]} if reading.localities else {}
            return reread(tracker, "inform", loc, domain)
        if not (reading.recognised and asks):
            return []
        decision = reading.intent()
        if decision is None or decision[0] in ("emergency", "request_human"):
            return []
        return reread(tracker, decision[0], decision[1], domain)


class ActionCheckDistress(Action):
    """The classifier hears distress in words like 难 or 急 that also end plain questions. When the message names a
    programme and asks something of it, with none of the editors' distress words, it is answered as a question."""

    def name(self) -> Text:
        return "action_check_distress"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        reading = first_reading(dispatcher, tracker)
        if reading is None or reading.distress or reading.danger or reading.wants_human:
            return []
        if reading.referral is not None and (reading.referral_asked_last or not reading.recognised):
            return reread(tracker, "out_of_scope", {}, domain)
        decision = reading.intent(has_program_context=bool(tracker.get_slot("program")))
        kb = current_knowledge(dispatcher)
        if decision is None and kb is not None and kb.mentions_service_list(reading.text):
            return reread(tracker, "ask_service_list", {}, domain)
        # A hardship told is left to the classifier: without a word from the editors' list it still hears distress
        # rightly more often than not ("真的好累 照顾瘫痪的妈三年了"); the next step names what fits anyway.
        if decision is None or decision[0] in ("distress", "emergency", "describe_situation", "inform"):
            return []
        if decision[0].startswith("ask_") and not (reading.recognised and (
                reading.aspects or reading.pair
                or (reading.programs and reading.asks and heard_aspect_intent(tracker)))):
            return []
        # A plain question, a number to look up, a booking: no words of distress, so answer what was asked. Long
        # questions about a programme ("这个帽子戴上能换来点啥实际好处不") often sound like distress to the
        # classifier; when it also ranked a question about the programme high enough, that question is answered.
        return reread(tracker, decision[0], decision[1], domain)


class ActionCheckStatus(Action):
    """An application number or a question about how far an application has got starts the lookup. A message the
    classifier took for one that asks about a programme ("长者饭堂在哪报名"), books a service or is another
    office's matter ("今年医保交了没有 怎么查") is answered as what it is."""

    def name(self) -> Text:
        return "action_check_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        reading = first_reading(dispatcher, tracker)
        if reading is None or reading.application_no or reading.asks_status:
            return []
        if tracker.get_slot("booking_pending"):
            # A code or a mobile typed while a booking step waits for it: the classifier heard a number to look up.
            return reread(tracker, "inform", {}, domain)
        if reading.referral is not None and (reading.referral_asked_last or not reading.recognised):
            return reread(tracker, "out_of_scope", {}, domain)
        decision = reading.intent()
        if decision is None or decision[0] in ("check_status", "inform", "describe_situation", "out_of_scope"):
            return []
        return reread(tracker, decision[0], decision[1], domain)


class ActionDistressNextStep(Action):
    """After the comfort and before the person: the programmes and services that fit what the resident told, so the
    next step is concrete even while they wait for staff."""

    def name(self) -> Text:
        return "action_distress_next_step"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb, reading = read_latest(dispatcher, tracker)
        if kb is None or reading is None:
            return []
        if reading.programs and reading.aspects:
            # "低保到底归街道管还是民政局管 我跑了两趟都说不归他们": angry, and asking something concrete — the
            # answer is the next step.
            intent = KNOWLEDGE_INTENTS[reading.aspects[0]]
            named = [{"entity": "program", "value": reading.programs[0]}]
            return answer_message(dispatcher, tracker, kb, intent, named, reading, domain, as_told=True)
        if reading.situations:
            return recommend(dispatcher, kb, reading, offer_person=False)
        return []


class ActionCheckHuman(Action):
    """"帮我找个人" is handed over at once. A message the classifier took for it that asks for no one but is in
    distress ("日子熬不下去了") is first acknowledged; one that asks another office's question is referred there."""

    def name(self) -> Text:
        return "action_check_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        reading = first_reading(dispatcher, tracker)
        if reading is None or reading.wants_human or reading.danger:
            return []
        if reading.distress:
            return reread(tracker, "distress", {"program": reading.programs[0]} if reading.programs else {}, domain)
        if reading.referral is not None and (reading.referral_asked_last or not reading.recognised):
            return reread(tracker, "out_of_scope", {}, domain)
        decision = reading.intent(has_program_context=bool(tracker.get_slot("program")))
        if decision is not None and decision[0] not in ("request_human", "out_of_scope", "inform"):
            # Mixed-language or pinyin messages sound like "human please" to the classifier ("I want to book 助餐
            # for my grandma"): what the words name decides.
            return reread(tracker, decision[0], decision[1], domain)
        return []
