"""The tracker store's session cache (bot/rasa/tracker_store.py) on real SQLite and PostgreSQL databases: what it
returns is what Rasa's own SQL store reads from the same database, after writes by this store, by another store
instance (a second Rasa replica), after a deletion and after a new session; it holds only redacted data."""
from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest

from conftest import DB_KINDS, _postgres_database

DOMAIN_YAML = """
version: "3.1"
intents: [greet, ask_amount, inform]
entities: [program]
slots:
  program:
    type: text
    influence_conversation: false
    mappings: [{type: from_entity, entity: program}]
  fallback_count:
    type: float
    influence_conversation: false
    mappings: [{type: custom}]
responses:
  utter_greet: [{text: "您好"}]
actions: [action_answer_knowledge]
"""
PHONE = "13645678901"
_clock = [time.time()]


def tick() -> float:
    """Strictly increasing timestamps: Rasa's session query compares them with the session start."""
    _clock[0] += 1.0
    return _clock[0]


@pytest.fixture(params=DB_KINDS)
def tracker_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tracker.db'}"
    return _postgres_database(os.environ["HUIMIN_TEST_POSTGRES_URL"].replace("postgresql+asyncpg://",
                                                                            "postgresql://"))


@pytest.fixture
def domain():
    from rasa.shared.core.domain import Domain
    return Domain.from_yaml(DOMAIN_YAML)


def store(domain, url):
    from bot.rasa.tracker_store import HuiminTrackerStore
    return HuiminTrackerStore(domain=domain, url=url)


def reference(domain, url, sender):
    """What Rasa's own SQL store reads from the same database, replayed event by event as Rasa does (without
    bot/rasa/fixes.py's single replay): the reference for what a read must return."""
    import json

    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.events import deserialise_events
    from rasa.shared.core.trackers import DialogueStateTracker

    rasa = SQLTrackerStore(domain=domain, host=url)
    with rasa.session_scope() as session:
        rows = rasa._event_query(session, sender, fetch_events_from_all_sessions=False).all()
        events = deserialise_events([json.loads(r.data) for r in rows])
    rasa.engine.dispose()
    tracker = DialogueStateTracker(sender, domain.slots)
    for e in events:
        tracker.update(e)
    return tracker


def turn(text: str, intent: str, reverted: bool = False):
    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered, UserUtteranceReverted

    events = [UserUttered(text, {"name": intent, "confidence": 0.9}, timestamp=tick()),
              ActionExecuted("action_answer_knowledge", timestamp=tick()),
              BotUttered("答复", timestamp=tick()),
              SlotSet("program", "dibao", timestamp=tick())]
    if reverted:
        events += [UserUtteranceReverted(timestamp=tick()), SlotSet("fallback_count", 1.0, timestamp=tick())]
    return events + [ActionExecuted("action_listen", timestamp=tick())]


def session_start():
    from rasa.shared.core.events import ActionExecuted, SessionStarted

    return [ActionExecuted("action_session_start", timestamp=tick()), SessionStarted(timestamp=tick()),
            ActionExecuted("action_listen", timestamp=tick())]


def run(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


def state(tracker):
    from rasa.shared.core.trackers import EventVerbosity
    s = tracker.current_state(EventVerbosity.ALL)
    for e in s["events"]:
        e.get("metadata", {}).pop("model_id", None)
    return s


def new_tracker(domain, sender, events):
    from rasa.shared.core.trackers import DialogueStateTracker
    return DialogueStateTracker.from_events(sender, events, domain.slots)


def test_reads_match_rasa_and_come_from_the_cache(domain, tracker_url, monkeypatch):
    from bot.rasa import tracker_store as ts

    a = store(domain, tracker_url)
    sender = f"cache-{uuid.uuid4().hex[:8]}"
    events = session_start() + turn("低保多少钱", "ask_amount") + turn("嗯？", "inform", reverted=True)
    run(a.save(new_tracker(domain, sender, events)))
    first = run(a.retrieve(sender))
    assert state(first) == state(reference(domain, tracker_url, sender))
    assert first.get_slot("fallback_count") == 1.0

    # The next turn: appended and saved; the following read needs no parsing of stored events at all.
    first.update_with_events(turn("高龄津贴呢", "ask_amount"), domain, override_timestamp=False)
    run(a.save(first))
    parsed = []
    original = ts.deserialise_events
    monkeypatch.setattr(ts, "deserialise_events", lambda dicts: parsed.append(len(dicts)) or original(dicts))
    second = run(a.retrieve(sender))
    assert parsed == []
    assert state(second) == state(reference(domain, tracker_url, sender))
    assert len(second.events) == len(events) - 1 + 5  # a session starts after action_session_start


def test_a_write_by_another_replica_is_seen(domain, tracker_url):
    a, b = store(domain, tracker_url), store(domain, tracker_url)
    sender = f"replicas-{uuid.uuid4().hex[:8]}"
    run(a.save(new_tracker(domain, sender, session_start() + turn("低保多少钱", "ask_amount"))))
    assert len(run(a.retrieve(sender)).events) == 7  # now cached by a

    on_b = run(b.retrieve(sender))
    on_b.update_with_events(turn("要什么材料", "ask_amount", reverted=True), domain, override_timestamp=False)
    run(b.save(on_b))
    seen_by_a = run(a.retrieve(sender))
    assert state(seen_by_a) == state(reference(domain, tracker_url, sender))
    assert [e.type_name for e in seen_by_a.events][-3:] == ["rewind", "slot", "action"]

    # ...and a's next save appends after b's events, not over them.
    seen_by_a.update_with_events(turn("谢谢", "greet"), domain, override_timestamp=False)
    run(a.save(seen_by_a))
    assert state(run(b.retrieve(sender))) == state(reference(domain, tracker_url, sender))
    assert len(run(b.retrieve(sender)).events) == 7 + 7 + 5


def test_a_new_session_and_a_deleted_conversation(domain, tracker_url):
    import sqlalchemy as sa

    a, b = store(domain, tracker_url), store(domain, tracker_url)
    sender = f"sessions-{uuid.uuid4().hex[:8]}"
    run(a.save(new_tracker(domain, sender, session_start() + turn("低保多少钱", "ask_amount"))))
    run(a.retrieve(sender))
    old = run(b.retrieve(sender))
    old.update_with_events(session_start() + turn("你好", "greet"), domain, override_timestamp=False)
    run(b.save(old))
    latest = run(a.retrieve(sender))
    assert state(latest) == state(reference(domain, tracker_url, sender))
    assert [e.type_name for e in latest.events][:2] == ["session_started", "action"]

    # The retention job deletes whole conversations behind the stores' backs.
    engine = sa.create_engine(tracker_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM events WHERE sender_id = :s"), {"s": sender})
    engine.dispose()
    assert run(a.retrieve(sender)) is None
    run(b.save(new_tracker(domain, sender, session_start() + turn("你好", "greet"))))
    again = run(a.retrieve(sender))
    assert state(again) == state(reference(domain, tracker_url, sender))
    assert len(again.events) == 7


def test_the_cache_holds_only_what_the_database_holds(domain, tracker_url):
    a = store(domain, tracker_url)
    sender = f"privacy-{uuid.uuid4().hex[:8]}"
    run(a.save(new_tracker(domain, sender, session_start() + turn(f"我的手机号{PHONE}", "inform"))))
    cached = run(a.retrieve(sender))
    live = new_tracker(domain, sender, list(cached.events))
    live.update_with_events(turn(f"再说一遍 {PHONE}", "inform"), domain, override_timestamp=False)
    assert any(PHONE in (getattr(e, "text", "") or "") for e in live.events)  # the running turn sees it
    run(a.save(live))
    entry = a.cache.get(sender)
    assert entry is not None and len(entry.events) == 12
    assert not any(PHONE in str(e.as_dict()) for e in entry.events)
    assert state(run(a.retrieve(sender))) == state(reference(domain, tracker_url, sender))


def test_the_cache_is_bounded_by_events():
    from rasa.shared.core.events import ActionExecuted

    from bot.rasa.tracker_store import EventCache, _Session

    cache = EventCache(max_events=10)
    for i in range(4):
        cache.put(f"c{i}", _Session(4, i, None, [ActionExecuted("action_listen") for _ in range(4)]))
    assert cache.total <= 10 and cache.get("c0") is None and cache.get("c3") is not None
    cache.extend("c3", cache.get("c3"), [ActionExecuted("action_listen")] * 3)
    assert cache.total == sum(len(e.events) for e in cache._entries.values()) <= 10


def test_a_long_conversation_is_resumed_from_its_last_read(domain, tracker_url, monkeypatch):
    """A read applies only the events stored since the previous read (a rewind still replays what it reverts)
    and builds the very tracker Rasa's replay of every stored event builds: slots and whether they were set,
    latest message and action, loop, pause."""
    from rasa.shared.core.events import ActiveLoop, ConversationPaused, ConversationResumed, SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker

    a = store(domain, tracker_url)
    sender = f"resume-{uuid.uuid4().hex[:8]}"
    run(a.save(new_tracker(domain, sender, session_start())))
    applied = []
    update = DialogueStateTracker.update
    monkeypatch.setattr(DialogueStateTracker, "update",
                        lambda self, event, domain=None: applied.append(event) or update(self, event, domain))
    for i in range(24):
        tracker = run(a.retrieve(sender))
        new = turn(f"问题{i}", "ask_amount", reverted=i % 5 == 1)
        if i == 7:
            new[1:1] = [ActiveLoop("booking_form", timestamp=tick()), SlotSet("program", "gaoling", timestamp=tick())]
        if i == 9:
            new[1:1] = [ActiveLoop(None, timestamp=tick()), ConversationPaused(timestamp=tick())]
        if i == 11:
            new[1:1] = [ConversationResumed(timestamp=tick())]
        tracker.update_with_events(new, domain, override_timestamp=False)
        run(a.save(tracker))
        applied.clear()
        read = run(a.retrieve(sender))
        # Only this turn's events (after a rewind, only those after it: the rewind replays what it keeps).
        assert len(applied) == (2 if i % 5 == 1 else len(new)), i
        expected = reference(domain, tracker_url, sender)
        assert state(read) == state(expected), i
        assert ({n: (s.value, s.has_been_set) for n, s in read.slots.items()}
                == {n: (s.value, s.has_been_set) for n, s in expected.slots.items()}), i
        assert (read.active_loop, read.is_paused(), read.latest_action) == (
            expected.active_loop, expected.is_paused(), expected.latest_action), i
    assert len(read.events) > 24 * 5


def test_a_save_redacts_its_new_events_as_from_the_whole_session():
    """The answer context (which form asked for which slot) carried from the previous save gives the same
    redaction of the new events as walking the whole session, at every point of a real conversation with a
    status check and two booking forms."""
    import json
    from pathlib import Path

    from rasa.shared.core.events import Event

    from bot.rasa.tracker_store import answer_context, redacted_event_dicts

    events = [Event.from_parameters(e) for e in
              json.loads((Path(__file__).parent / "fixtures" / "long_conversation.json").read_text())]
    context = (None, None)
    for k in range(len(events)):
        assert redacted_event_dicts(events, k, context=context) == redacted_event_dicts(events, k), k
        context = answer_context(events[k:k + 1], *context)
    assert any(loop for _, loop in [answer_context(events[:k]) for k in range(0, len(events), 10)])


def test_the_newest_event_is_read_on_the_drivers_connection_as_through_sqlalchemy(domain, tracker_url):
    """The newest-event query runs on the session's DBAPI connection in the driver's parameter style (SQLite and
    PostgreSQL) and answers what the same statement answers through SQLAlchemy."""
    a = store(domain, tracker_url)
    assert a._dbapi_newest is not None
    sender = f"newest-{uuid.uuid4().hex[:8]}"
    run(a.save(new_tracker(domain, sender, session_start() + turn("低保多少钱", "ask_amount"))))
    for who in (sender, "nobody-" + sender):
        with a.session_scope() as session:
            mine = a._newest(session, who)
            row = session.execute(a._newest_sql, {"sender_id": who}).first()
        assert mine == ((0, None, None) if row is None else (int(row[2]), int(row[0]), row[1]))
    with a.session_scope() as session:
        count, last_id, timestamp = a._newest(session, sender)
    assert count == len(session_start() + turn("低保多少钱", "ask_amount"))
    assert last_id > 0 and isinstance(timestamp, float)
