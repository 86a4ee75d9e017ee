"""The residents' web chat page (/chat) in Debian's Chromium against the running stack: a real conversation over
Rasa's socket.io channel, quick replies, history after a reload, the small-screen layout, 大字, and Chinese IME;
the handover as the resident sees it (waiting banner, 已收到, the staff member's label, tap-to-call, a long
answer read from its start) and the session id as a credential (signed, idle expiry, 结束对话)."""
from __future__ import annotations

import asyncio
import concurrent.futures
import time

import pytest
import requests

from conftest import ARTIFACTS, CHROMIUM_ARGS

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.timeout(400)]

ANSWER_TIMEOUT = 90_000  # ms; the shared test machine can be slow, this is not a speed check


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def open_chat(browser, stack, width=1280, height=800):
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    page.goto(stack.console_url + "/chat")
    wait_bot_count(page, 1)  # the greeting the page asks for on a first visit
    return context, page


def bot_count(page) -> int:
    return page.locator(".msg.bot").count()


def wait_bot_count(page, n: int) -> None:
    page.wait_for_function("n => document.querySelectorAll('.msg.bot').length >= n", arg=n,
                           timeout=ANSWER_TIMEOUT)


def user_texts(page):
    return [t.strip() for t in page.locator(".msg.user .text").all_inner_texts()]


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"
                         " && document.body.scrollWidth <= window.innerWidth")


def tracker_user_texts(stack, session_id):
    resp = requests.get(f"{stack.rasa_url}/conversations/{session_id}/tracker",
                        params={"token": stack.token, "include_events": "ALL"}, timeout=30)
    resp.raise_for_status()
    return [e.get("text") for e in resp.json()["events"] if e.get("event") == "user"]


def test_conversation_quick_reply_and_history_after_reload(stack, browser):
    context, page = open_chat(browser, stack)
    session_id = page.evaluate("localStorage.getItem('huimin.chat.session')")
    from bot.channels.chat_session import is_signed
    assert is_signed(session_id)  # issued by the server, signed with the stack's secret

    before = bot_count(page)
    page.get_by_label("输入您的问题").fill("低保需要什么材料")
    page.keyboard.press("Enter")
    wait_bot_count(page, before + 1)
    assert user_texts(page) == ["低保需要什么材料"]
    answer = page.locator(".msg.bot").nth(before).inner_text()
    assert answer.replace("惠民助手说：", "").strip()

    # Tap a quick reply of the latest answer: its title is shown as what the resident said, its payload goes to Rasa.
    button = page.locator(".quick button").last
    page.wait_for_selector(".quick button", timeout=ANSWER_TIMEOUT)
    title = button.inner_text().strip()
    before = bot_count(page)
    button.click()
    wait_bot_count(page, before + 1)
    assert user_texts(page)[-1] == title
    assert tracker_user_texts(stack, session_id)[:2] == ["/greet", "低保需要什么材料"]

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-1280.png"), full_page=True)

    shown_users, shown_bots = user_texts(page), bot_count(page)
    page.reload()
    page.wait_for_function("n => document.querySelectorAll('.msg.bot').length >= n", arg=shown_bots,
                           timeout=ANSWER_TIMEOUT)
    assert user_texts(page) == shown_users
    assert page.evaluate("localStorage.getItem('huimin.chat.session')") == session_id
    # The reloaded page is still connected to the same conversation.
    before = bot_count(page)
    page.get_by_label("输入您的问题").fill("谢谢")
    page.get_by_role("button", name="发送").click()
    wait_bot_count(page, before + 1)
    assert tracker_user_texts(stack, session_id)[-1] == "谢谢"
    context.close()


def test_small_screen_and_large_text(stack, browser):
    context, page = open_chat(browser, stack, width=360, height=740)
    assert no_horizontal_scroll(page)
    assert page.evaluate("getComputedStyle(document.body).fontSize") == "18px"
    # A long unbroken link must wrap, not widen the page.
    long_text = "请看 https://example.invalid/" + "a" * 150
    before = bot_count(page)
    page.get_by_label("输入您的问题").fill(long_text)
    page.keyboard.press("Enter")
    wait_bot_count(page, before + 1)
    assert no_horizontal_scroll(page)
    for box in (b.bounding_box() for b in page.locator("button:visible").all()):
        assert box["height"] >= 44 and box["width"] >= 44

    big = page.get_by_role("button", name="大字")
    assert big.get_attribute("aria-pressed") == "false"
    big.click()
    assert big.get_attribute("aria-pressed") == "true"
    assert page.evaluate("getComputedStyle(document.body).fontSize") == "24px"
    assert no_horizontal_scroll(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-360.png"), full_page=True)
    page.reload()
    page.wait_for_selector(".msg.bot")
    assert page.evaluate("getComputedStyle(document.body).fontSize") == "24px"  # the choice is remembered
    big.click()
    assert page.evaluate("getComputedStyle(document.body).fontSize") == "18px"
    context.close()


def test_enter_while_composing_chinese_does_not_send(stack, browser):
    context, page = open_chat(browser, stack)
    box = page.get_by_label("输入您的问题")
    box.fill("dibao")
    box.dispatch_event("compositionstart", {"data": ""})
    # The Enter that picks a candidate: isComposing, and keyCode 229 as Chromium reports it.
    page.evaluate("""() => {
        const el = document.getElementById('composer-input');
        el.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', code: 'Enter', keyCode: 229,
                                                       isComposing: true, bubbles: true, cancelable: true}));
        el.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', code: 'Enter', keyCode: 13,
                                                       isComposing: true, bubbles: true, cancelable: true}));
    }""")
    page.wait_for_timeout(300)
    assert user_texts(page) == [] and box.input_value() == "dibao"
    box.dispatch_event("compositionend", {"data": "低保"})
    box.fill("低保")
    page.wait_for_timeout(50)
    before = bot_count(page)
    box.press("Enter")
    wait_bot_count(page, before + 1)
    assert user_texts(page) == ["低保"] and box.input_value() == ""
    context.close()


def test_keyboard_only_and_the_human_button(stack, browser):
    context, page = open_chat(browser, stack)
    log = page.locator("#log")
    assert log.get_attribute("aria-live") == "polite" and log.get_attribute("role") == "log"
    # Every control is reachable with Tab and has a name a screen reader can read.
    names = set()
    for _ in range(12):
        page.keyboard.press("Tab")
        names.add(page.evaluate("(document.activeElement.labels && document.activeElement.labels[0]"
                                " ? document.activeElement.labels[0].textContent"
                                " : document.activeElement.textContent).trim()"))
    assert {"大字", "转人工", "输入您的问题", "发送"} <= names
    page.locator("#human").focus()  # the permanent button (an answer may offer a 转人工 quick reply too)
    before = bot_count(page)
    page.keyboard.press("Enter")
    wait_bot_count(page, before + 1)
    assert user_texts(page) == ["转人工"]
    session_id = page.evaluate("localStorage.getItem('huimin.chat.session')")
    assert tracker_user_texts(stack, session_id)[-1] == "/request_human"
    context.close()


STAFF_PASSWORD = "chat-page-password-1"


def staff_session(stack, name: str) -> requests.Session:
    """A staff member on the console API (the console page itself is tested in test_console_pages.py)."""
    from tests.handoff_helpers import ensure_staff_user

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's loop
        pool.submit(asyncio.run, ensure_staff_user(stack.database_url, name, STAFF_PASSWORD)).result()
    http = requests.Session()
    token = http.get(stack.console_url + "/api/auth/csrf", timeout=30).json()["csrf_token"]
    r = http.post(stack.console_url + "/api/auth/login", json={"username": name, "password": STAFF_PASSWORD},
                  headers={"X-CSRF-Token": token}, timeout=60)
    assert r.status_code == 200, r.text
    http.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return http


def ticket_of(stack, http, session_id: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for t in http.get(stack.console_url + "/api/tickets?view=open", timeout=30).json()["tickets"]:
            if t["conversation_id"] == session_id:
                return t
        time.sleep(0.3)
    raise AssertionError("no ticket for the page's conversation")


def test_handover_as_the_resident_sees_it(stack, browser):
    from bot.handoff import wording

    http = staff_session(stack, "chat_xiaowang")
    context, page = open_chat(browser, stack, width=360, height=740)
    try:
        page.locator("#human").click()
        banner = page.locator("#waiting")
        banner.wait_for(state="visible", timeout=ANSWER_TIMEOUT)
        assert banner.inner_text().strip() == wording.waiting_banner()  # in-hours or after-hours wording
        # The greeting's buttons stopped working once the resident moved on.
        assert page.locator(".quick").first.locator("button:not([disabled])").count() == 0

        # A message typed while waiting is acknowledged once.
        page.get_by_label("输入您的问题").fill("我想问问低保的事")
        page.keyboard.press("Enter")
        note = page.locator(".msg.note")
        note.first.wait_for(timeout=ANSWER_TIMEOUT)
        page.wait_for_timeout(500)
        assert note.count() == 1 and wording.text("received") in note.inner_text()

        # A staff member claims and replies: a long reply with phone numbers, in the staff style, with the label.
        session_id = page.evaluate("localStorage.getItem('huimin.chat.session')")
        ticket = ticket_of(stack, http, session_id)
        assert http.post(f"{stack.console_url}/api/tickets/{ticket['id']}/claim", timeout=30).ok
        reply = "您好，我是社区的小王。预约号在最上面：B-2041。\n\n" + "\n\n".join(
            f"第{i}条：需要带户口本和身份证，有问题请打 12345 或 13800138000。" for i in range(1, 13))
        r = http.post(f"{stack.console_url}/api/tickets/{ticket['id']}/messages", json={"text": reply}, timeout=60)
        assert r.status_code == 201, r.text
        staff = page.locator(".msg.staff")
        staff.first.wait_for(timeout=ANSWER_TIMEOUT)
        page.wait_for_function("() => document.querySelectorAll('.msg.staff').length >= 13", timeout=30_000)
        label = wording.staff_label("chat_xiaowang")
        first = staff.first
        assert first.locator(".who").inner_text().strip() == label + "说："
        assert first.locator(".who").is_visible()  # shown, not only read out
        assert "惠民助手" not in first.inner_text()
        assert page.locator(".msg.staff a[href='tel:13800138000']").count() == 12
        assert page.locator(".msg.staff a[href='tel:12345']").count() == 12
        assert first.locator("time").inner_text().count(":") == 1
        # The long reply is shown from its start (the booking number), not scrolled to its end.
        log_box, first_box = page.locator("#log").bounding_box(), first.bounding_box()
        assert log_box["y"] - 1 <= first_box["y"] <= log_box["y"] + log_box["height"] / 2
        # The banner now says who is serving.
        page.wait_for_function("t => document.getElementById('waiting').textContent.includes(t)", arg=label,
                               timeout=30_000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "chat-handover-360.png"))

        # The typing indicator is readable even when the conversation is longer than the screen.
        # Sent and measured in one task of the page, so that a quick acknowledgement cannot hide it first.
        height = page.evaluate("""() => {
            document.getElementById('composer-input').value = '好的';
            document.getElementById('send').click();
            return document.getElementById('typing').getBoundingClientRect().height;
        }""")
        assert height >= 20, height
        page.wait_for_function("() => document.querySelectorAll('.msg.note').length >= 2", timeout=ANSWER_TIMEOUT)
        page.locator("#typing").wait_for(state="hidden")  # the acknowledgement ends the indicator

        # 大字 keeps most of the screen for the conversation, banner included.
        page.get_by_role("button", name="大字").click()
        log_height = page.locator("#log").bounding_box()["height"]
        assert log_height >= 0.55 * 740, log_height
        assert no_horizontal_scroll(page)
        page.screenshot(path=str(ARTIFACTS / "chat-handover-360-big.png"))
        page.get_by_role("button", name="大字").click()

        # Handed back: the banner goes, Huimin answers again.
        assert http.post(f"{stack.console_url}/api/tickets/{ticket['id']}/handback", timeout=60).ok
        banner.wait_for(state="hidden", timeout=ANSWER_TIMEOUT)
    finally:
        context.close()


def age_conversation(stack, session_id: str, seconds: int) -> None:
    """Two hours pass for one conversation: every event of it moves back in the tracker database."""
    import sqlite3

    path = stack.tracker_db_url.split("sqlite:///", 1)[1]
    with sqlite3.connect(path) as db:
        changed = db.execute("UPDATE events SET timestamp = timestamp - ?, data = json_set(data, '$.timestamp', "
                             "json_extract(data, '$.timestamp') - ?) WHERE sender_id = ?",
                             (seconds, seconds, session_id)).rowcount
    assert changed > 0


def test_session_id_is_signed_expires_and_can_be_ended(stack, browser):
    context, page = open_chat(browser, stack)
    try:
        session_id = page.evaluate("localStorage.getItem('huimin.chat.session')")
        before = bot_count(page)
        page.get_by_label("输入您的问题").fill("低保需要什么材料")
        page.keyboard.press("Enter")
        wait_bot_count(page, before + 1)

        # A forged id is refused by the history endpoint and not honoured by the channel.
        forged = session_id[:-1] + ("A" if session_id[-1] != "A" else "B")
        r = requests.get(stack.console_url + "/chat/history", params={"session_id": forged}, timeout=30)
        assert r.status_code == 400 and r.json()["error"] == "bad_session"
        page.evaluate("id => localStorage.setItem('huimin.chat.session', id)", forged)
        page.reload()
        wait_bot_count(page, 1)
        fresh = page.evaluate("localStorage.getItem('huimin.chat.session')")
        assert fresh not in (forged, session_id) and user_texts(page) == []

        # An idle conversation is not resumed: make the original one look untouched for two hours.
        page.evaluate("id => localStorage.setItem('huimin.chat.session', id)", session_id)
        page.reload()
        page.wait_for_function("() => document.querySelectorAll('.msg.user').length >= 1", timeout=ANSWER_TIMEOUT)
        assert user_texts(page) == ["低保需要什么材料"]  # still fresh: resumed
        age_conversation(stack, session_id, 7200)
        assert requests.get(stack.console_url + "/chat/history", params={"session_id": session_id},
                            timeout=30).json() == {"messages": [], "expired": True}
        page.reload()
        try:
            wait_bot_count(page, 1)
        except Exception:
            now_id = page.evaluate("localStorage.getItem('huimin.chat.session')")
            raise AssertionError(f"no greeting after expiry: session {now_id} (old {session_id}); "
                                 f"page: {page.inner_text('body')[:400]}")
        assert page.evaluate("localStorage.getItem('huimin.chat.session')") != session_id
        assert user_texts(page) == []

        # 结束对话 (after a confirmation) clears the conversation from this computer and starts a new one.
        page.get_by_label("输入您的问题").fill("谢谢")
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelectorAll('.msg.user').length >= 1")
        current = page.evaluate("localStorage.getItem('huimin.chat.session')")
        page.get_by_role("button", name="结束对话").click()
        page.get_by_role("button", name="确定结束").wait_for()
        page.screenshot(path=str(ARTIFACTS / "chat-end.png"))
        page.get_by_role("button", name="确定结束").click()
        wait_bot_count(page, 1)
        assert user_texts(page) == []
        assert page.evaluate("localStorage.getItem('huimin.chat.session')") not in (current, None)
        assert page.evaluate(f"localStorage.getItem('huimin.chat.history.{current}')") is None
    finally:
        context.close()
