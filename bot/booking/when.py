"""Chinese dates and times as residents say them: 明天上午, 下周三下午三点, 12月3号, 两点半, 三点一刻 …

``parse(text, now)`` returns a ``When``: a date and optionally an exact time or a part of the day, each ``None``
when the text did not say it, plus explicit ``ambiguities`` when we had to guess (a bare "两点" is read as 14:00,
"周末" as Saturday with Sunday as the alternative). ``now`` is injected (Asia/Shanghai wall clock) so that
tests are deterministic; ``now()`` gives the real one.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from typing import List, Optional, Tuple

try:
    from zoneinfo import ZoneInfo
except ImportError:  # pragma: no cover
    ZoneInfo = None  # type: ignore

from bot.privacy import to_halfwidth

MORNING, NOON, AFTERNOON, EVENING = "morning", "noon", "afternoon", "evening"
PARTS = (MORNING, NOON, AFTERNOON, EVENING)
# Hours each part of day covers, used to pick slots when only a part was said.
PART_HOURS = {MORNING: (dt.time(6, 0), dt.time(12, 0)), NOON: (dt.time(11, 0), dt.time(13, 30)),
              AFTERNOON: (dt.time(12, 0), dt.time(18, 0)), EVENING: (dt.time(18, 0), dt.time(23, 59))}

# Ambiguity flags
AMPM = "am_pm"            # a bare hour ("两点", "12点"): read as the daytime hour
WEEKEND = "weekend"       # "周末": Saturday, Sunday is the alternative
NEXT_DAY = "next_day"     # "晚上12点" is 00:00 of the next day

_CN = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUM = r"(?:\d{1,2}|[零〇一二两三四五六七八九十]{1,3})"


def cn_number(s: str) -> Optional[int]:
    """0–99 written in digits or Chinese numerals (十, 十二, 二十, 二十三, 两)."""
    s = s.strip()
    if not s:
        return None
    if s.isdigit():
        return int(s)
    if "十" in s:
        tens, _, ones = s.partition("十")
        t = _CN.get(tens, None) if tens else 1
        o = _CN.get(ones, None) if ones else 0
        if t is None or o is None or len(tens) > 1 or len(ones) > 1:
            return None
        return t * 10 + o
    if len(s) == 1:
        return _CN.get(s)
    if all(ch in _CN for ch in s):  # "二〇二六"
        return int("".join(str(_CN[ch]) for ch in s))
    return None


@dataclass(frozen=True)
class When:
    date: Optional[dt.date] = None
    time: Optional[dt.time] = None
    part: Optional[str] = None
    alternatives: Tuple[dt.date, ...] = ()
    ambiguities: Tuple[str, ...] = ()
    spans: Tuple[Tuple[int, int], ...] = field(default=(), compare=False)

    @property
    def empty(self) -> bool:
        return self.date is None and self.time is None and self.part is None

    @property
    def datetime(self) -> Optional[dt.datetime]:
        if self.date is None or self.time is None:
            return None
        return dt.datetime.combine(self.date, self.time)


def now(tz: Optional[str] = None) -> dt.datetime:
    """The real wall clock in the service's time zone, naive (all booking times are local wall-clock times)."""
    if tz is None:
        from bot.settings import get_settings
        tz = get_settings().timezone
    return dt.datetime.now(ZoneInfo(tz)).replace(tzinfo=None)


def _local(now_: dt.datetime) -> dt.datetime:
    if now_.tzinfo is not None:
        from bot.settings import get_settings
        now_ = now_.astimezone(ZoneInfo(get_settings().timezone)).replace(tzinfo=None)
    return now_


# ---------------------------------------------------------------- date patterns

_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6,
            "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}

_ISO_RE = re.compile(r"(?<!\d)(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})(?:日|号)?(?!\d)")
_MONTH_DAY_RE = re.compile(
    rf"(?:(?P<y>\d{{4}}|[零〇一二三四五六七八九]{{4}})年)?(?P<mo>{_NUM})月份?(?P<d>{_NUM})(?:日|号|號)?")
_SLASH_RE = re.compile(r"(?<![\d:])(1[0-2]|0?[1-9])/(3[01]|[12]\d|0?[1-9])(?![\d/])")
_REL_MONTH_RE = re.compile(rf"(?P<which>下下个?月|下个?月|这个?月|本月|当月)(?P<d>{_NUM})(?:日|号|號)")
_DAY_RE = re.compile(
    rf"(?<![\d路街巷弄道村楼栋区座幢第])(?P<d>{_NUM})(?:号|號|日)(?![楼院门室房栋单元线床位座幢])")
_WEEK_RE = re.compile(
    r"(?P<pre>下下个?|下个?|上上个?|上个?|这个?|本|今)?\s{0,2}(?:周|星期|礼拜|禮拜)(?P<wd>[一二三四五六日天1-7])")
_WEEKEND_RE = re.compile(r"(?P<pre>下下个?|下个?|这个?|本)?\s{0,2}(?:周末|礼拜天周末)")
_REL_DAY_RE = re.compile(r"大后天|大後天|后天|後天|明天|明日|明儿|明早|明晚|今天|今日|今儿|今早|今晚|"
                         r"昨天|昨日|前天|大前天")
_REL_OFFSET = {"大前天": -3, "前天": -2, "昨天": -1, "昨日": -1, "今天": 0, "今日": 0, "今儿": 0, "今早": 0,
               "今晚": 0, "明天": 1, "明日": 1, "明儿": 1, "明早": 1, "明晚": 1, "后天": 2, "後天": 2,
               "大后天": 3, "大後天": 3}
_IN_DAYS_RE = re.compile(rf"(?:过\s{{0,2}}(?P<a>{_NUM})\s{{0,2}}天)|(?:(?P<b>{_NUM})\s{{0,2}}天(?:以后|之后|后))")

# ---------------------------------------------------------------- part of day and time patterns

_PART_WORDS = [
    ("凌晨", "early"), ("一大早", MORNING), ("早上", MORNING), ("早晨", MORNING), ("清早", MORNING),
    ("上午", MORNING), ("今早", MORNING), ("明早", MORNING), ("中午", NOON), ("午饭", NOON),
    ("下午", AFTERNOON), ("午后", AFTERNOON), ("傍晚", EVENING), ("晚上", EVENING), ("夜里", EVENING),
    ("今晚", EVENING), ("明晚", EVENING), ("晚间", EVENING),
]
_PART_RE = re.compile("|".join(w for w, _ in _PART_WORDS))
_PART_OF = dict(_PART_WORDS)

_TIME_RE = re.compile(
    rf"(?P<h>{_NUM})\s{{0,2}}(?:"
    r"(?::(?P<mm>[0-5]\d))"
    rf"|(?:[点點时](?:(?P<half>半)|(?P<q>[一二三1-3])刻|(?P<m>[0-5]?\d|[零〇一二三四五六七八九十]{{1,3}})(?!天|号|日|月)分?|整|钟)?)"
    r")")
# "早一点/快一点/多一点": 一点 means "a little" after these characters.
_NOT_CLOCK_BEFORE = set("早晚快慢多少好大小有差近远再稍")


def _cover(text: str, spans: List[Tuple[int, int]], masked: List[Tuple[int, int]]) -> str:
    """Record the spans one pattern matched and blank them out, so later patterns do not read them again."""
    spans.extend(masked)
    return _blank(text, masked)


def _blank(text: str, masked: List[Tuple[int, int]]) -> str:
    """``text`` with the ``masked`` spans (in order, not overlapping) replaced by spaces, in one linear pass —
    rebuilding the string for every match cost quadratic time on long messages ("周一" * 64000)."""
    if not masked:
        return text
    parts, pos = [], 0
    for start, end in masked:
        parts += [text[pos:start], " " * (end - start)]
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def _safe_date(y: int, m: int, d: int) -> Optional[dt.date]:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _add_months(day: dt.date, months: int, d: int) -> Optional[dt.date]:
    idx = day.year * 12 + day.month - 1 + months
    return _safe_date(idx // 12, idx % 12 + 1, d)


# One pass per way of saying a day, in this order; each reads one match as (date, alternatives, ambiguities,
# whether to cover the match for the passes after it) or None when the match is no date.
Hit = Optional[Tuple[dt.date, Tuple[dt.date, ...], Tuple[str, ...], bool]]


def _iso(m: "re.Match", today: dt.date) -> Hit:
    d = _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    return (d, (), (), True) if d else None


def _month_day(m: "re.Match", today: dt.date) -> Hit:
    mo, d = cn_number(m.group("mo")), cn_number(m.group("d"))
    if mo is None or d is None or not 1 <= mo <= 12:
        return None
    if m.group("y"):
        y = cn_number(m.group("y"))
        date = _safe_date(y, mo, d) if y else None
    else:
        date = _safe_date(today.year, mo, d)
        # Without a year, a date long gone means next year ("1月5日" said in December).
        if date and (today - date).days > 60:
            date = _safe_date(today.year + 1, mo, d)
    return (date, (), (), True) if date else None


def _slash(m: "re.Match", today: dt.date) -> Hit:
    date = _safe_date(today.year, int(m.group(1)), int(m.group(2)))
    if date and (today - date).days > 60:
        date = _safe_date(today.year + 1, int(m.group(1)), int(m.group(2)))
    return (date, (), (), True) if date else None


def _relative_month(m: "re.Match", today: dt.date) -> Hit:
    d = cn_number(m.group("d"))
    which = m.group("which")
    months = 2 if which.startswith("下下") else 1 if which.startswith("下") else 0
    date = _add_months(today, months, d) if d else None
    return (date, (), (), True) if date else None


def _weekend(m: "re.Match", today: dt.date) -> Hit:
    pre = (m.group("pre") or "").replace("个", "")
    weeks = {"下": 1, "下下": 2}.get(pre, 0)
    monday = today - dt.timedelta(days=today.weekday()) + dt.timedelta(weeks=weeks)
    days = tuple(d for d in (monday + dt.timedelta(days=5), monday + dt.timedelta(days=6)) if d >= today)
    return (days[0], days, (WEEKEND,) if len(days) > 1 else (), True) if days else None


def _weekday(m: "re.Match", today: dt.date) -> Hit:
    pre = (m.group("pre") or "").replace("个", "")
    wd = _WEEKDAY[m.group("wd")]
    monday = today - dt.timedelta(days=today.weekday())
    if pre in ("", "今"):
        # A bare weekday is the coming one: this week's if still ahead (or today), else next week's.
        date = monday + dt.timedelta(days=wd)
        if pre == "" and date < today:
            date += dt.timedelta(weeks=1)
    else:
        weeks = {"下": 1, "下下": 2, "上": -1, "上上": -2, "这": 0, "本": 0}[pre]
        date = monday + dt.timedelta(weeks=weeks, days=wd)
    return date, (), (), True


def _in_days(m: "re.Match", today: dt.date) -> Hit:
    n = cn_number(m.group("a") or m.group("b") or "")
    return (today + dt.timedelta(days=n), (), (), True) if n is not None else None


def _relative_day(m: "re.Match", today: dt.date) -> Hit:
    # keep 今晚/明早 visible for the part-of-day pass
    return today + dt.timedelta(days=_REL_OFFSET[m.group(0)]), (), (), m.group(0)[-1] not in "早晚"


def _day_of_month(m: "re.Match", today: dt.date) -> Hit:
    d = cn_number(m.group("d"))
    if d is None or not 1 <= d <= 31:
        return None
    date = _safe_date(today.year, today.month, d) if d >= today.day else None
    if date is None:  # already past this month (or no such day): the next month that has it
        for k in (1, 2):
            date = _add_months(today, k, d)
            if date:
                break
    return (date, (), (), True) if date else None


_DATE_PASSES = ((_ISO_RE, _iso), (_MONTH_DAY_RE, _month_day), (_SLASH_RE, _slash), (_REL_MONTH_RE, _relative_month),
                (_WEEKEND_RE, _weekend), (_WEEK_RE, _weekday), (_IN_DAYS_RE, _in_days), (_REL_DAY_RE, _relative_day),
                (_DAY_RE, _day_of_month))


def _find_date(text: str, today: dt.date, spans: List[Tuple[int, int]]):
    """Returns (date, alternatives, ambiguities, masked text); the last date mentioned wins."""
    found: List[Tuple[int, dt.date, Tuple[dt.date, ...], Tuple[str, ...]]] = []
    for pattern, read in _DATE_PASSES:
        masked = []
        for m in pattern.finditer(text):
            hit = read(m, today)
            if hit is None:
                continue
            date, alts, amb, cover = hit
            found.append((m.start(), date, alts, amb))
            if cover:
                masked.append(m.span())
        text = _cover(text, spans, masked)

    if not found:
        return None, (), (), text
    _, date, alts, amb = max(found, key=lambda f: f[0])
    return date, alts, amb, text


def _find_part(text: str, spans: List[Tuple[int, int]]) -> Tuple[Optional[str], Optional[int]]:
    last = None
    for m in _PART_RE.finditer(text):
        last = m
        spans.append(m.span())
    if last is None:
        return None, None
    return _PART_OF[last.group(0)], last.end()


def _find_time(text: str, spans: List[Tuple[int, int]]):
    last = None
    for m in _TIME_RE.finditer(text):
        h = cn_number(m.group("h"))
        if h is None or h > 24:
            continue
        if m.group("mm") is None and m.start() > 0 and text[m.start() - 1] in _NOT_CLOCK_BEFORE \
                and m.group("h") in ("一", "1"):
            continue
        if m.group("mm") is None and not re.search(r"[点點时]", m.group(0)):
            continue
        minute = 0
        if m.group("mm"):
            minute = int(m.group("mm"))
        elif m.group("half"):
            minute = 30
        elif m.group("q"):
            minute = 15 * (cn_number(m.group("q")) or 0)
        elif m.group("m"):
            minute = cn_number(m.group("m"))
            if minute is None or minute > 59:
                continue
        last = (m, h, minute)
    if last is None:
        return None
    spans.append(last[0].span())
    return last


def parse(text: str, now_: Optional[dt.datetime] = None) -> When:
    """Understand the date/time in ``text`` relative to ``now_`` (local wall clock; aware datetimes are converted)."""
    current = _local(now_ or now())
    today = current.date()
    text = to_halfwidth(text or "")
    spans: List[Tuple[int, int]] = []
    date, alts, amb, rest = _find_date(text, today, spans)
    ambiguities = list(amb)

    part, part_end = _find_part(rest, spans)
    clock = _find_time(rest, spans)
    time_ = None
    if clock:
        m, h, minute = clock
        # A part of day only qualifies a clock time it is said with ("下午三点", "下午 3:00").
        # One message asks for one time: its part of day qualifies the clock time wherever it stands
        # ("下午三点", "三点，下午的", "晚上吧，8点").
        qualifier = part
        day_shift = 0
        if qualifier == "early":
            hour = h % 24
        elif qualifier == MORNING:
            hour = 0 if h == 24 else h
        elif qualifier == NOON:
            hour = h + 12 if 1 <= h <= 5 else h
        elif qualifier == AFTERNOON:
            hour = h + 12 if h < 12 else h
        elif qualifier == EVENING:
            if h in (12, 24):
                hour, day_shift = 0, 1
                ambiguities.append(NEXT_DAY)
            elif 1 <= h <= 4:
                hour, day_shift = h, 1
                ambiguities.append(NEXT_DAY)
            else:
                hour = h + 12 if h < 12 else h
        elif m.group("mm") and len(m.group("h")) == 2:
            hour = 0 if h == 24 else h  # "09:00", "14:30": a 24-hour clock reading, nothing to guess
        else:
            if 1 <= h <= 6:
                hour = h + 12
                ambiguities.append(AMPM)
            elif 7 <= h <= 12:
                hour = h
                ambiguities.append(AMPM)
            else:
                hour = 0 if h == 24 else h
        if hour > 23:
            hour = 23
        time_ = dt.time(hour, minute)
        if day_shift:
            date = (date or today) + dt.timedelta(days=day_shift)
        if qualifier in (MORNING, NOON, AFTERNOON, EVENING):
            part = qualifier
        elif qualifier == "early":
            part = None
        else:
            part = _part_of_time(time_)
    elif part == "early":
        part = MORNING
    return When(date=date, time=time_, part=part, alternatives=tuple(alts),
                ambiguities=tuple(dict.fromkeys(ambiguities)), spans=tuple(sorted(spans)))


def _part_of_time(t: dt.time) -> str:
    if t < dt.time(11, 0):
        return MORNING
    if t < dt.time(13, 0):
        return NOON
    if t < dt.time(18, 0):
        return AFTERNOON
    return EVENING


def merge(previous: When, new: When) -> When:
    """A correction or addition ("不对，是下午", "后天") applied to what was understood before.

    A new date keeps the earlier time; a new part of day without a clock time drops the earlier time
    (it no longer fits); a new clock time replaces the time and part."""
    date = new.date or previous.date
    alts = new.alternatives if new.date else previous.alternatives
    if new.time is not None:
        return replace(new, date=date, alternatives=alts)
    if new.part is not None:
        keep = previous.time if previous.time and _part_of_time(previous.time) == new.part else None
        return When(date=date, time=keep, part=new.part, alternatives=alts, ambiguities=new.ambiguities)
    return When(date=date, time=previous.time, part=previous.part, alternatives=alts,
                ambiguities=tuple(a for a in previous.ambiguities + new.ambiguities))


def describe_date(day: dt.date) -> str:
    """12月3日（周四） — a compact form for button titles (wording of sentences stays in the domain)."""
    return f"{day.month}月{day.day}日（周{'一二三四五六日'[day.weekday()]}）"


def describe_time(t: dt.time) -> str:
    return f"{t.hour}:{t.minute:02d}"
