"""The WeChat channel in the running stack: wechatpy plays the WeChat server (signs, encrypts, builds the pushes),
the Rasa server answers, and the fake WeChat API (tests/fakes/wechat_api.py) records what reaches the resident."""
from __future__ import annotations

import json
import sqlite3
import time
import uuid
from typing import Any, Dict, List, Optional

import pytest
import requests
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from bot.channels.content import load_content
from conftest import WECHAT_TEST

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]

CONTENT = load_content()


def _sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def _cdata(value: str) -> str:
    return f"<![CDATA[{value}]]>"


class WeChatServer:
    """Builds and sends pushes exactly as WeChat does (query signature, optional AES envelope)."""

    def __init__(self, stack) -> None:
        self.url = stack.rasa_url + "/webhooks/wechat/webhook"
        self.rasa_url, self.rasa_token = stack.rasa_url, stack.token
        self.crypto = WeChatCrypto(WECHAT_TEST["token"], WECHAT_TEST["aes_key"], WECHAT_TEST["appid"])
        self._msg_id = int(time.time() * 1000)

    def next_msg_id(self) -> int:
        self._msg_id += 1
        return self._msg_id

    @staticmethod
    def xml(openid: str, msg_type: str, fields: Dict[str, Any], create_time: Optional[int] = None) -> str:
        body = "".join(f"<{k}>{v if isinstance(v, int) else _cdata(v)}</{k}>" for k, v in fields.items())
        return (f"<xml><ToUserName>{_cdata('gh_huimin')}</ToUserName><FromUserName>{_cdata(openid)}</FromUserName>"
                f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType>{_cdata(msg_type)}</MsgType>"
                f"{body}</xml>")

    def text(self, openid: str, content: str, msg_id: Optional[int] = None) -> str:
        return self.xml(openid, "text", {"Content": content, "MsgId": msg_id or self.next_msg_id()})

    def push(self, body: Any, openid: str = "", encrypt: bool = True, timestamp: Optional[str] = None,
             signature: Optional[str] = None, msg_signature: Optional[str] = None) -> requests.Response:
        timestamp = timestamp or str(int(time.time()))
        nonce = uuid.uuid4().hex[:10]
        params = {"signature": signature or _sign(WECHAT_TEST["token"], timestamp, nonce),
                  "timestamp": timestamp, "nonce": nonce, "openid": openid}
        if encrypt:
            envelope = xmltodict.parse(self.crypto.encrypt_message(body, nonce, timestamp))["xml"]
            body = (f"<xml><ToUserName>{_cdata('gh_huimin')}</ToUserName>"
                    f"<Encrypt>{_cdata(envelope['Encrypt'])}</Encrypt></xml>")
            params.update(encrypt_type="aes", msg_signature=msg_signature or envelope["MsgSignature"])
        data = body.encode("utf-8") if isinstance(body, str) else body
        return requests.post(self.url, params=params, data=data, timeout=60)

    def tracker_events(self, openid: str) -> List[Dict[str, Any]]:
        resp = requests.get(f"{self.rasa_url}/conversations/wx:{openid}/tracker",
                            params={"token": self.rasa_token, "include_events": "ALL"}, timeout=30)
        resp.raise_for_status()
        return resp.json().get("events") or []

    def user_texts(self, openid: str) -> List[str]:
        return [e.get("text") for e in self.tracker_events(openid) if e.get("event") == "user"]


@pytest.fixture(scope="module")
def wechat(stack):
    return WeChatServer(stack)


def new_user() -> str:
    return "oTest" + uuid.uuid4().hex[:20]


def _contents(api, openid: str) -> List[str]:
    return [m["text"]["content"] if m.get("msgtype") == "text" else json.dumps(m, ensure_ascii=False)
            for m in api.messages_to(openid)]


def _turn_delivered(wechat, api, openid: str, user_text: Optional[str] = None, timeout: float = 120) -> List[str]:
    """Wait until Rasa has finished the user's latest turn (or the one that heard ``user_text``) — its tracker,
    saved at the end of a turn, holds the message and ends listening (or paused) — and every text Rasa said in
    that turn has reached the WeChat API. Returns the contents of every message the user got."""
    deadline = time.monotonic() + timeout
    while True:
        events = wechat.tracker_events(openid)
        heard = [i for i, e in enumerate(events) if e.get("event") == "user"
                 and (user_text is None or e.get("text") == user_text)]
        last = events[-1] if events else {}
        # A turn ends listening, or paused when it handed the conversation to a person.
        if heard and (last.get("event") == "pause" or last.get("name") == "action_listen"):
            said = [e["text"].strip() for e in events[heard[-1]:] if e.get("event") == "bot"
                    and (e.get("text") or "").strip()]
            got = _contents(api, openid)
            if said and all(any(s in g for g in got) for s in said):
                return got
        assert time.monotonic() < deadline, f"the turn was not delivered in {timeout} s: {events[-5:]}"
        time.sleep(0.2)


def one_reply(wechat, api, openid: str) -> str:
    """The single customer-service message the resident gets for a turn: once all the turn said has arrived,
    it must have come as one message."""
    got = _turn_delivered(wechat, api, openid)
    assert len(got) == 1, f"expected exactly one message, got {len(got)}: {got}"
    assert api.messages_to(openid)[0]["msgtype"] == "text"
    return got[0]


MARKER = "谢谢"


def before_a_marker(wechat, api, openid: str):
    """A positive signal that all that was pushed for this user so far has been dealt with: a further message
    (MARKER) goes through Rasa and its answer arrives. Returns what the user got and what Rasa heard before it."""
    wechat.push(wechat.text(openid, MARKER), openid)
    got = _turn_delivered(wechat, api, openid, user_text=MARKER)
    heard = wechat.user_texts(openid)
    assert heard[-1] == MARKER, heard
    return got[:-1], heard[:-1]


def test_url_verification(wechat):
    ts, nonce = str(int(time.time())), "847391"
    ok = requests.get(wechat.url, params={"signature": _sign(WECHAT_TEST["token"], ts, nonce), "timestamp": ts,
                                          "nonce": nonce, "echostr": "4903752098120381234"}, timeout=30)
    assert (ok.status_code, ok.text) == (200, "4903752098120381234")
    bad = requests.get(wechat.url, params={"signature": "0" * 40, "timestamp": ts, "nonce": nonce,
                                           "echostr": "4903752098120381234"}, timeout=30)
    assert bad.status_code == 403 and "4903752098120381234" not in bad.text
    missing = requests.get(wechat.url, params={"echostr": "x"}, timeout=30)
    assert missing.status_code == 403


def test_question_answered_once(wechat, wechat_api):
    openid = new_user()
    resp = wechat.push(wechat.text(openid, "低保需要什么材料"), openid)
    assert (resp.status_code, resp.text) == (200, "success")
    reply = one_reply(wechat, wechat_api, openid)
    assert reply.strip()
    assert wechat.user_texts(openid) == ["低保需要什么材料"]
    # What the resident got is what Rasa said in that turn, merged into one text.
    bot_texts = [e["text"] for e in wechat.tracker_events(openid) if e.get("event") == "bot" and e.get("text")]
    assert bot_texts and all(t.strip() in reply for t in bot_texts)


def test_safe_mode_question_answered(wechat, wechat_api):
    openid = new_user()
    resp = wechat.push(wechat.text(openid, "你好"), openid, encrypt=True)
    assert (resp.status_code, resp.text) == (200, "success")
    assert one_reply(wechat, wechat_api, openid)
    assert wechat.user_texts(openid) == ["你好"]


def test_retries_are_answered_once(wechat, wechat_api):
    openid = new_user()
    body = wechat.text(openid, "你好", msg_id=wechat.next_msg_id())
    # WeChat's three tries of one push (same MsgId, new nonces): all acknowledged, one answer.
    statuses = [wechat.push(body, openid).text, wechat.push(body, openid).text,
                wechat.push(body, openid, encrypt=True).text]
    assert statuses == ["success"] * 3
    reply = one_reply(wechat, wechat_api, openid)
    assert before_a_marker(wechat, wechat_api, openid) == ([reply], ["你好"])


def test_subscribe_welcome_then_numbered_reply_maps_to_its_button(wechat, wechat_api):
    openid = new_user()
    resp = wechat.push(wechat.xml(openid, "event", {"Event": "subscribe", "EventKey": ""}), openid)
    assert resp.text == "success"
    welcome = one_reply(wechat, wechat_api, openid)
    events = wechat.tracker_events(openid)
    assert [e["text"] for e in events if e.get("event") == "user"] == [CONTENT.events["subscribe"]]
    buttons = next(e["data"]["buttons"] for e in reversed(events) if e.get("event") == "bot"
                   and (e.get("data") or {}).get("buttons"))
    for number, button in enumerate(buttons, 1):
        assert CONTENT.texts["choice_line"].format(number=number, title=button["title"]) in welcome
    # A full-width "２" is how many phones type it; it means the second button.
    wechat.push(wechat.text(openid, "２"), openid)
    assert len(wechat_api.wait_for_messages(openid, 2)) == 2
    assert wechat.user_texts(openid)[-1] == buttons[1]["payload"]


def test_menu_click_sends_its_payload(wechat, wechat_api):
    openid = new_user()
    key, payload = next(iter(CONTENT.click_payloads.items()))
    resp = wechat.push(wechat.xml(openid, "event", {"Event": "CLICK", "EventKey": key}), openid)
    assert resp.text == "success"
    assert one_reply(wechat, wechat_api, openid)
    assert wechat.user_texts(openid) == [payload]


def test_unsubscribe_gets_nothing(wechat, wechat_api):
    openid = new_user()
    resp = wechat.push(wechat.xml(openid, "event", {"Event": "unsubscribe", "EventKey": ""}), openid)
    assert resp.text == "success"
    assert before_a_marker(wechat, wechat_api, openid) == ([], [])


def test_voice_with_recognition_is_a_question(wechat, wechat_api):
    openid = new_user()
    body = wechat.xml(openid, "voice", {"MediaId": "media-1", "Format": "amr", "Recognition": "你好",
                                        "MsgId": wechat.next_msg_id()})
    assert wechat.push(body, openid).text == "success"
    assert one_reply(wechat, wechat_api, openid)
    assert wechat.user_texts(openid) == ["你好"]


@pytest.mark.parametrize("msg_type,fields,text_key", [
    ("voice", {"MediaId": "media-2", "Format": "amr", "Recognition": ""}, "voice_not_recognised"),
    ("image", {"PicUrl": "http://example.invalid/p.jpg", "MediaId": "media-3"}, "unsupported_media"),
    # a location without usable coordinates (a usable one goes to the assistant: see the next test)
    ("location", {"Location_X": "unknown", "Location_Y": "unknown", "Scale": 20, "Label": "广州"}, "location"),
])
def test_media_without_text_gets_a_polite_answer(wechat, wechat_api, msg_type, fields, text_key):
    openid = new_user()
    body = wechat.xml(openid, msg_type, {**fields, "MsgId": wechat.next_msg_id()})
    assert wechat.push(body, openid).text == "success"
    got = wechat_api.wait_for_messages(openid, 1)
    assert got and got[0]["text"]["content"] == CONTENT.texts[text_key]
    assert before_a_marker(wechat, wechat_api, openid) == ([CONTENT.texts[text_key]], [])


def test_location_suggests_the_nearest_service_site(wechat, wechat_api):
    openid = new_user()
    body = wechat.xml(openid, "location", {"Location_X": 32.03396, "Location_Y": 118.819984, "Scale": 15,
                                           "Label": "江苏省南京市秦淮区月牙湖公园附近", "MsgId": wechat.next_msg_id()})
    assert wechat.push(body, openid).text == "success"
    reply = one_reply(wechat, wechat_api, openid)
    sites = [line for line in reply.splitlines() if line.startswith("· ")]
    assert sites and "月牙湖社区养老服务站" in sites[0] and sites[0].endswith(" 米"), reply
    # the nearest site's services as numbered choices (WeChat text has no buttons)
    assert CONTENT.texts["choice_line"].format(number=1, title="助餐") in reply, reply
    # the assistant got the coordinates (rounded to about 100 m) and not the address label
    assert wechat.user_texts(openid) == ['/share_location{"latitude": 32.034, "longitude": 118.82}']


def test_expired_token_is_refreshed_and_the_answer_still_arrives(wechat, wechat_api):
    openid = new_user()
    fetches = wechat_api.token_fetches
    wechat_api.expire_token()
    wechat.push(wechat.text(openid, "你好"), openid)
    assert one_reply(wechat, wechat_api, openid)
    assert wechat_api.token_fetches == fetches + 1
    assert any(r["failure"] == 42001 for r in wechat_api.rejected)


def test_api_outage_is_retried(wechat, wechat_api):
    openid = new_user()
    wechat_api.fail_next("http500", -1)
    wechat.push(wechat.text(openid, "你好"), openid)
    assert one_reply(wechat, wechat_api, openid)


def test_refused_message_is_recorded_not_lost(wechat, wechat_api, stack):
    openid = new_user()
    wechat_api.fail_next(45047)  # over the customer-service quota: not retried
    wechat.push(wechat.text(openid, "你好"), openid)
    deadline, rows = time.monotonic() + 120, []
    path = stack.database_url.split(":///", 1)[1]
    while time.monotonic() < deadline and not rows:
        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT errcode, body FROM wechat_undelivered WHERE openid = ?", (openid,)).fetchall()
        time.sleep(0.3)
    assert rows and rows[0][0] == 45047
    assert json.loads(rows[0][1])["touser"] == openid
    assert wechat_api.messages_to(openid) == []


XXE = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml>'
       '<ToUserName>gh</ToUserName><FromUserName>{openid}</FromUserName><CreateTime>1</CreateTime>'
       '<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>42</MsgId></xml>')
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
          + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
          + ']><xml><ToUserName>gh</ToUserName><FromUserName>{openid}</FromUserName><CreateTime>1</CreateTime>'
          '<MsgType>text</MsgType><Content>&j;</Content><MsgId>43</MsgId></xml>')


@pytest.mark.parametrize("case", ["bad_signature", "stale", "bad_ciphertext", "bad_msg_signature", "xxe",
                                  "billion_laughs", "xxe_inside_ciphertext", "ten_megabytes", "not_xml"])
def test_rejected_pushes_are_never_processed(wechat, wechat_api, case):
    openid = new_user()
    text = wechat.text(openid, "你好")
    if case == "bad_signature":
        resp, expected = wechat.push(text, openid, encrypt=False, signature="f" * 40), 403
    elif case == "stale":
        resp, expected = wechat.push(text, openid, encrypt=False, timestamp=str(int(time.time()) - 3600)), 403
    elif case == "bad_msg_signature":
        resp, expected = wechat.push(text, openid, encrypt=True, msg_signature="0" * 40), 403
    elif case == "bad_ciphertext":
        # Correctly signed, but not encrypted with our key: what a forger or a misconfigured proxy sends.
        ts, nonce, garbage = str(int(time.time())), "1", "bm90IG91ciBjaXBoZXJ0ZXh0IGF0IGFsbA=="
        params = {"signature": _sign(WECHAT_TEST["token"], ts, nonce), "timestamp": ts, "nonce": nonce,
                  "encrypt_type": "aes", "msg_signature": _sign(WECHAT_TEST["token"], ts, nonce, garbage)}
        body = f"<xml><ToUserName>{_cdata('gh')}</ToUserName><Encrypt>{_cdata(garbage)}</Encrypt></xml>"
        resp, expected = requests.post(wechat.url, params=params, data=body.encode(), timeout=30), 400
    elif case == "xxe":
        resp, expected = wechat.push(XXE.format(openid=openid), openid, encrypt=False), 400
    elif case == "billion_laughs":
        resp, expected = wechat.push(LAUGHS.format(openid=openid), openid, encrypt=False), 400
    elif case == "xxe_inside_ciphertext":
        resp, expected = wechat.push(XXE.format(openid=openid), openid, encrypt=True), 400
    elif case == "ten_megabytes":
        resp, expected = wechat.push(text[:-6] + "<Pad>" + "a" * (10 * 1024 * 1024) + "</Pad></xml>", openid,
                                     encrypt=False), 400
    else:
        resp, expected = wechat.push("this is not xml", openid, encrypt=False), 400
    assert resp.status_code == expected, resp.text
    assert resp.text != "success" and resp.json()["error"]
    assert before_a_marker(wechat, wechat_api, openid) == ([], [])


def test_menu_command_installs_the_menu(stack, wechat_api):
    import subprocess
    import sys

    before = len(wechat_api.menus)
    env = dict(stack.env)
    result = subprocess.run([sys.executable, "-m", "bot", "wechat", "menu"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert wechat_api.menus[before:] == [CONTENT.menu_for_api()]
    wrong = subprocess.run([sys.executable, "-m", "bot", "wechat", "menu", "--file", "/nonexistent.yml"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 1 and "error" in wrong.stderr


def test_staff_reply_reaches_the_wechat_user(wechat, wechat_api, stack):
    """What the console does during a handoff: a bot event on the resident's latest channel, with side effects."""
    openid = new_user()
    wechat.push(wechat.text(openid, "你好"), openid)
    one_reply(wechat, wechat_api, openid)
    resp = requests.post(f"{stack.rasa_url}/conversations/wx:{openid}/tracker/events",
                         params={"token": stack.token, "output_channel": "latest", "execute_side_effects": "true",
                                 "include_events": "NONE"},
                         json=[{"event": "bot", "text": "您好，我是社区工作人员小王。", "data": {},
                                "metadata": {"human_agent": "wang"}}], timeout=30)
    assert resp.status_code == 200, resp.text
    got = wechat_api.wait_for_messages(openid, 2)
    # WeChat has no name beside a message: the staff member's label starts it (knowledge/handoff_wording.yml).
    from bot.handoff.wording import wechat_staff_text
    assert [m["text"]["content"] for m in got][1:] == [wechat_staff_text("您好，我是社区工作人员小王。", "wang")]
    assert got[1]["text"]["content"].startswith("【工作人员 wang】")


def test_message_while_waiting_for_staff_is_acknowledged(wechat, wechat_api, stack):
    """Rasa answers nothing while paused for a person; the resident still learns the message arrived."""
    from bot.handoff.wording import text as wording_text

    openid = new_user()
    wechat.push(wechat.text(openid, "转人工"), openid)
    assert "工作人员" in one_reply(wechat, wechat_api, openid)
    asked = "我家老人摔了一跤，想问问能不能上门"
    wechat.push(wechat.text(openid, asked), openid)
    # Done with it: Rasa has saved the message in the tracker (after predicting anything it would say) and the
    # acknowledgement has arrived. Rasa said nothing after it, and the resident got the acknowledgement only.
    deadline = time.monotonic() + 120
    while asked not in wechat.user_texts(openid) or len(wechat_api.messages_to(openid)) < 2:
        assert time.monotonic() < deadline, "the message was not dealt with"
        time.sleep(0.2)
    events = wechat.tracker_events(openid)
    after = events[max(i for i, e in enumerate(events) if e.get("event") == "user" and e.get("text") == asked):]
    assert [e for e in after if e.get("event") == "bot"] == []
    assert [m["text"]["content"] for m in wechat_api.messages_to(openid)][1:] == [wording_text("received")]
