"""The booking form and actions with real rasa-sdk trackers against a real migrated database (SQLite, and
PostgreSQL when HUIMIN_TEST_POSTGRES_URL is set), on a fixed clock.

``Chat`` plays the part of Rasa core around our actions the way the rules in data/rules/booking.yml do: the
form's validation action after each message, then the ask action (or response) for the requested slot, the
booking when the form completes, back to the form when the time was taken. Intents are given, as NLU would.
Every message is rendered with its domain template, so a missing variable or a full mobile number fails.
"""
import datetime as dt
import json
import re
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import sqlalchemy as sa
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from ruamel.yaml import YAML

import actions.booking as ab
from bot.booking import bookings
from bot.booking.catalogue import get_catalogue
from bot.booking.models import Booking, BookingSlot
from bot.db import session_scope

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = YAML(typ="safe").load((ROOT / "bot" / "domain" / "booking.yml").read_text(encoding="utf-8"))
SLOT_NAMES = list(DOMAIN["slots"])
WED = dt.datetime(2026, 12, 2, 9, 30)  # Wednesday
ASK_ACTIONS = {a.slot: a for a in (ab.AskService(), ab.AskSite(), ab.AskDate(), ab.AskTime(), ab.AskConfirmed())}
FULL_MOBILE = re.compile(r"1[3-9]\d{9}")


def render(message: Dict[str, Any], slots: Dict[str, Any]) -> str:
    """The text Rasa would send: the domain template (condition on slots) filled from slots and the values."""
    name = message["response"]
    variations = DOMAIN["responses"][name]
    chosen = next((v for v in variations if "condition" in v and all(
        slots.get(c["name"]) == c["value"] for c in v["condition"])), None)
    chosen = chosen or next(v for v in variations if "condition" not in v)
    values = {**{k: v for k, v in slots.items()}, **{k: v for k, v in message.items()
                                                    if k not in ("response", "buttons", "text")}}
    text = re.sub(r"{([^\n{}]+?)}", r"{0[\1]}", chosen["text"]).format(values)  # KeyError = a missing variable
    return text


class Chat:
    def __init__(self, sender: Optional[str] = None):
        self.sender = sender or f"conv-{uuid.uuid4().hex[:8]}"
        self.slots: Dict[str, Any] = {name: None for name in SLOT_NAMES}
        self.slots["requested_slot"] = None
        self.active = False
        self.events: List[Dict[str, Any]] = []
        self.said: List[Dict[str, Any]] = []   # every bot message of the last turn

    def tracker(self, text: str, intent: str, entities, latest_action: str) -> Tracker:
        latest = {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": entities or []}
        return Tracker(self.sender, dict(self.slots), latest, self.events, False, None,
                       {"name": "booking_form"} if self.active else {}, latest_action)

    async def run(self, action, text, intent, entities=None, latest_action="action_listen"):
        dispatcher = CollectingDispatcher()
        events = await action.run(dispatcher, self.tracker(text, intent, entities, latest_action), DOMAIN)
        for e in events:
            if e["event"] == "slot":
                self.slots[e["name"]] = e["value"]
        for m in dispatcher.messages:
            m["rendered"] = render(m, self.slots)
            assert not FULL_MOBILE.search(m["rendered"]), m["rendered"]
        self.said.extend(dispatcher.messages)
        return events

    async def ask_next(self):
        slot = self.slots.get("requested_slot")
        if slot in ASK_ACTIONS:
            await self.run(ASK_ACTIONS[slot], "", "", latest_action="booking_form")
        elif slot:
            msg = {"response": f"utter_ask_{slot}"}
            msg["rendered"] = render(msg, self.slots)
            self.said.append(msg)

    async def form(self, text, intent, entities, latest_action):
        # Rasa's form hands its validation action a tracker whose last action is the form itself; what ran
        # since the user's message (a rule's answer, the booking) is in the events.
        if latest_action != "action_extract_slots":
            self.events.append({"event": "action", "name": latest_action})
        self.events.append({"event": "action", "name": "booking_form"})
        events = await self.run(ab.ValidateBookingForm(), text, intent, entities, "booking_form")
        if self.active and latest_action == "action_extract_slots" and not any(
                e["event"] == "slot" and e["name"] != "requested_slot" for e in events):
            return False  # rejected: the form steps aside
        self.active = True
        if self.slots["requested_slot"] is None:
            self.active = False
            await self.run(ab.ActionBookingConfirm(), text, intent, entities, "booking_form")
            if self.slots["booking_outcome"] == "full":
                self.active = True
                await self.form(text, intent, entities, "action_booking_confirm")
                return True
        else:
            await self.ask_next()
        return True

    async def say(self, text: str, intent: str = "inform", entities=None) -> List[str]:
        """One user turn; returns the names of the bot's responses."""
        self.said = []
        self.events.append({"event": "user", "text": text, "message_id": uuid.uuid4().hex,
                            "timestamp": len(self.events)})
        if intent in ("my_bookings", "cancel_booking", "reschedule_booking") and not self.active or \
                (not self.active and self.slots.get("booking_pending") and intent in ("affirm", "deny", "inform")):
            await self.run(ab.ActionBookingManage(), text, intent, entities)
        elif self.active and intent == "stop":
            self.active = False
            await self.run(ab.ActionBookingStop(), text, intent, entities)
        elif self.active or intent == "book_service":
            # as in Rasa: action_extract_slots runs after every message, before the form
            await self.form(text, intent, entities, "action_extract_slots")
        return [m["response"] for m in self.said]

    def text(self) -> str:
        return "\n".join(m["rendered"] for m in self.said)

    def buttons(self) -> List[Dict[str, str]]:
        return [b for m in self.said for b in (m.get("buttons") or [])]


def button_entities(button: Dict[str, str]):
    intent, _, payload = button["payload"][1:].partition("{")
    data = json.loads("{" + payload) if payload else {}
    return intent, [{"entity": k, "value": v} for k, v in data.items()]


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(ab, "CLOCK", lambda: WED)


async def booked_rows(url) -> List[Booking]:
    async with session_scope(url) as s:
        return list((await s.execute(sa.select(Booking).order_by(Booking.id))).scalars())


async def place_count(url, start: dt.datetime) -> int:
    async with session_scope(url) as s:
        value = (await s.execute(sa.select(BookingSlot.booked).where(BookingSlot.start == start))).scalar()
    return value or 0


async def book_bath_at_home(chat: Chat) -> str:
    assert await chat.say("我想给我妈约个上门助浴", "book_service") == ["utter_ask_booking_address"]
    said = await chat.say("白下路100号3栋201室")
    assert said == ["utter_ask_booking_date_with_offer"] and chat.buttons()
    said = await chat.say("12月3号上午十点")
    assert said == ["utter_ask_booking_phone"]           # the person came with the first message
    said = await chat.say("13812345678")
    assert said == ["utter_ask_booking_confirmed"]
    summary = chat.text()
    assert "138****5678" in summary and "白下路100号3栋201室" in summary and "9:00" in summary
    assert "大阳沟社区养老服务站" in summary and "我妈" in summary and "上门" in summary
    said = await chat.say("对，确认", "affirm")
    assert said == ["utter_booking_done"], chat.text()
    code = re.search(r"YY\d{11}", chat.text()).group(0)
    assert "干净的换洗衣服" in chat.text() and f"取消预约 {code}" in chat.text()
    return code


async def test_happy_path_bath_at_home(db_url):
    chat = Chat()
    code = await book_bath_at_home(chat)
    rows = await booked_rows(db_url)
    assert len(rows) == 1
    b = rows[0]
    assert (b.code, b.service_id, b.mode, b.site_id, b.start) == (
        code, "bath", "home", "dayanggou", dt.datetime(2026, 12, 3, 9, 0))
    assert b.phone_masked == "138****5678" and len(b.phone_hash) == 64 and b.conversation_id == chat.sender
    assert b.address == "白下路100号3栋201室" and b.person == "我妈"
    # the form's slots are cleared, the contact is kept for "我的预约"
    assert chat.slots["booking_service"] is None and chat.slots["booking_phone"] == "138****5678"


async def test_several_answers_in_one_message_at_a_site(db_url):
    chat = Chat()
    said = await chat.say("帮我预约明天上午去大阳沟服务站洗澡，我本人，手机13912345678", "book_service")
    assert said == ["utter_ask_booking_time_choose"]
    assert [b["title"].split()[-1] for b in chat.buttons()] == ["9:00", "10:00"]
    intent, entities = button_entities(chat.buttons()[1])
    said = await chat.say(chat.buttons()[1]["title"], intent, entities)
    assert said == ["utter_ask_booking_confirmed"] and "到服务站" in chat.text() and "10:00–11:00" in chat.text()
    assert await chat.say("确认", "affirm") == ["utter_booking_done"]
    assert (await booked_rows(db_url))[0].start == dt.datetime(2026, 12, 3, 10, 0)


async def test_full_slot_offers_the_next_available(db_url):
    cat = get_catalogue()
    start = dt.datetime(2026, 12, 3, 9, 0)
    for i in range(2):  # dayanggou bath at the site: capacity 2
        req = bookings.BookingRequest("bath", "site", "dayanggou", start, f"x{i}", "138****0000", "h" * 64)
        assert (await bookings.book(cat, req, f"pre-{i}", WED)).status == bookings.OK
    chat = Chat()
    said = await chat.say("明天上午九点到大阳沟服务站洗澡", "book_service")
    assert said[0] == "utter_booking_slot_full" and "已约满" in chat.text()
    titles = [b["title"] for b in chat.buttons()]
    assert titles and not any(t.endswith(" 9:00") and "12月3日" in t for t in titles)
    # the buttons were just shown, so the next question does not repeat them
    assert said[1:] == ["utter_ask_booking_time_after_offer"]
    intent, entities = button_entities(chat.buttons()[0])
    said = await chat.say(chat.buttons()[0]["title"], intent, entities)
    assert said == ["utter_ask_booking_person"]


async def test_slot_taken_between_summary_and_confirmation(db_url):
    chat = Chat()
    await chat.say("明天上午九点到大阳沟服务站洗澡，我本人，13812345678", "book_service")
    assert chat.slots["requested_slot"] == "booking_confirmed"
    cat = get_catalogue()
    start = dt.datetime(2026, 12, 3, 9, 0)
    for i in range(2):
        req = bookings.BookingRequest("bath", "site", "dayanggou", start, f"x{i}", "138****0000", "h" * 64)
        await bookings.book(cat, req, f"race-{i}", WED)
    said = await chat.say("确认", "affirm")
    assert said[0] == "utter_booking_slot_full" and chat.buttons()
    assert chat.active and chat.slots["requested_slot"] == "booking_time"
    assert await place_count(db_url, start) == 2


async def test_closed_day_and_holiday_are_explained(db_url, monkeypatch):
    chat = Chat()
    said = await chat.say("周日上午到大阳沟洗澡", "book_service")
    assert said[0] == "utter_booking_closed_day" and "不开门" in chat.text() and chat.buttons()
    assert chat.slots["booking_date"] is None
    monkeypatch.setattr(ab, "CLOCK", lambda: dt.datetime(2026, 12, 28, 9, 0))
    chat = Chat()
    said = await chat.say("1月1日上午到大阳沟洗澡", "book_service")
    assert said[0] == "utter_booking_closed_holiday" and "元旦" in chat.text()
    assert all("1月1日" not in b["title"] for b in chat.buttons())


async def test_past_outside_hours_horizon_and_notice(db_url):
    chat = Chat()
    assert (await chat.say("昨天到大阳沟洗澡", "book_service"))[0] == "utter_booking_time_past"
    chat = Chat()
    said = await chat.say("明天晚上8点到大阳沟洗澡", "book_service")
    assert said[0] == "utter_booking_outside_hours" and "09:00-11:30" in chat.text()
    assert chat.slots["booking_date"] == "2026-12-03"   # the day is fine, only the time is not
    chat = Chat()
    assert (await chat.say("12月30日到大阳沟洗澡", "book_service"))[0] == "utter_booking_beyond_horizon"
    chat = Chat()
    await chat.say("我想约上门助浴", "book_service")
    await chat.say("白下路100号")
    said = await chat.say("今天下午两点")
    assert said[0] == "utter_booking_too_soon_days" and "提前 1 天" in chat.text()


async def test_interruption_and_resume(db_url):
    chat = Chat()
    await chat.say("我想约上门助浴", "book_service")
    assert chat.slots["requested_slot"] == "booking_address"
    # a knowledge question: the form steps aside (nothing set), the rules answer it
    assert not await chat.form("助浴要准备什么东西", "ask_materials", [], "action_extract_slots")
    assert chat.slots["booking_service"] == "bath"
    # after the answer the form resumes and asks again for the same thing
    chat.said = []
    await chat.form("助浴要准备什么东西", "ask_materials", [], "action_answer_knowledge")
    assert [m["response"] for m in chat.said] == ["utter_ask_booking_address"]
    assert await chat.say("地址是中山南路88号") == ["utter_ask_booking_date_with_offer"]


async def test_correction_at_the_read_back(db_url):
    chat = Chat()
    await chat.say("明天上午九点到大阳沟洗澡，我本人，13812345678", "book_service")
    assert chat.slots["requested_slot"] == "booking_confirmed"
    said = await chat.say("不对，是下午", "deny")
    assert said == ["utter_ask_booking_time_choose"] and chat.slots["booking_part"] == "afternoon"
    assert [b["title"].split()[-1] for b in chat.buttons()] == ["14:00", "15:00"]
    said = await chat.say("下午三点")
    assert said == ["utter_ask_booking_confirmed"] and "15:00–16:00" in chat.text()
    said = await chat.say("不对", "deny")
    assert said == ["utter_booking_what_to_change", "utter_ask_booking_confirmed"]
    said = await chat.say("换到后天")
    assert said == ["utter_ask_booking_confirmed"] and "12月4日" in chat.text() and "15:00" in chat.text()
    assert await chat.say("好的", "affirm") == ["utter_booking_done"]
    assert (await booked_rows(db_url))[0].start == dt.datetime(2026, 12, 4, 15, 0)


async def test_stop_leaves_the_form(db_url):
    chat = Chat()
    await chat.say("我想约助洁", "book_service")
    assert chat.slots["booking_mode"] == "home"                   # 助洁 is only at home
    assert await chat.say("算了", "stop") == ["utter_booking_stopped"]
    assert not chat.active and chat.slots["booking_service"] is None
    assert await booked_rows(db_url) == []


async def test_invalid_phone_and_address_are_asked_again(db_url):
    chat = Chat()
    await chat.say("我想约上门助浴", "book_service")
    assert await chat.say("好的") == ["utter_booking_address_invalid", "utter_ask_booking_address"]
    await chat.say("建康路12号")
    await chat.say("12月4号下午两点")
    await chat.say("我母亲王秀英")
    assert chat.slots["booking_person"] == "我母亲王秀英"
    assert await chat.say("1381234") == ["utter_booking_phone_invalid", "utter_ask_booking_phone"]
    assert await chat.say("138 1234 5678") == ["utter_ask_booking_confirmed"]


async def test_list_cancel_and_rebook_frees_the_place(db_url):
    chat = Chat()
    code = await book_bath_at_home(chat)
    start = dt.datetime(2026, 12, 3, 9, 0)
    assert await place_count(db_url, start) == 1
    said = await chat.say("我的预约", "my_bookings")
    assert said == ["utter_booking_list"] and code in chat.text() and "12月3日" in chat.text()
    said = await chat.say(f"取消预约 {code}", "cancel_booking")
    assert said == ["utter_booking_cancel_confirm"] and chat.slots["booking_pending"] == "cancel_confirm"
    said = await chat.say("确认取消", "affirm")
    assert said == ["utter_booking_cancelled"] and chat.slots["booking_pending"] is None
    assert await place_count(db_url, start) == 0
    assert (await booked_rows(db_url))[0].status == "cancelled"
    # Nothing left in this conversation; the mobile given while booking is not proof of owning it (issue 12):
    # bookings under it are looked for only after a code sent to it.
    assert await chat.say("我的预约", "my_bookings") == ["utter_booking_ask_phone_to_find"]


async def test_reschedule_with_confirmation(db_url):
    chat = Chat()
    code = await book_bath_at_home(chat)
    said = await chat.say("改到后天", "reschedule_booking")
    assert said == ["utter_booking_move_confirm"] and "12月4日" in chat.text() and "9:00" in chat.text()
    said = await chat.say("可以", "affirm")
    assert said == ["utter_booking_moved"] and code in chat.text()
    row = (await booked_rows(db_url))[0]
    assert row.start == dt.datetime(2026, 12, 4, 9, 0) and row.code == code
    assert await place_count(db_url, dt.datetime(2026, 12, 3, 9, 0)) == 0
    assert await place_count(db_url, dt.datetime(2026, 12, 4, 9, 0)) == 1
    # to a closed day: explained, with move buttons that carry the code
    said = await chat.say("改到周日", "reschedule_booking")
    assert said == ["utter_booking_closed_day"]
    intent, entities = button_entities(chat.buttons()[0])
    assert intent == "reschedule_booking" and {"entity": "booking_code", "value": code} in entities
    said = await chat.say(chat.buttons()[0]["title"], intent, entities)
    assert said == ["utter_booking_move_confirm"]
    assert await chat.say("不改了", "deny") == ["utter_booking_kept"]


async def test_bookings_found_by_mobile_from_another_conversation(db_url, monkeypatch):
    from bot import sms

    sent = []

    class Recorder:
        async def send(self, phone, text):
            sent.append((phone, re.search(r"\d{6}", text).group(0)))

    monkeypatch.setattr(sms, "get_sender", lambda: Recorder())
    code = await book_bath_at_home(Chat())
    other = Chat()
    assert await other.say("我的预约", "my_bookings") == ["utter_booking_ask_phone_to_find"]
    # The mobile alone shows nothing: a one-time code goes to it (bot/booking/phone_check.py).
    assert await other.say("13812345678") == ["utter_booking_code_sent"] and code not in other.text()
    assert sent[-1][0] == "13812345678"
    said = await other.say(sent[-1][1])
    assert said == ["utter_booking_list"] and code in other.text()
    stranger = Chat()
    await stranger.say("我的预约", "my_bookings")
    # A number with no bookings gets the same answer as one with bookings: nothing is learnt from it.
    assert await stranger.say("13900000000") == ["utter_booking_code_sent"]
    assert await stranger.say(f"取消预约 {code}", "cancel_booking") == ["utter_booking_code_not_found"]


async def test_replayed_confirmation_books_once(db_url):
    chat = Chat()
    await chat.say("明天上午九点到大阳沟洗澡，我本人，13812345678", "book_service")
    chat.events.append({"event": "user", "text": "确认", "message_id": "same-message", "timestamp": 1})
    tracker_args = ("确认", "affirm", [], "booking_form")
    chat.slots["booking_confirmed"] = True
    chat.slots["requested_slot"] = None
    snapshot = dict(chat.slots)
    chat.said = []
    first = await chat.run(ab.ActionBookingConfirm(), *tracker_args)
    chat.slots = dict(snapshot)  # the same request delivered again (a retry)
    second = await chat.run(ab.ActionBookingConfirm(), *tracker_args)
    assert [m["response"] for m in chat.said] == ["utter_booking_done", "utter_booking_done"]
    codes = re.findall(r"YY\d{11}", chat.text())
    assert len(set(codes)) == 1 and len(await booked_rows(db_url)) == 1
    assert first == second


async def test_a_date_given_when_the_address_was_asked_is_kept(db_url):
    chat = Chat()
    await chat.say("我想约上门助浴", "book_service")
    said = await chat.say("后天上午")
    assert chat.slots["booking_date"] == "2026-12-04" and chat.slots["booking_part"] == "morning"
    assert said == ["utter_ask_booking_address"] and chat.slots["booking_address"] is None
    said = await chat.say("白下路100号")
    assert said == ["utter_ask_booking_time_choose"]
    assert [b["title"].split()[-1] for b in chat.buttons()] == ["9:00"]


# ---------------------------------------------------------------- a location shared on WeChat

def location_entities(lat, lng) -> List[Dict[str, Any]]:
    return [{"entity": "latitude", "value": lat}, {"entity": "longitude", "value": lng}]


async def share_location(chat: Chat, entities: List[Dict[str, Any]]) -> List[str]:
    """What the rule does with /share_location{...} outside the form: action_nearest_sites."""
    chat.said = []
    text = "/share_location" + json.dumps({e["entity"]: e["value"] for e in entities})
    chat.events.append({"event": "user", "text": text, "message_id": uuid.uuid4().hex, "timestamp": len(chat.events)})
    await chat.run(ab.ActionNearestSites(), text, "share_location", entities)
    return [m["response"] for m in chat.said]


async def test_location_near_yueyahu_lists_it_first_and_books_there(db_url):
    chat = Chat()
    assert await share_location(chat, location_entities(32.034, 118.82)) == ["utter_nearest_sites"]
    text = chat.text()
    sites = [line for line in text.splitlines() if line.startswith("· ")]
    assert len(sites) == 2, text
    assert sites[0] == "· 月牙湖社区养老服务站，离您约 100 米", text   # about 150 m away
    assert sites[1] == "· 大阳沟社区养老服务站，离您约 3 公里", text  # about 2.97 km
    assert "南京市秦淮区月牙湖社区服务中心一楼" in text and "025-0000-0303" in text and "每天 9:00-16:30" in text
    assert "想在月牙湖社区养老服务站预约" in text
    # a button per service of 月牙湖; 助餐 is served at the site, so its button books it there
    buttons = {b["title"]: b for b in chat.buttons()}
    assert set(buttons) == {"助餐", "助洁", "上门探访", "居家适老化改造上门评估", "康复护理"}
    intent, entities = button_entities(buttons["助餐"])
    assert intent == "book_service"
    said = await chat.say("助餐", intent, entities)
    assert chat.active and said and said[0].startswith("utter_ask_booking_date"), said
    assert (chat.slots["booking_service"], chat.slots["booking_mode"], chat.slots["booking_site"]) == (
        "meal", "site", "yueyahu")
    # an at-home service: the form asks for the address (the serving site follows from it)
    other = Chat()
    await share_location(other, location_entities(32.034, 118.82))
    intent, entities = button_entities({b["title"]: b for b in other.buttons()}["助洁"])
    assert await other.say("助洁", intent, entities) == ["utter_ask_booking_address"]


async def test_location_near_zhongshan_south_road_lists_dayanggou_first(db_url):
    chat = Chat()
    assert await share_location(chat, location_entities("32.0285", "118.7885")) == ["utter_nearest_sites"]
    sites = [line for line in chat.text().splitlines() if line.startswith("· ")]
    assert sites[0].startswith("· 大阳沟社区养老服务站，离您约 ") and sites[0].endswith(" 米")
    assert sites[1].startswith("· 五老村街道社区养老服务中心") and "周一到周六 8:30-17:00" in chat.text()


@pytest.mark.parametrize("entities", [
    location_entities("abc", "def"),
    location_entities(None, 118.82),
    location_entities(132.03, 118.82),          # no such latitude
    location_entities(32.03, float("nan")),
    location_entities(23.134521, 113.358803),   # 广州: far from every site
    [],
])
async def test_unusable_or_far_location_says_no_site_nearby(db_url, entities):
    chat = Chat()
    assert await share_location(chat, entities) == ["utter_nearest_sites_none"]
    assert "没有找到附近的服务站" in chat.text() and not chat.buttons()  # the none response's buttons are static


async def test_location_inside_the_form_is_answered_then_the_form_goes_on(db_url):
    chat = Chat()
    await chat.say("我想约上门助浴", "book_service")
    assert chat.slots["requested_slot"] == "booking_address"
    entities = location_entities(32.034, 118.82)
    text = "/share_location" + json.dumps({"latitude": 32.034, "longitude": 118.82})
    # the form steps aside (nothing set), the rule runs action_nearest_sites, then the form asks again
    assert not await chat.form(text, "share_location", entities, "action_extract_slots")
    chat.said = []
    await chat.run(ab.ActionNearestSites(), text, "share_location", entities)
    await chat.form(text, "share_location", entities, "action_nearest_sites")
    assert [m["response"] for m in chat.said] == ["utter_nearest_sites", "utter_ask_booking_address"]
    assert chat.slots["booking_service"] == "bath" and chat.slots["booking_address"] is None
