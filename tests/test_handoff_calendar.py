"""The human-service office reads the one holiday calendar the sites use (knowledge/sites/_holidays.yml): on a
public holiday nobody is told staff are 马上就来. Its phone is its own (not the 12345 city hotline) and, while it
is demo data, residents read 演示数据 next to it."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionHandoff
from bot.handoff import offices as offices_module
from bot.handoff.offices import load_offices
from bot.knowledge.check import check_knowledge
from bot.knowledge.operational import check_calendar
from tests.test_handoff_actions import DOMAIN, make_tracker

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = ROOT / "knowledge"
TZ = ZoneInfo("Asia/Shanghai")
NEW_YEAR_2027 = dt.datetime(2027, 1, 1, 10, 0, tzinfo=TZ)  # a Friday: office hours, but a public holiday


def test_office_is_closed_on_every_public_holiday_of_the_shared_calendar():
    cfg = load_offices(KNOWLEDGE / "offices.yml")
    office = cfg.get()
    assert not office.is_open(NEW_YEAR_2027)
    assert office.next_opening(NEW_YEAR_2027) == dt.datetime(2027, 1, 2, 9, 0, tzinfo=TZ)  # Saturday hours
    assert not office.is_open(dt.datetime(2026, 10, 5, 10, 0, tzinfo=TZ))   # National Day week, a Monday
    assert office.is_open(dt.datetime(2026, 10, 9, 10, 0, tzinfo=TZ))       # an ordinary Friday
    # 调休: Saturday 2026-10-10 is a working day, on the Monday timetable (afternoon too).
    assert office.is_open(dt.datetime(2026, 10, 10, 15, 0, tzinfo=TZ))


async def test_on_a_2027_holiday_the_resident_is_not_told_staff_are_coming(db_url, monkeypatch):
    monkeypatch.setattr(offices_module.OfficeConfig, "now", lambda self: NEW_YEAR_2027)
    dispatcher = CollectingDispatcher()
    await ActionHandoff().run(dispatcher, make_tracker("h1", "request_human", "转人工"), DOMAIN)
    [message] = dispatcher.messages
    assert message["response"] == "utter_handoff_after_hours"
    assert message["next_open"] == "明天上午9:00"
    # The office's own (demo) number, marked as demo data — never the 12345 city hotline.
    assert message["office_phone"] == "025-0000-0100（演示数据）"


def test_office_phone_and_calendar_are_checked(tmp_path):
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    offices = target / "offices.yml"
    offices.write_text(offices.read_text(encoding="utf-8").replace("phone: 025-0000-0100", 'phone: "12345"')
                       .replace("    demo: true\n", ""), encoding="utf-8")
    calendar = target / "sites" / "_holidays.yml"
    calendar.write_text(calendar.read_text(encoding="utf-8").replace(
        "workdays: [", "workdays: [2025-09-28, "), encoding="utf-8")
    messages = [str(p) for p in check_knowledge(target)]
    assert any("offices.yml" in m and "12345 是市民服务热线" in m for m in messages), messages
    assert any("offices.yml" in m and "sources" in m and "demo: true" in m for m in messages), messages
    assert any("_holidays.yml" in m and "2025 年的日期没有来源" in m for m in messages), messages
    # Once 2027 begins, its arrangement must be entered (only 元旦 is known before the notice is published).
    assert check_calendar(KNOWLEDGE, dt.date(2026, 12, 7)) == []
    assert any("2027 年" in p.message for p in check_calendar(KNOWLEDGE, dt.date(2027, 1, 2)))
    # ... for a deployment (kb check --production); editors' saves and CI keep working on 1 January.
    assert check_calendar(KNOWLEDGE, dt.date(2027, 1, 2), current_year=False) == []
