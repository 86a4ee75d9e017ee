"""The pieces of the visible handover that need no running stack: signed web-chat session ids and idle expiry,
the 已收到 check on a paused tracker, the page's history (staff label, acknowledgements), the staff transcript
as people saw it, the waiting banner in and out of office hours, and the booker's name as given."""
from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest

from bot.handoff import wording


def test_session_ids_are_signed_and_a_forgery_is_not():
    from bot.channels.chat_session import SESSION_ID_RE, is_signed, new_session_id

    sid = new_session_id()
    assert SESSION_ID_RE.fullmatch(sid) and is_signed(sid)
    assert sid != new_session_id()
    flipped = sid[:-1] + ("A" if sid[-1] != "A" else "B")
    assert not is_signed(flipped)
    assert not is_signed(new_session_id(key="another key"))
    for junk in (None, 42, "", "e2e-0123456789ab", "x" * 64, "../../etc", sid + "x"):
        assert not is_signed(junk)


def test_idle_sessions_expire_unless_a_person_is_awaited(monkeypatch):
    from bot.channels.chat_session import is_idle

    monkeypatch.setenv("HUIMIN_CHAT_IDLE_MINUTES", "30")
    now = time.time()
    assert not is_idle(now - 29 * 60, paused=False, now=now)
    assert is_idle(now - 31 * 60, paused=False, now=now)
    assert not is_idle(now - 10 * 3600, paused=True, now=now)  # the answer may come the next morning


def _tracker(events):
    from rasa.shared.core.trackers import DialogueStateTracker
    return DialogueStateTracker.from_events("s1", events)


def test_a_message_swallowed_by_the_pause_is_acknowledged_once():
    from rasa.shared.core.events import ActionExecuted, BotUttered, ConversationPaused, UserUttered

    from bot.handoff.waiting import swallowed

    asked = [ActionExecuted("action_listen"), UserUttered("转人工"), ActionExecuted("action_handoff"),
             BotUttered("好的，正在帮您找工作人员"), ConversationPaused()]
    assert not swallowed(_tracker(asked))  # the request itself was answered
    assert swallowed(_tracker(asked + [UserUttered("我家停电了")]))
    staff = asked + [UserUttered("在吗"), BotUttered("您好", metadata={"human_agent": "wang"})]
    assert not swallowed(_tracker(staff))
    assert not swallowed(_tracker([ActionExecuted("action_listen"), UserUttered("你好")]))  # not paused


def test_page_history_shows_the_staff_label_and_the_acknowledgements():
    from bot.console.chat_page import history_from_events

    events = [
        {"event": "user", "text": "转人工", "timestamp": 1.0},
        {"event": "bot", "text": "好的，正在帮您找工作人员", "timestamp": 2.0},
        {"event": "pause", "timestamp": 2.1},
        {"event": "user", "text": "我家停电了", "timestamp": 3.0},
        {"event": "bot", "text": "您好，我来帮您", "metadata": {"human_agent": "小王"}, "timestamp": 4.0},
        {"event": "resume", "timestamp": 5.0},
        {"event": "user", "text": "谢谢", "timestamp": 6.0},
    ]
    shown = history_from_events(events)
    assert [(m["from"], m.get("kind"), m.get("staff")) for m in shown] == [
        ("user", None, None), ("bot", None, None), ("user", None, None),
        ("bot", "received", None), ("bot", None, wording.staff_label("小王")), ("user", None, None)]
    assert shown[3]["text"] == wording.text("received") and shown[4]["at"] == 4.0
    assert wording.staff_label("小王") == "工作人员 小王"


def test_staff_transcript_shows_what_people_saw():
    from bot.console.handoff_api import _last_said, _readable_context, readable_transcript

    payload = '/ask_apply{"program": "dibao"}'
    tracker = {"events": [
        {"event": "user", "text": "/greet", "timestamp": 1.0},
        {"event": "bot", "text": "您想问什么？", "timestamp": 1.1,
         "data": {"buttons": [{"title": "低保怎么申请", "payload": payload}]}},
        {"event": "user", "text": payload, "timestamp": 2.0},
        {"event": "user", "text": '/ask_apply{"program": "tekun"}', "timestamp": 3.0},
        {"event": "user", "text": "我的电话是13812345678", "timestamp": 4.0},
    ]}
    entries = readable_transcript(tracker, {"dibao": "低保", "tekun": "特困供养"})
    residents = [e for e in entries if e["who"] == "resident"]
    assert residents[0]["tapped"]["intent"] == "greet" and residents[0]["text"] == ""
    assert residents[1]["text"] == "低保怎么申请" and residents[1]["tapped"]["title"] == "低保怎么申请"
    assert residents[2]["tapped"]["names"] == ["特困供养"] and residents[2]["text"] == ""
    assert "13812345678" not in residents[3]["text"]  # masked until an audited reveal
    assert [e["index"] for e in entries] == list(range(len(entries)))
    names = {"政策": {"dibao": "低保"}, "服务点": {"dayanggou": "大阳沟社区养老服务站"}, "地区": {"guangzhou": "广州"}}
    assert _readable_context("政策：dibao；地区：guangzhou", names) == "政策：低保；地区：广州"
    assert _readable_context("服务点：dayanggou；地区：重庆", names) == "服务点：大阳沟社区养老服务站；地区：重庆"
    assert _last_said({"last_resident_text": None,
                       "summary": "居民：我摔倒了\n惠民：请马上打 120"}) == "我摔倒了"
    assert _last_said({"last_resident_text": "/request_human", "summary": "居民：/request_human"}) == ""


@pytest.mark.parametrize("when, expected_key", [
    (dt.datetime(2026, 12, 7, 10, 0), "waiting_banner"),           # Monday morning, open
    (dt.datetime(2026, 12, 7, 20, 0), "waiting_banner_after_hours"),  # Monday evening, closed
])
def test_waiting_banner_in_and_after_office_hours(when, expected_key):
    now = when.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    banner = wording.waiting_banner(now=now)
    if expected_key == "waiting_banner":
        assert banner == wording.text("waiting_banner")
    else:
        assert banner == wording.text("waiting_banner_after_hours", next_open="明天上午8:30")


def test_the_bookers_name_as_given():
    from bot.booking.understand import name_as_given

    assert name_as_given("我本人，刘福贵") == "刘福贵"
    assert name_as_given("我是刘福贵。") == "刘福贵"
    assert name_as_given("本人") == "本人"
