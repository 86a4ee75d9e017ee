"""The knowledge actions and the fallback ladder, driven turn by turn like the Rasa server drives them.

Each turn goes through Rasa's own machinery: the user message is a real ``UserUttered`` on a
``DialogueStateTracker`` built with our domain, Rasa's ``action_extract_slots`` applies the slot mappings, the
action receives the same tracker dump the action server gets (``Tracker.from_dict``) and a
``CollectingDispatcher``, and its events are applied back (including ``UserUtteranceReverted``). The knowledge
is the real ``knowledge/`` directory; expected texts are read from it, so editing content does not break tests
but answering the wrong programme, aspect or place does.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
from rasa.core.actions.action import ActionExtractSlots
from rasa.core.channels import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions.knowledge as knowledge_actions
from actions.core import ActionDefaultFallback
from actions.knowledge import ActionAnswerKnowledge, ActionAnswerServiceList
from actions.understanding import ActionCheckDistress
from bot.knowledge.loader import load_knowledge

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = Domain.load([str(ROOT / "bot" / "domain" / "core.yml"), str(ROOT / "bot" / "domain" / "knowledge.yml")])


@pytest.fixture(scope="module")
def kb():
    return load_knowledge(ROOT / "knowledge")


@pytest.fixture(autouse=True)
def fresh_store(monkeypatch):
    """Each test reads knowledge/ through a new store, with no deployment locality configured."""
    monkeypatch.delenv("HUIMIN_LOCALITY", raising=False)
    monkeypatch.delenv("HUIMIN_KNOWLEDGE_DIR", raising=False)
    monkeypatch.setattr(knowledge_actions, "_store", None)


class Conversation:
    """One resident's conversation: user turns with their NLU result, then the action the policy chose."""

    def __init__(self) -> None:
        self.tracker = DialogueStateTracker.from_events(
            "resident", [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")],
            slots=DOMAIN.slots)

    async def user(self, text: str, intent: str, confidence: float = 0.93, ranking: Any = None,
                   **entities: str) -> None:
        ents = []
        for name, value in entities.items():
            start = text.find(value) if value in text else 0
            ents.append({"entity": name, "value": value, "start": start, "end": start + len(value)})
        parse = {"text": text, "intent": {"name": intent, "confidence": confidence}, "entities": ents}
        if ranking:
            parse["intent_ranking"] = [{"name": n, "confidence": c} for n, c in ranking]
        self.tracker.update(UserUttered(text, parse["intent"], ents, parse_data=parse))
        extracted = await ActionExtractSlots(None).run(
            CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(DOMAIN.responses), self.tracker, DOMAIN)
        for event in extracted:
            self.tracker.update(event)

    async def bot(self, action) -> List[Dict[str, Any]]:
        sdk_tracker = Tracker.from_dict(self.tracker.current_state(EventVerbosity.ALL))
        dispatcher = CollectingDispatcher()
        events = await action.run(dispatcher, sdk_tracker, DOMAIN.as_dict())
        self.tracker.update(ActionExecuted(action.name()))
        for msg in dispatcher.messages:
            self.tracker.update(BotUttered(msg.get("text"), {"buttons": msg.get("buttons")}))
        for event in events:
            self.tracker.update(Event.from_parameters(event))
        self.tracker.update(ActionExecuted("action_listen"))
        return dispatcher.messages

    async def utter(self, response: str) -> None:
        """A turn answered by a domain response (no custom action involved)."""
        self.tracker.update(ActionExecuted(response))
        self.tracker.update(ActionExecuted("action_listen"))

    def slot(self, name: str) -> Any:
        return self.tracker.get_slot(name)


def only_message(messages: List[Dict[str, Any]]) -> Dict[str, Any]:
    assert len(messages) == 1, messages
    return messages[0]


def payloads(message: Dict[str, Any]) -> List[str]:
    return [b["payload"] for b in message.get("buttons") or []]


def payload_entities(payload: str) -> Dict[str, str]:
    return json.loads(payload[payload.index("{"):]) if "{" in payload else {}


def other_aspect_texts(kb, program_id: str, asked: str) -> List[str]:
    return [t for a, t in kb.programs[program_id].aspects.items() if a != asked]


# ---------------------------------------------------------------------------------------------------------

async def test_answers_only_the_aspect_asked_with_next_question_buttons(kb):
    conv = Conversation()
    await conv.user("低保要带什么材料", "ask_materials", program="dibao")
    msg = only_message(await conv.bot(ActionAnswerKnowledge()))

    assert kb.programs["dibao"].aspects["materials"] in msg["text"]
    assert kb.aspects["materials"].label in msg["text"]
    for text in other_aspect_texts(kb, "dibao", "materials"):
        assert text not in msg["text"]
    # The footer names the source and the review status.
    assert kb.programs["dibao"].sources[0].title in msg["text"]
    assert 2 <= len(msg["buttons"]) <= 4
    assert all(p.startswith("/ask_") for p in payloads(msg))
    assert "/ask_materials" not in [p.split("{")[0] for p in payloads(msg)]
    assert conv.slot("program") == "dibao" and conv.slot("aspect") == "materials"


async def test_the_programme_carries_across_turns(kb):
    conv = Conversation()
    await conv.user("高龄津贴是什么？", "ask_overview", program="elderly_allowance")
    overview = only_message(await conv.bot(ActionAnswerKnowledge()))
    assert kb.programs["elderly_allowance"].summary in overview["text"]

    await conv.user("那要带什么材料？", "ask_materials")
    materials = only_message(await conv.bot(ActionAnswerKnowledge()))
    assert kb.programs["elderly_allowance"].aspects["materials"] in materials["text"]
    assert kb.programs["elderly_allowance"].short_name in materials["text"]

    await conv.user("在哪儿办？", "ask_apply")
    apply = only_message(await conv.bot(ActionAnswerKnowledge()))
    assert kb.programs["elderly_allowance"].aspects["apply"] in apply["text"]
    assert kb.programs["dibao"].aspects["apply"] not in apply["text"]
    assert conv.slot("program") == "elderly_allowance"


async def test_programme_without_aspect_gets_overview_and_aspect_buttons(kb):
    conv = Conversation()
    await conv.user("特困供养", "inform", program="tekun")
    msg = only_message(await conv.bot(ActionAnswerKnowledge()))

    assert kb.programs["tekun"].summary in msg["text"]
    for text in kb.programs["tekun"].aspects.values():
        assert text not in msg["text"]
    intents = [p.split("{")[0] for p in payloads(msg)]
    assert 2 <= len(intents) <= 4
    assert set(intents) <= {f"/{a.intent}" for a in kb.aspects.values()} - {"/ask_overview"}
    assert all(payload_entities(p)["program"] == "tekun" for p in payloads(msg))


async def test_aspect_without_programme_is_clarified_then_answered(kb):
    conv = Conversation()
    await conv.user("要带什么材料？", "ask_materials")
    question = only_message(await conv.bot(ActionAnswerKnowledge()))

    assert kb.aspects["materials"].label in question["text"]
    assert kb.programs["dibao"].aspects["materials"] not in question["text"]
    featured = kb.template("clarify.featured_programs")
    assert [payload_entities(p)["program"] for p in payloads(question)] == featured[:len(payloads(question))]
    assert all(p.startswith("/ask_materials") for p in payloads(question))
    assert conv.slot("pending_aspect") == "materials"

    # The resident types just the programme's name.
    await conv.user("低保", "inform", program="dibao")
    answer = only_message(await conv.bot(ActionAnswerKnowledge()))
    assert kb.programs["dibao"].aspects["materials"] in answer["text"]
    assert conv.slot("pending_aspect") is None
    assert conv.slot("program") == "dibao"


async def test_a_stale_clarifying_question_does_not_hijack_a_later_name(kb):
    conv = Conversation()
    await conv.user("多久能批下来", "ask_duration")
    await conv.bot(ActionAnswerKnowledge())
    assert conv.slot("pending_aspect") == "duration"
    await conv.user("谢谢", "thank")
    await conv.utter("utter_you_are_welcome")

    await conv.user("高龄津贴", "inform", program="elderly_allowance")
    msg = only_message(await conv.bot(ActionAnswerKnowledge()))
    assert kb.programs["elderly_allowance"].summary in msg["text"]
    assert kb.programs["elderly_allowance"].aspects["duration"] not in msg["text"]


async def test_a_misunderstood_message_between_does_not_lose_the_pending_aspect(kb):
    conv = Conversation()
    await conv.user("能领多少钱", "ask_amount")
    await conv.bot(ActionAnswerKnowledge())
    await conv.user("嗯嗯那个啥", "nlu_fallback", confidence=0.3)
    await conv.bot(ActionDefaultFallback())  # reverts the misunderstood message
    await conv.user("高龄津贴", "inform", program="elderly_allowance")
    msg = only_message(await conv.bot(ActionAnswerKnowledge()))
    assert kb.programs["elderly_allowance"].aspects["amount"] in msg["text"]


async def test_locality_overlay_gives_the_local_figure_first(kb):
    local = kb.localities["guangzhou"].programs["dibao"].aspects["amount"]
    national = kb.programs["dibao"].aspects["amount"]

    conv = Conversation()
    await conv.user("广州低保一个月能领多少钱", "ask_amount", program="dibao", locality="guangzhou")
    msg = only_message(await conv.bot(ActionAnswerKnowledge()))
    assert local in msg["text"] and national in msg["text"]
    assert msg["text"].index(local) < msg["text"].index(national)
    assert kb.localities["guangzhou"].programs["dibao"].sources[0].title in msg["text"]
    assert conv.slot("locality") == "guangzhou"


async def test_asking_again_for_a_place_repeats_the_last_question_there(kb):
    local = kb.localities["guangzhou"].programs["dibao"].aspects["amount"]
    conv = Conversation()
    await conv.user("低保一个月多少钱", "ask_amount", program="dibao")
    first = only_message(await conv.bot(ActionAnswerKnowledge()))
    assert local not in first["text"]
    # Without a place, the answer offers the place we have local figures for.
    assert any(payload_entities(p).get("locality") == "guangzhou" for p in payloads(first))

    await conv.user("那广州呢", "inform", locality="guangzhou")
    second = only_message(await conv.bot(ActionAnswerKnowledge()))
    assert local in second["text"]


async def test_deployment_locality_is_the_default(kb, monkeypatch):
    monkeypatch.setenv("HUIMIN_LOCALITY", "guangzhou")
    conv = Conversation()
    await conv.user("低保多少钱", "ask_amount", program="dibao")
    msg = only_message(await conv.bot(ActionAnswerKnowledge()))
    assert kb.localities["guangzhou"].programs["dibao"].aspects["amount"] in msg["text"]


async def test_service_list_and_one_of_its_items(kb):
    sl = kb.service_list
    conv = Conversation()
    await conv.user("国家基本养老服务清单有哪些", "ask_service_list")
    msg = only_message(await conv.bot(ActionAnswerServiceList()))
    assert sl.summary in msg["text"]
    assert all(item.name in msg["text"] for item in sl.items.values())
    assert sl.full_list_hint in msg["text"]
    item_payloads = payloads(msg)
    assert item_payloads and all(p.startswith("/ask_service_list") for p in item_payloads)

    item_id = payload_entities(item_payloads[0])["service_item"]
    await conv.user(item_payloads[0], "ask_service_list", service_item=item_id)
    item_msg = only_message(await conv.bot(ActionAnswerServiceList()))
    assert sl.items[item_id].target in item_msg["text"]
    assert sl.items[item_id].content in item_msg["text"]


async def test_unknown_programme_is_said_plainly():
    conv = Conversation()
    await conv.user("火星补贴要什么材料", "ask_materials", program="mars_allowance")
    msg = only_message(await conv.bot(ActionAnswerKnowledge()))
    assert msg["response"] == "utter_program_unknown"


async def test_unreadable_knowledge_is_reported_not_raised(tmp_path, monkeypatch):
    monkeypatch.setenv("HUIMIN_KNOWLEDGE_DIR", str(tmp_path))  # an empty directory: nothing validates
    conv = Conversation()
    await conv.user("低保要什么材料", "ask_materials", program="dibao")
    msg = only_message(await conv.bot(ActionAnswerKnowledge()))
    assert msg["response"] == "utter_knowledge_unavailable"


# ---------------------------------------------------------------------------------------------------------
# The fallback ladder

async def test_fallback_ladder_first_miss_rephrase_second_offers_a_person():
    conv = Conversation()
    await conv.user("阿巴阿巴", "nlu_fallback", confidence=0.2)
    first = only_message(await conv.bot(ActionDefaultFallback()))
    assert first["response"] == "utter_ask_rephrase"
    assert conv.slot("fallback_count") == 1
    # Rasa's own fallback convention: the misunderstood message is reverted.
    assert not [e for e in conv.tracker.applied_events() if isinstance(e, UserUttered)]

    await conv.user("呜啦呜啦", "nlu_fallback", confidence=0.2)
    second = only_message(await conv.bot(ActionDefaultFallback()))
    assert second["response"] == "utter_offer_human"
    assert conv.slot("fallback_count") == 2
    assert "/request_human" in [b["payload"] for b in DOMAIN.responses["utter_offer_human"][0]["buttons"]]


async def test_an_understood_message_resets_the_ladder():
    conv = Conversation()
    await conv.user("阿巴阿巴", "nlu_fallback", confidence=0.2)
    await conv.bot(ActionDefaultFallback())
    assert conv.slot("fallback_count") == 1

    await conv.user("低保要什么材料", "ask_materials", program="dibao")
    assert conv.slot("fallback_count") == 0  # the slot mapping in bot/domain/core.yml
    await conv.bot(ActionAnswerKnowledge())

    await conv.user("呜啦呜啦", "nlu_fallback", confidence=0.2)
    again = only_message(await conv.bot(ActionDefaultFallback()))
    assert again["response"] == "utter_ask_rephrase"


async def test_an_aspect_the_classifier_heard_beside_the_one_the_words_say_is_offered_first(kb):
    # The words cue only the handler; the classifier heard benefits (the first, uncued half of the question).
    conv = Conversation()
    text = "困境儿童这块帮扶是些啥 到底归哪个部门管"
    await conv.user(text, "ask_benefits", 0.6, ranking=[("ask_benefits", 0.6), ("ask_handler", 0.3)],
                    program="children_in_difficulty")
    msg = only_message(await conv.bot(ActionAnswerKnowledge()))
    assert kb.aspects["handler"].label in msg["text"]
    assert payloads(msg)[0].startswith("/ask_benefits")
    # Only a guess: not announced as a second question the resident asked.
    assert kb.aspects["benefits"].label not in msg["text"]


async def test_a_programme_question_heard_as_distress_is_re_read_only_when_the_classifier_also_heard_a_question(kb):
    text = "俺家评上低保边缘了 这个名分到底能换来点啥不"
    # The classifier leaned to distress but also ranked a question about the programme: answered as that question.
    conv = Conversation()
    await conv.user(text, "distress", 0.5, ranking=[("distress", 0.5), ("ask_benefits", 0.3)], program="dibao_edge")
    events = await ActionCheckDistress().run(CollectingDispatcher(), Tracker.from_dict(
        conv.tracker.current_state(EventVerbosity.ALL)), DOMAIN.as_dict())
    reread = [e for e in events if e.get("event") == "user"]
    assert reread and reread[0]["parse_data"]["intent"]["name"].startswith("ask_")
    assert any(e["entity"] == "program" and e["value"] == "dibao_edge" for e in reread[0]["parse_data"]["entities"])
    # Sure it is distress, with no question about the programme in sight: left to the distress path.
    conv = Conversation()
    await conv.user(text, "distress", 0.95, ranking=[("distress", 0.95), ("ask_benefits", 0.02)], program="dibao_edge")
    assert await ActionCheckDistress().run(CollectingDispatcher(), Tracker.from_dict(
        conv.tracker.current_state(EventVerbosity.ALL)), DOMAIN.as_dict()) == []
