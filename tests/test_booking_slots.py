"""Slots, opening hours, closed days, horizon and notice, against the real demo catalogue and fixed clocks."""
import datetime as dt
import shutil
from pathlib import Path

import pytest

from bot.booking import slots
from bot.booking.catalogue import check, entity_phrases, load_catalogue
from bot.booking.when import parse
from tests.conftest import catalogue_without_location

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"
WED = dt.datetime(2026, 12, 2, 9, 30)  # Wednesday


@pytest.fixture(scope="module")
def cat():
    return load_catalogue(KNOWLEDGE)


def verdict(cat, site, service, mode, text, now=WED):
    return slots.resolve(cat, cat.offering(site, service, mode), parse(text, now), now)


def test_demo_catalogue_is_valid():
    assert check(KNOWLEDGE) == []


def test_entity_phrases_cover_colloquial_names(cat):
    phrases = {p: (e, v) for p, e, v in entity_phrases(KNOWLEDGE)}
    assert phrases["洗澡"] == ("service", "bath")
    assert phrases["擦身"] == ("service", "bath")
    assert phrases["送饭"] == ("service", "meal")
    assert phrases["装扶手"] == ("service", "home_adaptation")
    assert phrases["大阳沟"] == ("site", "dayanggou")


def test_day_slots_follow_the_hours(cat):
    day = slots.day_slots(cat.offering("dayanggou", "bath", "site"), dt.date(2026, 12, 3))
    assert [s.start.strftime("%H:%M") for s in day] == ["09:00", "10:00", "14:00", "15:00"]
    assert all(s.capacity == 2 for s in day)


def test_exact_time_inside_a_window_maps_to_that_window(cat):
    v = verdict(cat, "dayanggou", "bath", "home", "12月3号上午十点")
    assert v.ok and v.slot.start == dt.datetime(2026, 12, 3, 9, 0) and v.slot.end == dt.datetime(2026, 12, 3, 11, 0)


def test_part_of_day_lists_that_parts_slots(cat):
    v = verdict(cat, "dayanggou", "bath", "site", "明天下午")
    assert v.reason == slots.NEED_TIME
    assert [s.start.hour for s in v.candidates] == [14, 15]


def test_past_day_and_past_time(cat):
    assert verdict(cat, "dayanggou", "bath", "site", "昨天上午九点").reason == slots.PAST
    assert verdict(cat, "dayanggou", "bath", "site", "今天上午九点").reason == slots.PAST


def test_closed_weekday_and_holiday(cat):
    # dayanggou is closed on Sundays; wulaocun on Saturdays too; all are closed on public holidays.
    assert verdict(cat, "dayanggou", "bath", "site", "周日上午九点").reason == slots.CLOSED
    assert verdict(cat, "wulaocun", "bath", "site", "周六上午九点").reason == slots.CLOSED
    assert verdict(cat, "dayanggou", "bath", "site", "周六上午九点").ok
    new_year = dt.datetime(2026, 12, 28, 9, 0)
    v = verdict(cat, "dayanggou", "bath", "site", "1月1日上午九点", now=new_year)
    assert v.reason == slots.CLOSED and v.holiday == "元旦"


def test_outside_opening_hours(cat):
    assert verdict(cat, "dayanggou", "bath", "site", "明天晚上8点").reason == slots.OUTSIDE_HOURS
    assert verdict(cat, "dayanggou", "bath", "site", "明天中午12点").reason == slots.OUTSIDE_HOURS
    assert verdict(cat, "dayanggou", "bath", "site", "明天晚上").reason == slots.OUTSIDE_HOURS


def test_horizon(cat):
    assert verdict(cat, "dayanggou", "bath", "site", "12月16日上午九点").ok           # today + 14
    assert verdict(cat, "dayanggou", "bath", "site", "12月17日上午九点").reason == slots.BEYOND_HORIZON
    assert verdict(cat, "dayanggou", "meal", "site", "12月10日中午11点").reason == slots.BEYOND_HORIZON  # 7 days


def test_at_home_needs_a_day_of_notice(cat):
    assert verdict(cat, "dayanggou", "bath", "home", "今天下午两点").reason == slots.TOO_SOON
    assert verdict(cat, "dayanggou", "bath", "home", "明天下午两点").ok
    # at the site, two hours are enough
    assert verdict(cat, "dayanggou", "bath", "site", "今天下午两点").ok
    assert verdict(cat, "dayanggou", "bath", "site", "今天上午十点").reason == slots.TOO_SOON


def test_missing_parts(cat):
    assert verdict(cat, "dayanggou", "bath", "site", "下午三点").reason == slots.NEED_DATE
    v = verdict(cat, "dayanggou", "bath", "site", "明天")
    assert v.reason == slots.NEED_TIME and len(v.candidates) == 4


def test_nearest_available_skips_full_slots_and_closed_days(cat):
    off = cat.offering("dayanggou", "bath", "site")
    sat_3pm = dt.datetime(2026, 12, 5, 15, 0)
    booked = {sat_3pm: 2, dt.datetime(2026, 12, 5, 14, 0): 2}
    near = slots.nearest_available(cat, off, sat_3pm, WED, booked, n=3)
    starts = [s.start for s in near]
    assert sat_3pm not in starts and dt.datetime(2026, 12, 5, 14, 0) not in starts
    assert all(s.start.date() != dt.date(2026, 12, 6) for s in near)  # Sunday: closed
    assert starts == sorted(starts) and len(starts) == 3
    # nearest in time: the same morning, then Friday afternoon (Monday morning is further away)
    assert starts == [dt.datetime(2026, 12, 4, 15, 0), dt.datetime(2026, 12, 5, 9, 0), dt.datetime(2026, 12, 5, 10, 0)]


def test_check_reports_file_and_line(tmp_path):
    shutil.copytree(KNOWLEDGE / "services", tmp_path / "services")
    shutil.copytree(KNOWLEDGE / "sites", tmp_path / "sites")
    site = tmp_path / "sites" / "dayanggou.yml"
    text = site.read_text(encoding="utf-8").replace("capacity: 2\n", "capacity: 0\n", 1)
    text = text.replace("service: cleaning", "service: laundry")
    site.write_text(text, encoding="utf-8")
    (tmp_path / "services" / "bath.yml").write_text(
        (KNOWLEDGE / "services" / "bath.yml").read_text(encoding="utf-8")
        .replace("各地不一样，以服务站和当地民政部门公布的为准", "每次 30 元"),
        encoding="utf-8")
    problems = check(tmp_path)
    messages = [(Path(p.file).name, p.line, p.message) for p in problems]
    assert any(f == "dayanggou.yml" and "capacity" in m and line > 1 for f, line, m in messages), messages
    assert any(f == "dayanggou.yml" and "laundry" in m for f, line, m in messages), messages
    assert any(f == "bath.yml" and "price_note" in m for f, line, m in messages), messages


@pytest.mark.parametrize("location,expected", [
    ("{lat: 132.03, lng: 118.79}", "lat（纬度）"),
    ("{lat: 32.03, lng: east}", "lng（经度）"),
    ("{lat: 32.03}", "lng（经度）"),
    ("{lat: 32.03, lng: 118.79, alt: 10}", "location 应写成"),
    ("[32.03, 118.79]", "location 应写成"),
])
def test_bad_site_location_is_reported_with_file_and_line(tmp_path, location, expected):
    shutil.copytree(KNOWLEDGE / "services", tmp_path / "services")
    shutil.copytree(KNOWLEDGE / "sites", tmp_path / "sites")
    site = tmp_path / "sites" / "yueyahu.yml"
    lines = site.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line.startswith("location:"))
    lines[number - 1] = f"location: {location}"
    site.write_text("\n".join(lines) + "\n", encoding="utf-8")
    messages = [(Path(p.file).name, p.line, p.message) for p in check(tmp_path)]
    assert [(f, line) for f, line, m in messages if expected in m] == [("yueyahu.yml", number)], messages


def test_site_location_is_optional(tmp_path):
    catalogue_without_location(tmp_path, "yueyahu")
    assert check(tmp_path) == []
    assert load_catalogue(tmp_path).sites["yueyahu"].location is None
    assert load_catalogue(KNOWLEDGE).sites["yueyahu"].location.lat == pytest.approx(32.033)
