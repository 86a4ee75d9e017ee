"""Office hours, estimated wait and canned replies, from ``knowledge/offices.yml``.

Public holidays and working weekends come from the one calendar shared with the service sites
(``knowledge/sites/_holidays.yml``), so an office is never "open" on a holiday the sites know about.
``phone`` is the number as residents read it: a demo office's number carries the file's ``demo_notice``.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, FrozenSet, List, Optional, Tuple
from zoneinfo import ZoneInfo

import yaml

from bot.settings import get_settings

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass
class Office:
    id: str
    name: str
    phone: str = ""  # as residents read it (with the demo notice when demo)
    number: str = ""  # the bare number
    demo: bool = False
    closed_on_public_holidays: bool = True
    public_holidays: FrozenSet[dt.date] = frozenset()
    workdays: FrozenSet[dt.date] = frozenset()  # 调休: weekends worked, Monday timetable
    hours: Dict[int, List[Tuple[dt.time, dt.time]]] = field(default_factory=dict)  # weekday -> spans
    closed_dates: List[dt.date] = field(default_factory=list)
    open_dates: List[dt.date] = field(default_factory=list)
    minutes_per_ticket: int = 4
    highlight_after_minutes: int = 5
    canned_replies: List[str] = field(default_factory=list)

    def _spans(self, day: dt.date) -> List[Tuple[dt.time, dt.time]]:
        if day in self.closed_dates or (self.closed_on_public_holidays and day in self.public_holidays):
            return []
        if day in self.open_dates or (self.closed_on_public_holidays and day in self.workdays):
            # A working weekend follows the Monday timetable.
            return self.hours.get(0, [])
        return self.hours.get(day.weekday(), [])

    def is_open(self, at: dt.datetime) -> bool:
        return any(a <= at.time() < b for a, b in self._spans(at.date()))

    def next_opening(self, at: dt.datetime) -> Optional[dt.datetime]:
        for offset in range(0, 15):
            day = at.date() + dt.timedelta(days=offset)
            for start, _end in self._spans(day):
                candidate = dt.datetime.combine(day, start, tzinfo=at.tzinfo)
                if candidate > at:
                    return candidate
        return None


@dataclass
class OfficeConfig:
    timezone: str
    default_office: str
    offices: Dict[str, Office]

    def get(self, office_id: Optional[str] = None) -> Office:
        return self.offices.get(office_id or self.default_office) or self.offices[self.default_office]

    def now(self) -> dt.datetime:
        return dt.datetime.now(ZoneInfo(self.timezone))


def _time(text: str) -> dt.time:
    h, m = str(text).strip().split(":")
    return dt.time(int(h), int(m))


def _days(key: str) -> List[int]:
    key = key.strip().lower()
    if "-" in key:
        a, b = key.split("-")
        return list(range(DAYS.index(a), DAYS.index(b) + 1))
    return [DAYS.index(key)]


def _date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def read_calendar(path: Path) -> Tuple[FrozenSet[dt.date], FrozenSet[dt.date]]:
    """(public holiday dates, working-weekend dates) of the shared calendar; empty when the file is absent."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return frozenset(), frozenset()
    days = set()
    for h in raw.get("holidays") or []:
        start, end = _date(h["from"]), _date(h["to"])
        days.update(start + dt.timedelta(days=i) for i in range((end - start).days + 1))
    return frozenset(days), frozenset(_date(d) for d in raw.get("workdays") or [])


def parse_config(raw: dict, calendar: Tuple[FrozenSet[dt.date], FrozenSet[dt.date]] = (frozenset(), frozenset())
                 ) -> OfficeConfig:
    offices: Dict[str, Office] = {}
    notice = str(raw.get("demo_notice") or "").strip()
    for item in raw.get("offices") or []:
        hours: Dict[int, List[Tuple[dt.time, dt.time]]] = {}
        for days, spans in (item.get("hours") or {}).items():
            for d in _days(days):
                hours.setdefault(d, []).extend(
                    (_time(s.split("-")[0]), _time(s.split("-")[1])) for s in spans)
        number = str(item.get("phone", ""))
        demo = bool(item.get("demo", False))
        office = Office(
            id=str(item["id"]), name=str(item.get("name", item["id"])),
            phone=f"{number}{notice}" if demo and number else number, number=number, demo=demo,
            closed_on_public_holidays=bool(item.get("closed_on_public_holidays", True)),
            public_holidays=calendar[0], workdays=calendar[1],
            hours=hours,
            closed_dates=[_date(d) for d in item.get("closed_dates") or []],
            open_dates=[_date(d) for d in item.get("open_dates") or []],
            minutes_per_ticket=int(item.get("minutes_per_ticket", 4)),
            highlight_after_minutes=int(item.get("highlight_after_minutes", 5)),
            canned_replies=[str(r) for r in item.get("canned_replies") or []],
        )
        offices[office.id] = office
    if not offices:
        raise ValueError("offices.yml defines no office")
    default = str(raw.get("default_office") or next(iter(offices)))
    if default not in offices:
        raise ValueError(f"default_office {default!r} is not one of the offices")
    return OfficeConfig(timezone=str(raw.get("timezone") or get_settings().timezone), default_office=default,
                        offices=offices)


_FALLBACK = {"default_office": "community",
             "offices": [{"id": "community", "name": "社区服务中心",
                          "hours": {"mon-fri": ["08:30-12:00", "13:30-17:30"]}}]}


CALENDAR_FILE = Path("sites") / "_holidays.yml"


def load_offices(path: Optional[Path] = None) -> OfficeConfig:
    path = Path(path or get_settings().knowledge_dir / "offices.yml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raw = _FALLBACK
    return parse_config(raw, read_calendar(path.parent / CALENDAR_FILE))


def describe_opening(when: dt.datetime, now: dt.datetime) -> str:
    """A short, plain wording of when staff are back: 今天下午1:30 / 明天上午8:30 / 10月8日上午8:30."""
    days = (when.date() - now.date()).days
    day = {0: "今天", 1: "明天", 2: "后天"}.get(days, f"{when.month}月{when.day}日")
    half = "上午" if when.hour < 12 else "下午"
    hour = when.hour if when.hour <= 12 else when.hour - 12
    return f"{day}{half}{hour}:{when.minute:02d}"
