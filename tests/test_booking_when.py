"""Chinese date/time understanding against fixed clocks (Asia/Shanghai wall clock)."""
import datetime as dt

import pytest

from bot.booking.when import AFTERNOON, AMPM, EVENING, MORNING, NEXT_DAY, NOON, WEEKEND, cn_number, merge, parse

D = dt.date
T = dt.time
# Wednesday 2 December 2026, 09:30
WED = dt.datetime(2026, 12, 2, 9, 30)
# Sunday 29 November 2026 (week/month edges), Thursday 31 December 2026 (year end), Saturday 30 Jan 2027
SUN = dt.datetime(2026, 11, 29, 15, 0)
NYE = dt.datetime(2026, 12, 31, 20, 0)
SAT = dt.datetime(2027, 1, 30, 8, 0)

# (text, now, expected date, expected time, expected part)
CASES = [
    # relative days
    ("今天", WED, D(2026, 12, 2), None, None),
    ("明天", WED, D(2026, 12, 3), None, None),
    ("后天", WED, D(2026, 12, 4), None, None),
    ("大后天", WED, D(2026, 12, 5), None, None),
    ("明儿", WED, D(2026, 12, 3), None, None),
    ("昨天", WED, D(2026, 12, 1), None, None),
    ("明天", NYE, D(2027, 1, 1), None, None),                     # year end
    ("后天", NYE, D(2027, 1, 2), None, None),
    ("大后天", SAT, D(2027, 2, 2), None, None),                   # month end
    ("三天后", WED, D(2026, 12, 5), None, None),
    ("过两天", WED, D(2026, 12, 4), None, None),
    # weekdays
    ("这周五", WED, D(2026, 12, 4), None, None),
    ("本周五", WED, D(2026, 12, 4), None, None),
    ("周五", WED, D(2026, 12, 4), None, None),
    ("星期五", WED, D(2026, 12, 4), None, None),
    ("礼拜五", WED, D(2026, 12, 4), None, None),
    ("周一", WED, D(2026, 12, 7), None, None),                    # passed this week: the coming Monday
    ("周三", WED, D(2026, 12, 2), None, None),                    # today
    ("下周三", WED, D(2026, 12, 9), None, None),
    ("下礼拜一", WED, D(2026, 12, 7), None, None),
    ("下个星期二", WED, D(2026, 12, 8), None, None),
    ("下下周一", WED, D(2026, 12, 14), None, None),
    ("周日", WED, D(2026, 12, 6), None, None),
    ("下周日", WED, D(2026, 12, 13), None, None),                 # 周日 vs 下周日
    ("星期天", WED, D(2026, 12, 6), None, None),
    ("周日", SUN, D(2026, 11, 29), None, None),                   # said on Sunday: today
    ("下周日", SUN, D(2026, 12, 6), None, None),
    ("下周一", SUN, D(2026, 11, 30), None, None),
    ("下周三", NYE, D(2027, 1, 6), None, None),                   # across the year
    ("这周六", NYE, D(2027, 1, 2), None, None),
    ("周末", WED, D(2026, 12, 5), None, None),
    ("下周末", WED, D(2026, 12, 12), None, None),
    # calendar dates
    ("12月3日", WED, D(2026, 12, 3), None, None),
    ("12月3号", WED, D(2026, 12, 3), None, None),
    ("十二月三日", WED, D(2026, 12, 3), None, None),
    ("十二月三号", WED, D(2026, 12, 3), None, None),
    ("12月31日", WED, D(2026, 12, 31), None, None),
    ("1月5日", WED, D(2027, 1, 5), None, None),                   # next year
    ("一月五号", NYE, D(2027, 1, 5), None, None),
    ("2027年1月4日", WED, D(2027, 1, 4), None, None),
    ("3号", WED, D(2026, 12, 3), None, None),
    ("1号", WED, D(2027, 1, 1), None, None),                      # day passed this month: next month
    ("31号", SUN, D(2026, 12, 31), None, None),                   # November has no 31st
    ("二十号", WED, D(2026, 12, 20), None, None),
    ("下个月3号", WED, D(2027, 1, 3), None, None),
    ("2026-12-10", WED, D(2026, 12, 10), None, None),
    ("12/8", WED, D(2026, 12, 8), None, None),
    # times and parts of day
    ("上午", WED, None, None, MORNING),
    ("下午", WED, None, None, AFTERNOON),
    ("中午", WED, None, None, NOON),
    ("晚上", WED, None, None, EVENING),
    ("十点", WED, None, T(10, 0), MORNING),
    ("10:30", WED, None, T(10, 30), MORNING),
    ("10：30", WED, None, T(10, 30), MORNING),
    ("两点半", WED, None, T(14, 30), AFTERNOON),
    ("三点一刻", WED, None, T(15, 15), AFTERNOON),
    ("九点三刻", WED, None, T(9, 45), MORNING),
    ("十点十五", WED, None, T(10, 15), MORNING),
    ("10点05分", WED, None, T(10, 5), MORNING),
    ("九点整", WED, None, T(9, 0), MORNING),
    ("12点", WED, None, T(12, 0), NOON),                          # 12点 vs 中午12点: both noon
    ("中午12点", WED, None, T(12, 0), NOON),
    ("中午1点", WED, None, T(13, 0), NOON),
    ("晚上8点", WED, None, T(20, 0), EVENING),
    ("晚上八点半", WED, None, T(20, 30), EVENING),
    ("早上8点", WED, None, T(8, 0), MORNING),
    ("上午十一点", WED, None, T(11, 0), MORNING),
    ("下午3点", WED, None, T(15, 0), AFTERNOON),
    ("下午三点钟", WED, None, T(15, 0), AFTERNOON),
    ("14:00", WED, None, T(14, 0), AFTERNOON),
    ("十四点", WED, None, T(14, 0), AFTERNOON),
    # combinations
    ("明天上午", WED, D(2026, 12, 3), None, MORNING),
    ("下周二下午三点", WED, D(2026, 12, 8), T(15, 0), AFTERNOON),
    ("后天上午十点", WED, D(2026, 12, 4), T(10, 0), MORNING),
    ("明天下午两点半", WED, D(2026, 12, 3), T(14, 30), AFTERNOON),
    ("12月3号上午9点", WED, D(2026, 12, 3), T(9, 0), MORNING),
    ("十二月三日下午三点一刻", WED, D(2026, 12, 3), T(15, 15), AFTERNOON),
    ("这周五早上九点半", WED, D(2026, 12, 4), T(9, 30), MORNING),
    ("明早9点", WED, D(2026, 12, 3), T(9, 0), MORNING),
    ("今晚", WED, D(2026, 12, 2), None, EVENING),
    ("明天下午", NYE, D(2027, 1, 1), None, AFTERNOON),
    ("晚上12点", WED, D(2026, 12, 3), T(0, 0), EVENING),          # midnight belongs to the next day
    ("帮我约明天上午十点的助浴", WED, D(2026, 12, 3), T(10, 0), MORNING),
    ("我想给我妈约个下礼拜一下午的上门助浴", WED, D(2026, 12, 7), None, AFTERNOON),
    ("周三能不能派人来家里看看装扶手", SUN, D(2026, 12, 2), None, None),
    ("3号下午2点", WED, D(2026, 12, 3), T(14, 0), AFTERNOON),
    ("不是明天，是后天", WED, D(2026, 12, 4), None, None),          # the last date said wins
    ("2026-12-10 09:00", WED, D(2026, 12, 10), T(9, 0), MORNING),
    # things that are not dates or times
    ("我住在大光路3号楼", WED, None, None, None),
    ("能早一点吗", WED, None, None, None),
    ("我的手机是13812345678", WED, None, None, None),
    ("我想约助浴", WED, None, None, None),
]


@pytest.mark.parametrize("text,now,date,time,part", CASES, ids=[c[0] for c in CASES])
def test_expression(text, now, date, time, part):
    w = parse(text, now)
    assert (w.date, w.time, w.part) == (date, time, part)


def test_table_is_large_enough():
    assert len(CASES) >= 60


def test_bare_hour_is_flagged_as_a_guess_but_qualified_hour_is_not():
    assert AMPM in parse("两点", WED).ambiguities
    assert AMPM in parse("12点", WED).ambiguities
    assert parse("中午12点", WED).ambiguities == ()
    assert parse("下午两点", WED).ambiguities == ()
    assert parse("14:00", WED).ambiguities == ()


def test_weekend_offers_both_days():
    w = parse("周末", WED)
    assert WEEKEND in w.ambiguities and w.alternatives == (D(2026, 12, 5), D(2026, 12, 6))
    assert parse("周末", SUN).alternatives == (D(2026, 11, 29),)


def test_midnight_is_flagged():
    assert NEXT_DAY in parse("晚上12点", WED).ambiguities


def test_aware_now_is_converted_to_shanghai():
    utc = dt.datetime(2026, 12, 2, 17, 0, tzinfo=dt.timezone.utc)  # 01:00 on 3 Dec in Shanghai
    assert parse("明天", utc).date == D(2026, 12, 4)


def test_chinese_numbers():
    assert [cn_number(s) for s in ("十", "十二", "二十", "二十三", "两", "〇", "31")] == [10, 12, 20, 23, 2, 0, 31]
    assert cn_number("十十") is None


def test_merge_correction_of_part_of_day_drops_a_time_that_no_longer_fits():
    before = parse("明天上午十点", WED)
    after = merge(before, parse("不对，是下午", WED))
    assert (after.date, after.time, after.part) == (D(2026, 12, 3), None, AFTERNOON)


def test_merge_new_date_keeps_the_time():
    after = merge(parse("明天下午三点", WED), parse("改到后天", WED))
    assert (after.date, after.time) == (D(2026, 12, 4), T(15, 0))
