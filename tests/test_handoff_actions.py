"""Handoff actions driven with a real rasa_sdk Tracker and CollectingDispatcher against a migrated database:
the ticket, its reason and priority, the pause, the honest office-hours message — on an injected clock, so
every run checks both the in-hours and the after-hours wording — and a new session that stays paused while the
ticket is open."""
from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionHandback, ActionHandoff, ActionSessionStart
from bot.handoff import tickets
from bot.handoff.offices import OfficeConfig, load_offices

DOMAIN = {"session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True}}


def make_tracker(sender: str, intent: str, text: str, slots=None, channel: str = "socketio") -> Tracker:
    now = time.time()
    events = [
        {"event": "action", "name": "action_listen", "timestamp": now - 5},
        {"event": "user", "text": "低保要什么材料", "timestamp": now - 4, "input_channel": channel,
         "parse_data": {"intent": {"name": "ask_materials"}}},
        {"event": "bot", "text": "要带身份证和户口本。", "timestamp": now - 3},
        {"event": "user", "text": text, "timestamp": now - 1, "input_channel": channel,
         "parse_data": {"intent": {"name": intent}}},
    ]
    return Tracker(sender, slots or {}, {"intent": {"name": intent}, "entities": [], "text": text}, events,
                   False, None, {}, "action_listen")


def office_moment(is_open: bool) -> dt.datetime:
    """A moment at which the default office of knowledge/offices.yml is open (or closed): searched hour by hour
    from an ordinary Monday morning, so the test follows the office hours the editors set."""
    offices = load_offices()
    start = dt.datetime(2026, 3, 2, 10, 15, tzinfo=ZoneInfo(offices.timezone))
    moment = next(start + dt.timedelta(hours=h) for h in range(24 * 14)
                  if offices.get().is_open(start + dt.timedelta(hours=h)) == is_open)
    return moment


@pytest.fixture(params=["in_hours", "after_hours"])
def clock(request, monkeypatch) -> dt.datetime:
    """The handoff action's clock (``OfficeConfig.now``) fixed in office hours, then outside them."""
    moment = office_moment(request.param == "in_hours")
    monkeypatch.setattr(OfficeConfig, "now", lambda self: moment)
    return moment


def said(dispatcher: CollectingDispatcher) -> list:
    return [m["response"] for m in dispatcher.messages]


async def test_handoff_opens_a_ticket_pauses_and_tells_the_truth(db_url, clock):
    dispatcher = CollectingDispatcher()
    events = await ActionHandoff().run(dispatcher, make_tracker("c1", "request_human", "转人工",
                                                                {"program": "dibao"}), DOMAIN)
    assert events == [{"event": "pause", "timestamp": None}]
    [ticket] = await tickets.list_tickets("waiting", url=db_url)
    assert ticket["conversation_id"] == "c1" and ticket["reason"] == "requested" and ticket["channel"] == "socketio"
    assert "居民：低保要什么材料" in ticket["summary"] and "dibao" in ticket["context"]
    office = load_offices().get()
    if office.is_open(clock):
        assert said(dispatcher) == ["utter_handoff_next"]  # nobody waiting ahead
    else:
        assert said(dispatcher) == ["utter_handoff_after_hours"]
        # When someone will answer, and a number to ring meanwhile.
        assert dispatcher.messages[0]["next_open"] and dispatcher.messages[0]["office_phone"] == office.phone

    # A second resident is told how many wait ahead in hours; after hours, when the office opens.
    dispatcher = CollectingDispatcher()
    await ActionHandoff().run(dispatcher, make_tracker("c1b", "request_human", "转人工"), DOMAIN)
    if office.is_open(clock):
        assert said(dispatcher) == ["utter_handoff_queued"]
        assert dispatcher.messages[0]["queue_ahead"] == 1
        assert dispatcher.messages[0]["wait_minutes"] == office.minutes_per_ticket
    else:
        assert said(dispatcher) == ["utter_handoff_after_hours"]


def test_the_clock_is_really_in_and_out_of_office_hours():
    office = load_offices().get()
    assert office.is_open(office_moment(True)) and not office.is_open(office_moment(False))


async def test_emergency_is_served_first_and_wechat_gets_its_own_after_hours_wording(db_url, clock):
    await ActionHandoff().run(CollectingDispatcher(), make_tracker("c1", "request_human", "转人工"), DOMAIN)
    dispatcher = CollectingDispatcher()
    await ActionHandoff().run(dispatcher, make_tracker("c2", "emergency", "我妈摔倒了", channel="wechat"), DOMAIN)
    queue = await tickets.list_tickets("waiting", url=db_url)
    assert [(t["conversation_id"], t["reason"]) for t in queue] == [("c2", "emergency"), ("c1", "requested")]
    if load_offices().get().is_open(clock):
        assert said(dispatcher) == ["utter_handoff_next"]  # nobody ahead of an emergency
    else:
        assert said(dispatcher) == ["utter_handoff_after_hours_wechat"]


async def test_repeated_misunderstanding_and_complaint_reasons(db_url):
    await ActionHandoff().run(CollectingDispatcher(), make_tracker("c3", "request_human", "/request_human",
                                                                   {"fallback_count": 2.0}), DOMAIN)
    await ActionHandoff().run(CollectingDispatcher(), make_tracker("c4", "complaint", "你们办事太慢了"), DOMAIN)
    reasons = {t["conversation_id"]: t["reason"] for t in await tickets.list_tickets("waiting", url=db_url)}
    assert reasons == {"c3": "repeated_misunderstanding", "c4": "complaint"}


async def test_new_session_stays_paused_while_the_ticket_is_open(db_url):
    await ActionHandoff().run(CollectingDispatcher(), make_tracker("c5", "request_human", "转人工"), DOMAIN)
    events = await ActionSessionStart().run(CollectingDispatcher(),
                                            make_tracker("c5", "greet", "在吗", {"program": "dibao"}), DOMAIN)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "session_started" and kinds[-1] == "action"
    assert kinds.index("pause") > kinds.index("session_started")
    assert {"event": "slot", "name": "program", "value": "dibao", "timestamp": None} in events

    # Handed back: a new session is an ordinary one again.
    [ticket] = await tickets.list_tickets("waiting", url=db_url)
    await tickets.claim(ticket["id"], "wang", db_url)
    await tickets.mark_handed_back(ticket["id"], "wang", db_url)
    events = await ActionSessionStart().run(CollectingDispatcher(), make_tracker("c5", "greet", "在吗"), DOMAIN)
    assert "pause" not in [e["event"] for e in events]
    # Another conversation without a ticket is never paused.
    events = await ActionSessionStart().run(CollectingDispatcher(), make_tracker("c6", "greet", "在吗"), DOMAIN)
    assert "pause" not in [e["event"] for e in events]


async def test_handback_resumes_and_says_so(db_url):
    dispatcher = CollectingDispatcher()
    events = await ActionHandback().run(dispatcher, make_tracker("c7", "request_human", "转人工"), DOMAIN)
    assert {"event": "resume", "timestamp": None} in events
    assert [m["response"] for m in dispatcher.messages] == ["utter_handback"]


async def test_handoff_without_a_database_says_so_and_does_not_pause(monkeypatch, tmp_path):
    monkeypatch.setenv("HUIMIN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'not-migrated.db'}")
    dispatcher = CollectingDispatcher()
    events = await ActionHandoff().run(dispatcher, make_tracker("c8", "request_human", "转人工"), DOMAIN)
    assert events == []
    assert dispatcher.messages[0]["response"] == "utter_handoff_failed"


def test_office_hours_and_next_opening():
    import datetime as dt
    from zoneinfo import ZoneInfo

    from bot.handoff.offices import describe_opening, parse_config

    cfg = parse_config({"timezone": "Asia/Shanghai", "default_office": "a", "offices": [{
        "id": "a", "name": "A", "hours": {"mon-fri": ["08:30-12:00", "13:30-17:30"], "sat": ["09:00-12:00"]},
        "closed_dates": ["2025-10-01"], "open_dates": ["2025-10-12"]}]})
    tz = ZoneInfo("Asia/Shanghai")
    office = cfg.get()
    assert office.is_open(dt.datetime(2025, 9, 29, 9, 0, tzinfo=tz))          # Monday morning
    assert not office.is_open(dt.datetime(2025, 9, 29, 12, 30, tzinfo=tz))    # lunch
    assert not office.is_open(dt.datetime(2025, 10, 1, 9, 0, tzinfo=tz))      # National Day
    assert office.is_open(dt.datetime(2025, 10, 12, 9, 0, tzinfo=tz))         # working Sunday
    friday_evening = dt.datetime(2025, 9, 26, 18, 0, tzinfo=tz)
    nxt = office.next_opening(friday_evening)
    assert nxt == dt.datetime(2025, 9, 27, 9, 0, tzinfo=tz)
    assert describe_opening(nxt, friday_evening) == "明天上午9:00"
    lunch = dt.datetime(2025, 9, 29, 12, 30, tzinfo=tz)
    assert describe_opening(office.next_opening(lunch), lunch) == "今天下午1:30"
