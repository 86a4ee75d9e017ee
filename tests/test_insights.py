"""Insights from a real tracker store (HuiminTrackerStore, SQLite or PostgreSQL): classification, masking kept,
incremental reading, grouping, feedback, actions and replay bookkeeping, retention."""
from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
import sqlalchemy as sa

from conftest import _postgres_database


def _tracker_url(db_url: str, tmp_path) -> str:
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'tracker.db'}"
    return _postgres_database(db_url.replace("postgresql+asyncpg://", "postgresql://"))


def _user(text, intent, conf=0.9, at=None, entities=None):
    from rasa.shared.core.events import UserUttered
    return UserUttered(text, {"name": intent, "confidence": conf}, entities or [], timestamp=at,
                       input_channel="socketio")


def _turn(kind: str, text: str, at: float, program: str = "dibao"):
    """Events of one turn as Rasa stores them, for the kinds the insights tell apart."""
    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet
    if kind == "answered":
        return [_user(text, "ask_materials", at=at), ActionExecuted("action_answer_knowledge", timestamp=at + .1),
                BotUttered("申请低保要带：身份证……", timestamp=at + .2),
                SlotSet("program", program, timestamp=at + .3), SlotSet("aspect", "materials", timestamp=at + .3),
                ActionExecuted("action_listen", timestamp=at + .4)]
    if kind == "clarified":
        return [_user(text, "ask_materials", at=at), ActionExecuted("action_answer_knowledge", timestamp=at + .1),
                BotUttered("您问的是哪一项？", timestamp=at + .2),
                SlotSet("pending_aspect", "materials", timestamp=at + .3),
                ActionExecuted("action_listen", timestamp=at + .4)]
    if kind == "fallback":
        return [_user(text, "nlu_fallback", 0.3, at=at), ActionExecuted("action_default_fallback", timestamp=at + .1),
                BotUttered("抱歉，我没听懂。", timestamp=at + .2), ActionExecuted("action_listen", timestamp=at + .4)]
    if kind == "handover":
        return [_user(text, "request_human", at=at), ActionExecuted("action_handoff", timestamp=at + .1),
                BotUttered("正在为您转接工作人员。", timestamp=at + .2),
                ActionExecuted("action_listen", timestamp=at + .4)]
    raise ValueError(kind)


async def _save(store, sender, turns):
    from rasa.shared.core.events import ActionExecuted
    from rasa.shared.core.trackers import DialogueStateTracker
    old = await store.retrieve(sender)
    events = list(old.events) if old else [ActionExecuted("action_listen", timestamp=time.time() - 100)]
    for t in turns:
        events += t
    await store.save(DialogueStateTracker.from_events(sender, events))


def test_refresh_classifies_groups_and_reads_incrementally(db_url, tmp_path):
    # One event loop for the whole story: pooled PostgreSQL connections belong to the loop that opened them.
    asyncio.run(_story(db_url, tmp_path))


async def _story(db_url, tmp_path):
    from bot.insights.feedback import latest_answer, store as store_feedback
    from bot.insights.service import Insights
    from bot.rasa.tracker_store import HuiminTrackerStore

    tracker_url = _tracker_url(db_url, tmp_path)
    store = HuiminTrackerStore(url=tracker_url)
    now = time.time()
    await _save(store, "websession0001", [
        _turn("answered", "低保要带什么材料", now),
        _turn("fallback", "狗可以办身份证吗", now + 2),
        _turn("fallback", "我的身份证110101199003076578丢了怎么补", now + 4),
        _turn("clarified", "要带什么材料", now + 6),
    ])
    await _save(store, "wx:openid-abc", [_turn("fallback", "狗能不能办身份证", now + 8),
                                   _turn("handover", "我要找人工", now + 10)])
    insights = Insights(db_url, tracker_url)

    assert await insights.refresh() == 6
    assert await insights.refresh() == 0  # nothing new: the position is remembered
    groups = await insights.groups()
    overview = await insights.overview()
    [week] = overview["weeks"]
    assert (week["answered"], week["clarified"], week["fallback"], week["handover"]) == (1, 1, 3, 1)
    dog = next(g for g in groups if "狗可以办身份证吗" in g["samples"])
    assert dog["count"] == 2 and dog["channels"] == {"web": 1, "wechat": 1}
    assert "狗能不能办身份证" in dog["samples"]
    texts = [t for g in groups for t in g["samples"]]
    assert not any("低保要带什么材料" == t for t in texts)  # answered messages are not problems
    masked = [t for t in texts if "丢了怎么补" in t]
    assert masked and "110101199003076578" not in masked[0] and "*" in masked[0]

    # New conversation turns are read on the next refresh and join the existing group.
    await _save(store, "websession0002", [_turn("fallback", "狗可以办身份证吗？", now + 20)])
    await insights.refresh()
    dog2 = next(g for g in await insights.groups() if g["id"] == dog["id"])
    assert dog2["count"] == 3

    # Feedback: the latest answer of a conversation, a 没用 vote marks its question unhelpful and groups it.
    await _save(store, "websession0003", [_turn("answered", "低保的材料有哪些呢", now + 30)])
    target = latest_answer(insights.reader, "websession0003")
    assert target["program"] == "dibao" and target["aspect"] == "materials"
    assert await store_feedback(db_url, insights.reader, "websession0003", target["answer_id"] + 99,
                                False) is None  # not an answer of this conversation
    saved = await store_feedback(db_url, insights.reader, "websession0003", target["answer_id"], False,
                                 "没说户口本要不要复印，电话13800138001")
    assert saved["helpful"] is False
    await insights.refresh()
    overview = await insights.overview()
    assert overview["helpfulness"] == [{"program": "dibao", "helpful": 0, "unhelpful": 1}]
    unhelpful = [g for g in await insights.groups() if g["outcomes"].get("unhelpful")]
    assert unhelpful and unhelpful[0]["samples"] == ["低保的材料有哪些呢"]
    engine = sa.create_engine(db_url.replace("+aiosqlite", "").replace("+asyncpg", ""))
    with engine.connect() as conn:
        note = conn.execute(sa.text("SELECT missing FROM insights_feedback")).scalar()
    engine.dispose()
    assert "13800138001" not in note and "138****8001" in note

    # Replay bookkeeping: counts what the parser says, per acted-on group.
    await insights.record_action(dog["id"], "out_of_scope", {"texts": ["狗可以办身份证吗"]}, "编辑甲")
    assert await insights.stale_replays("m1.tar.gz") == [dog["id"]]

    async def parse(text):
        return {"intent": {"name": "out_of_scope" if "可以" in text else "nlu_fallback"}}
    [result] = await insights.replay(parse, "m1.tar.gz")
    assert (result["total"], result["answered"]) == (3, 2)
    assert await insights.stale_replays("m1.tar.gz") == []
    assert await insights.stale_replays("m2.tar.gz") == [dog["id"]]
    g = await insights.group(dog["id"])
    assert g["replay"]["answered"] == 2 and g["action"] == "out_of_scope" and g["acted_by"] == "编辑甲"
    insights.close()


def test_retention_removes_old_insights(db_url):
    """`python -m bot retention run` applies the conversations' period to the copies kept here."""
    from bot.db import to_sync_url
    from bot.retention.run import apply_policies

    old = dt.datetime.utcnow() - dt.timedelta(days=200)
    recent = dt.datetime.utcnow() - dt.timedelta(days=2)
    engine = sa.create_engine(to_sync_url(db_url))
    with engine.begin() as conn:
        for i, at in enumerate((old, recent)):
            conn.execute(sa.text(
                "INSERT INTO insights_messages (event_id, at, week, channel, text, outcome, unhelpful) "
                "VALUES (:e, :at, '2026-W01', 'web', '问题', 'fallback', false)"), {"e": i, "at": at})
            conn.execute(sa.text("INSERT INTO insights_groups (label, first_seen, last_seen) "
                                 "VALUES ('问题', :at, :at)"), {"at": at})
            conn.execute(sa.text(
                "INSERT INTO insights_feedback (created_at, conversation_hash, answer_event_id, channel, helpful) "
                "VALUES (:at, 'h', :e, 'web', true)"), {"e": i, "at": at})
    counts = apply_policies(db_url)
    assert (counts["insights messages"], counts["insights groups"], counts["insights feedback"]) == (1, 1, 1)
    with engine.connect() as conn:
        for table in ("insights_messages", "insights_groups", "insights_feedback"):
            assert conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar() == 1
    engine.dispose()


def test_group_actions_out_of_scope_file_examples_and_situations(db_url, tmp_path):
    """Out of scope goes to Huimin's own training file (created on first use, parseable by Rasa); examples go
    through the editor (history); masked texts are never training data; a situation is a reason and concepts."""
    import shutil
    from pathlib import Path

    from rasa.shared.nlu.training_data.loading import load_data

    from bot.editor.service import EditorService
    from bot.insights import actions
    from bot.insights.models import Group, Message
    from bot.insights.service import Insights, InsightsError
    from bot.db import session_scope

    root = Path(__file__).resolve().parent.parent
    kdir = tmp_path / "knowledge"
    shutil.copytree(root / "knowledge", kdir)
    training_root = tmp_path / "training"
    insights = Insights(db_url, f"sqlite:///{tmp_path / 'none.db'}")
    editor = EditorService(kdir, db_url)
    texts = ["外星人能领低保吗", "外星人可以申请低保吗", "外星人138****8001能领吗"]

    async def go():
        now = dt.datetime.now(dt.timezone.utc)
        async with session_scope(db_url) as s:
            g = Group(label=texts[0], first_seen=now, last_seen=now)
            s.add(g)
            await s.flush()
            for i, t in enumerate(texts):
                s.add(Message(event_id=100 + i, at=now, week="2026-W49", channel="web", text=t, outcome="fallback",
                              unhelpful=False, group_id=g.id))
        gid = g.id
        out = await actions.act(insights, editor, training_root, gid, {"action": "out_of_scope", "texts": texts},
                                "编辑甲")
        assert out["action_detail"]["added"] == texts[:2]  # the masked one is left out
        again = await actions.act(insights, editor, training_root, gid,
                                  {"action": "out_of_scope", "texts": texts[:1]}, "编辑甲")
        assert again["action_detail"]["added"] == []
        with pytest.raises(InsightsError):
            await actions.act(insights, editor, training_root, gid, {"action": "out_of_scope",
                                                                     "texts": ["别的话"]}, "编辑甲")
        with pytest.raises(InsightsError):
            await actions.act(insights, editor, training_root, gid, {"action": "out_of_scope",
                                                                     "texts": texts[2:]}, "编辑甲")
        ex = await actions.act(insights, editor, training_root, gid,
                               {"action": "examples", "entry": "program:dibao", "aspect": "eligibility",
                                "texts": texts[:2]}, "编辑乙")
        assert ex["action_detail"]["added"] == texts[:2] and ex["action_detail"]["revision"]
        history = await editor.history("program", "dibao")
        assert history[0]["user"] == "编辑乙" and history[0]["needs_retraining"] is True
        assert set(texts[:2]) <= set(editor.get_entry("program", "dibao")["data"]["example_questions"]["eligibility"])
        # A situation: the editor writes the reason and picks the concepts; saved through the editor, checked
        # like kb check, and the second reading recommends the entry at once (no retraining).
        from bot.knowledge.loader import load_knowledge
        from bot.understanding.context import reading_for
        asked = "家里老房子塌了一半，外星人能帮忙吗"
        async with session_scope(db_url) as s:
            s.add(Message(event_id=200, at=now, week="2026-W49", channel="web", text=asked, outcome="fallback",
                          unhelpful=False, group_id=gid))
        assert "meal" not in {s.entry_id for s in reading_for(load_knowledge(kdir), asked).situations}
        assert actions.concepts_found(kdir, [asked, texts[0]]).get("disaster") == 1
        bad = {"action": "situation", "entry": "service:meal", "texts": [asked]}
        for wrong in ({"why": "", "when": ["disaster"]}, {"why": "理由", "when": []},
                      {"why": "理由", "when": ["no_such_concept"]}):
            with pytest.raises(InsightsError):
                await actions.act(insights, editor, training_root, gid, {**bad, **wrong}, "编辑乙")
        sit = await actions.act(insights, editor, training_root, gid,
                                {**bad, "why": "家里遭了灾、做饭成问题的，可以先订老年助餐。", "when": ["disaster"]},
                                "编辑乙")
        detail = sit["action_detail"]
        assert sit["action"] == "situation" and detail["fits"] == [asked] and detail["needs_retraining"] is False
        assert detail["situation"] == {"why": "家里遭了灾、做饭成问题的，可以先订老年助餐。", "when": ["disaster"]}
        assert (await editor.history("service", "meal"))[0]["user"] == "编辑乙"
        saved = editor.get_entry("service", "meal")["data"]["situations"]
        assert saved[-1] == detail["situation"] and len(saved) > 1  # appended to the entry's own situations
        assert "meal" in {s.entry_id for s in reading_for(load_knowledge(kdir), asked).situations}
        with pytest.raises(InsightsError):  # only programmes and bookable services have situations
            await actions.act(insights, editor, training_root, gid,
                              {**bad, "entry": "site:dayanggou", "why": "理由", "when": ["disaster"]}, "编辑乙")

    asyncio.run(go())
    path = training_root / "data" / "nlu" / "out_of_scope_editor.yml"
    data = load_data(str(path))
    assert sorted(e.get("text") for e in data.intent_examples) == sorted(texts[:2])
    assert {e.get("intent") for e in data.intent_examples} == {"out_of_scope"}
    assert list(path.parent.iterdir()) == [path]  # no lock or temp file left among the training data


def test_a_message_the_second_reading_understood_is_neither_a_miss_nor_counted_twice():
    """The fallback ladder reads a message again before admitting a miss (actions/core.py): re-read as another
    intent (a second user event with the same text) or answered in place (the miss counter set to 0). Either way
    the resident got an answer: one answered message, not a fallback, and not two messages."""
    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered, UserUtteranceReverted

    from bot.insights.tracker import ANSWERED, FALLBACK, Event, turns

    def events(sender, raw):
        out = []
        for i, e in enumerate(raw):
            d = e.as_dict()
            out.append(Event(i + 1, sender, d["event"], d.get("name") if d["event"] == "action" else None, d))
        return out

    at = time.time()
    reread_parse = {"intent": {"name": "ask_materials", "confidence": 1.0}, "entities": [], "second_reading": True}
    reread = events("a", [
        _user("低保那个东西要准备啥", "nlu_fallback", 0.2, at=at), ActionExecuted("action_default_fallback"),
        UserUtteranceReverted(), ActionExecuted("action_listen"),
        UserUttered("低保那个东西要准备啥", parse_data=reread_parse), ActionExecuted("action_answer_knowledge"),
        BotUttered("申请低保要带：身份证……"), SlotSet("program", "dibao"), SlotSet("aspect", "materials")])
    in_place = events("b", [
        _user("老伴走了一个人住", "nlu_fallback", 0.2, at=at), ActionExecuted("action_default_fallback"),
        BotUttered("您说的情况，可以看看：……"), SlotSet("fallback_count", 0.0)])
    miss = events("c", [
        _user("火星上能种土豆吗", "nlu_fallback", 0.2, at=at), ActionExecuted("action_default_fallback"),
        BotUttered("抱歉，我没听懂。"), UserUtteranceReverted(), SlotSet("fallback_count", 1.0)])
    [t1], [t2], [t3] = list(turns(reread)), list(turns(in_place)), list(turns(miss))
    assert (t1.outcome(), t1.intent[0], t1.user.id) == (ANSWERED, "ask_materials", 1)
    assert t1.answer_event() is not None
    assert (t2.outcome(), t3.outcome()) == (ANSWERED, FALLBACK)
