"""The status lookup form and actions with real rasa_sdk trackers against a real migrated database.

``FormTurns`` plays the part of Rasa's FormAction around our validation action (extract → validate → ask the
next empty slot, or finish and run action_status_result), the way rasa/core/actions/forms.py does; the rules
and stories that connect these steps are checked by tests/stories/test_status.yml.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

import pytest
import sqlalchemy as sa
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from ruamel.yaml import YAML

from actions.status import ActionStatusCancel, ActionStatusResult, ValidateStatusForm
from bot.applications.models import VerificationCounter
from bot.applications.seed import DEMO_CSV
from bot.applications.importer import import_csv
from bot.db import session_scope

ROOT = Path(__file__).resolve().parent.parent
DOMAIN: Dict[str, Any] = YAML(typ="safe").load((ROOT / "bot" / "domain" / "status.yml").read_text(encoding="utf-8"))
REQUIRED = DOMAIN["forms"]["status_form"]["required_slots"]
SLOTS = list(DOMAIN["slots"]) + ["requested_slot"]

# From the demo file (fictitious applicants).
NO_101, LAST6_101, PHONE_101 = "MZ2026000101", "31002X", "13800138001"


def render(message: Dict[str, Any]) -> str:
    """The text the resident sees for a dispatched response (the domain's wording, variables filled)."""
    template = DOMAIN["responses"][message["response"]][0]["text"]
    return template.format(**{k: v for k, v in message.items() if k not in ("response", "text")})


@dataclass
class Turn:
    said: List[str] = field(default_factory=list)       # response names, in order
    texts: List[str] = field(default_factory=list)      # rendered texts
    rejected: bool = False                               # nothing for the form: other policies take over
    done: bool = False


class FormTurns:
    def __init__(self, sender: str) -> None:
        self.sender = sender
        self.slots: Dict[str, Any] = {s: None for s in SLOTS}
        self.active = False

    def _tracker(self, text: str, intent: str, after_listen: bool = True) -> Tracker:
        latest = {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": []}
        events = [{"event": "user", "text": text, "parse_data": latest},
                  {"event": "action", "name": "status_form"}]
        # Like Rasa, the loop is already marked active in the tracker sent at activation.
        return Tracker(self.sender, dict(self.slots), latest, events, False, None, {"name": "status_form"},
                       "action_listen" if after_listen else "action_answer_knowledge")

    async def say(self, text: str, intent: str = "inform") -> Turn:
        return await self._form(self._tracker(text, intent), validate=True)

    async def resume(self, last_text: str) -> Turn:
        """After an interruption was answered, Rasa runs the form again on the same latest message."""
        return await self._form(self._tracker(last_text, "ask_materials", after_listen=False), validate=False)

    async def _form(self, tracker: Tracker, validate: bool) -> Turn:
        turn = Turn()
        dispatcher = CollectingDispatcher()
        events = await ValidateStatusForm().run(dispatcher, tracker, DOMAIN)
        turn.said += [m["response"] for m in dispatcher.messages]
        turn.texts += [render(m) for m in dispatcher.messages]
        filled = [e for e in events if e["event"] == "slot" and e["name"] != "requested_slot"]
        if validate and self.active and self.slots["requested_slot"] and not filled:
            turn.rejected = True
            return turn
        for e in events:
            if e["event"] == "slot":
                self.slots[e["name"]] = e["value"]
        stopped = any(e["event"] == "slot" and e["name"] == "requested_slot" and e["value"] is None for e in events)
        next_slot = None if stopped else next((s for s in REQUIRED if self.slots[s] is None), None)
        self.slots["requested_slot"] = next_slot
        if next_slot:
            self.active = True
            turn.said.append(f"utter_ask_status_form_{next_slot}")
            return turn
        self.active, turn.done = False, True
        result = await self.run_action(ActionStatusResult())
        turn.said += result.said
        turn.texts += result.texts
        return turn

    async def run_action(self, action) -> Turn:
        dispatcher = CollectingDispatcher()
        tracker = Tracker(self.sender, dict(self.slots), {"text": "", "intent": {}, "entities": []}, [], False,
                          None, {"name": "status_form"} if self.active else {}, "status_form")
        events = await action.run(dispatcher, tracker, DOMAIN)
        for e in events:
            if e["event"] == "slot":
                self.slots[e["name"]] = e["value"]
        return Turn(said=[m["response"] for m in dispatcher.messages], texts=[render(m) for m in dispatcher.messages])


@pytest.fixture
async def demo_db(db_url):
    report = await import_csv(DEMO_CSV, url=db_url)
    assert report.created == 6
    return db_url


async def failures(db_url: str) -> Dict[str, int]:
    async with session_scope(db_url) as s:
        return dict((await s.execute(sa.select(VerificationCounter.key, VerificationCounter.failures))).all())


async def test_happy_path_number_asked_for(demo_db):
    form = FormTurns("resident-1")
    start = await form.say("查一下我的申请进度", intent="check_status")
    assert start.said == ["utter_ask_status_form_application_no"]
    number = await form.say("mz2026 杠 ０００１０１")  # lower case, spoken dash, full-width digits
    assert number.said == ["utter_ask_status_form_status_answer"]
    assert form.slots["application_no"] == NO_101

    result = await form.say("31002x")

    assert result.done and result.said == ["utter_status_result"]
    text = result.texts[0]
    for expected in ("最低生活保障", "张*国", "MZ2026000101", "公示中", "2026年11月2日", "公示期 7 天", "下个月"):
        assert expected in text
    assert "张建国" not in text and LAST6_101 not in text
    # The answer is not kept: only the marker, and the form slots are cleared for the next lookup.
    assert form.slots["status_answer"] is None and form.slots["status_verified_no"] == NO_101


async def test_number_in_first_message_and_phone_as_second_factor(demo_db):
    form = FormTurns("resident-2")
    start = await form.say("帮我查下 MZ2026000101 办得怎么样了", intent="check_status")
    assert start.said == ["utter_ask_status_form_status_answer"]
    result = await form.say("我的手机是138 0013 8001")
    assert result.said == ["utter_status_result"] and "张*国" in result.texts[0]


async def test_status_meanings_need_more_documents_and_rejected(demo_db):
    form = FormTurns("resident-3")
    await form.say("查下MZ2026000103", intent="check_status")
    text = (await form.say("080011")).texts[0]
    assert "需补充材料" in text and "请补交户口簿原件和近6个月的银行流水" in text and "街道办事处" in text
    form = FormTurns("resident-4")
    await form.say("查下MZ2026000104", intent="check_status")
    text = (await form.say("020027")).texts[0]
    assert "未通过" in text and "家庭人均收入高于当地临时救助标准" in text and "行政复议" in text


async def test_wrong_factor_then_right_one(demo_db):
    form = FormTurns("resident-5")
    await form.say("查询 MZ2026000101", intent="check_status")
    wrong = await form.say("123456")
    assert wrong.said == ["utter_status_not_matched", "utter_ask_status_form_status_answer"]
    assert "张" not in "".join(wrong.texts)
    right = await form.say(LAST6_101)
    assert right.said == ["utter_status_result"]


async def test_unknown_number_gets_exactly_the_same_reply_as_a_wrong_factor(demo_db):
    known, unknown = FormTurns("resident-6"), FormTurns("resident-7")
    await known.say("查询 MZ2026000101", intent="check_status")
    await unknown.say("查询 MZ2026999999", intent="check_status")
    a, b = await known.say("654321"), await unknown.say("654321")
    assert a.said == b.said and a.texts == b.texts
    a, b = await known.say("13911112222"), await unknown.say("13911112222")
    assert a.said == b.said and a.texts == b.texts


async def test_malformed_answers_are_asked_again_without_counting(demo_db):
    form = FormTurns("resident-8")
    await form.say("查询 MZ2026000101", intent="check_status")
    again = await form.say("1234")
    assert again.said == ["utter_status_bad_answer", "utter_ask_status_form_status_answer"]
    assert await failures(demo_db) == {}
    # A personal number typed where the application number was expected is refused, never echoed.
    other = FormTurns("resident-9")
    await other.say("查一下我的申请进度", intent="check_status")
    turn = await other.say("13800138001")
    assert turn.said == ["utter_status_bad_number", "utter_ask_status_form_application_no"]
    assert "13800138001" not in "".join(turn.texts)


async def test_five_failures_from_several_conversations_lock_the_application(demo_db):
    # One conversation (or client) may fail only 3 times (bot/applications/attempt_limits.py), below the
    # application's 5: it takes failures from more than one to lock the application.
    form = FormTurns("attacker")
    await form.say("查询 MZ2026000101", intent="check_status")
    for i in range(2):
        turn = await form.say(f"00000{i}")
        assert turn.said[0] == "utter_status_not_matched"
    third = await form.say("000009")
    assert third.said == ["utter_status_locked"] and third.done
    assert "30 分钟" in third.texts[0] and "转人工" not in third.texts[0]  # the button carries the way out
    second = FormTurns("attacker-2")
    await second.say("查询 MZ2026000101", intent="check_status")
    assert (await second.say("000011")).said[0] == "utter_status_not_matched"
    fifth = await second.say("000012")
    assert fifth.said == ["utter_status_locked"] and fifth.done
    # The same conversation, the right answer: refused before it is even asked for.
    again = FormTurns("attacker")
    again.slots.update({k: v for k, v in form.slots.items() if k.startswith("status_verified")})
    turn = await again.say(f"查询 {NO_101}", intent="check_status")
    assert turn.said == ["utter_status_locked"] and turn.done
    # Another conversation (the real applicant, or a second replica's resident) is refused for this number too.
    owner = FormTurns("owner")
    turn = await owner.say(f"查询 {NO_101}", intent="check_status")
    assert turn.said == ["utter_status_locked"]
    # ...but may look up a different application.
    other = FormTurns("owner")
    await other.say("查询 MZ2026000102", intent="check_status")
    assert (await other.say("150049")).said == ["utter_status_result"]


async def test_three_failures_in_one_conversation_lock_that_conversation(demo_db):
    form = FormTurns("prober")
    for n in range(3):
        await form.say(f"查询 MZ20269900{n:02d}", intent="check_status")
        turn = await form.say("111111")
    assert turn.said == ["utter_status_locked"]
    form = FormTurns("prober")
    await form.say("查询 MZ2026000102", intent="check_status")
    assert (await form.say("150049")).said == ["utter_status_locked"]
    # Other conversations are not affected.
    fine = FormTurns("someone-else")
    await fine.say("查询 MZ2026000102", intent="check_status")
    assert (await fine.say("150049")).said == ["utter_status_result"]


async def test_cancel_forgets_the_lookup(demo_db):
    form = FormTurns("resident-10")
    await form.say("查询 MZ2026000101", intent="check_status")
    form.active = True
    turn = await form.run_action(ActionStatusCancel())
    assert turn.said == ["utter_status_cancelled"]
    assert form.slots["application_no"] is None and form.slots["status_answer"] is None
    assert form.slots["requested_slot"] is None


async def test_knowledge_question_in_the_middle_is_not_an_answer_and_the_form_resumes(demo_db):
    form = FormTurns("resident-11")
    await form.say("查询 MZ2026000101", intent="check_status")
    question = "低保要带什么材料"
    interrupted = await form.say(question, intent="ask_materials")
    assert interrupted.rejected and interrupted.said == []
    resumed = await form.resume(question)
    assert resumed.said == ["utter_ask_status_form_status_answer"]
    # A question with a figure in it is a question too, not a mistyped answer.
    assert (await form.say("80岁以上能领多少钱", intent="ask_amount")).rejected
    assert await failures(demo_db) == {}
    assert (await form.say(LAST6_101)).said == ["utter_status_result"]


async def test_mistyped_number_can_be_corrected_while_the_answer_is_asked(demo_db):
    form = FormTurns("resident-12")
    await form.say("查询 MZ2026000199", intent="check_status")
    turn = await form.say("编号输错了 是MZ2026000101")
    assert turn.said == ["utter_ask_status_form_status_answer"] and form.slots["application_no"] == NO_101
    assert (await form.say(LAST6_101)).said == ["utter_status_result"]


async def test_ten_minute_window_for_follow_ups(demo_db):
    form = FormTurns("resident-13")
    await form.say("查询 MZ2026000101", intent="check_status")
    assert (await form.say(PHONE_101)).said == ["utter_status_result"]

    follow_up = await form.say("再帮我看看我的申请", intent="check_status")
    assert follow_up.said == ["utter_status_result"]
    # Another application in the window still needs its own second factor.
    other = await form.say("那 MZ2026000102 呢", intent="check_status")
    assert other.said == ["utter_ask_status_form_status_answer"]
    form.active, form.slots["requested_slot"], form.slots["application_no"] = False, None, None

    form.slots["status_verified_no"], form.slots["status_verified_at"] = NO_101, time.time() - 601
    late = await form.say(f"查询 {NO_101}", intent="check_status")
    assert late.said == ["utter_ask_status_form_status_answer"]


def test_every_status_has_resident_wording_and_gaps_are_reported(tmp_path):
    from bot.applications.status_text import check, kb_check
    from bot.settings import get_settings

    assert check(get_settings().knowledge_dir) == []
    broken = (get_settings().knowledge_dir / "application_status.yml").read_text(encoding="utf-8")
    broken = broken.replace("  approved:", "  approved_typo:").replace("{program}要多久", "{programme}要多久")
    (tmp_path / "application_status.yml").write_text(broken, encoding="utf-8")
    problems = [p.message for p in kb_check(tmp_path)]
    assert "application_status.yml: status 'approved' has no text" in problems
    assert "application_status.yml: unknown status 'approved_typo'" in problems
    assert any("only {program} and {note}" in p for p in problems)


async def test_a_database_failure_ends_the_lookup_politely(tmp_path, monkeypatch):
    # No migrated tables: every query fails. The resident gets a clear message, not a 500 with the tracker.
    monkeypatch.setenv("HUIMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    form = FormTurns("resident-14")
    turn = await form.say(f"查询 {NO_101}", intent="check_status")
    assert turn.said == ["utter_status_unavailable"] and turn.done
