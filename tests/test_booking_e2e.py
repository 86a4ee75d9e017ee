"""A resident books, lists, moves and cancels a 助浴 appointment in natural Chinese, through the running product
(Rasa server + action server + database) over the REST channel. The clock is the real one, so the days asked for
are chosen from today's date (Asia/Shanghai) among days the demo site is open."""
import asyncio
import datetime as dt
import json
import re
import urllib.request
import uuid

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.stack


def open_days(n: int):
    """The next n days from the day after tomorrow on which 大阳沟 is open (Mon–Sat, no public holiday)."""
    from bot.booking.catalogue import get_catalogue
    from bot.booking.when import now

    cat = get_catalogue()
    site = cat.sites["dayanggou"]
    day, found = now().date() + dt.timedelta(days=2), []
    while len(found) < n:
        if cat.closed_reason(site, day) is None:
            found.append(day)
        day += dt.timedelta(days=1)
    return found


def say(stack, sender, text):
    req = urllib.request.Request(f"{stack.rasa_url}/webhooks/rest/webhook",
                                 data=json.dumps({"sender": sender, "message": text}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=180) as resp:
        replies = json.loads(resp.read())
    return "\n".join(r.get("text") or "" for r in replies), [b for r in replies for b in r.get("buttons") or []]


async def row(url, code):
    from bot.booking.models import Booking
    from bot.db import session_scope

    async with session_scope(url) as s:
        return (await s.execute(sa.select(Booking).where(Booking.code == code))).scalar_one()


def test_book_list_move_and_cancel_a_bath(stack):
    first, second = open_days(2)
    sender = f"resident-{uuid.uuid4().hex[:8]}"
    text, _ = say(stack, sender, "我想给我妈约个上门洗澡")
    assert "地址" in text
    text, buttons = say(stack, sender, "白下路100号3栋201室")
    assert buttons  # the next free times
    text, _ = say(stack, sender, f"{first.month}月{first.day}号上午十点")
    assert "手机" in text
    text, _ = say(stack, sender, "13812345678")
    assert "138****5678" in text and "13812345678" not in text and "白下路100号3栋201室" in text
    text, _ = say(stack, sender, "/affirm")
    code = re.search(r"YY\d{11}", text).group(0)
    assert "预约好了" in text and "换洗衣服" in text

    b = asyncio.run(row(stack.database_url, code))
    assert (b.service_id, b.mode, b.start) == ("bath", "home", dt.datetime.combine(first, dt.time(9, 0)))
    assert b.phone_masked == "138****5678"

    text, _ = say(stack, sender, "查一下我的预约")
    assert code in text
    text, _ = say(stack, sender, f"改到{second.month}月{second.day}号")
    assert "可以吗" in text
    text, _ = say(stack, sender, "/affirm")
    assert "改好了" in text and code in text
    assert asyncio.run(row(stack.database_url, code)).start == dt.datetime.combine(second, dt.time(9, 0))

    text, _ = say(stack, sender, "取消预约")
    assert code in text
    text, _ = say(stack, sender, "/affirm")
    assert "已经取消" in text
    assert asyncio.run(row(stack.database_url, code)).status == "cancelled"
