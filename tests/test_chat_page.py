"""The residents' web chat page (/chat) in Debian's Chromium against the running stack: a real conversation over
Rasa's socket.io channel, quick replies, history after a reload, the small-screen layout, 大字, and Chinese IME."""
from __future__ import annotations

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
    return [t.replace("我说：", "", 1).strip() for t in page.locator(".msg.user").all_inner_texts()]


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
    assert session_id and len(session_id) == 32

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
