"""The staff console in Debian's Chromium (Playwright) against the running stack: log in, see a resident's
request appear in the queue live (server-sent events, no reload), claim it, reply, hand back, close.
Screenshots go to tests/artifacts/."""
from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS, CHROMIUM_ARGS
from tests.handoff_helpers import Resident, Staff, ensure_staff_user

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.timeout(1800)]
PASSWORD = "page-password-1"


async def test_staff_takes_over_in_the_browser(stack, chromium_path):
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await ensure_staff_user(stack.database_url, "page_li", PASSWORD)
    resident = Resident(stack.rasa_url)
    api = Staff(stack.console_url)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            await page.goto(stack.console_url + "/staff")
            await page.wait_for_url("**/login**")
            await page.fill("#username", "page_li")
            await page.fill("#password", "wrong password")
            await page.click("#login-button")
            await page.wait_for_selector("#login-error:has-text('不对')")
            await page.fill("#password", PASSWORD)
            await page.click("#login-button")
            await page.wait_for_url("**/staff")
            await page.wait_for_selector("#me:has-text('page_li')")

            # The resident asks for a person after the page is open: the ticket must arrive live.
            await resident.connect()
            await resident.say("转人工")
            await api.login("page_li", PASSWORD)
            ticket = await api.wait_ticket(resident.session_id)
            row = page.locator(f"#tickets li[data-ticket='{ticket['id']}']")
            await row.wait_for(timeout=15000)
            assert await page.text_content("#live-mode") == ""  # SSE, not the polling fallback
            await page.screenshot(path=str(ARTIFACTS / "console_queue.png"), full_page=True)

            await row.click()
            await page.wait_for_selector(f"#conv-title:has-text('#{ticket['id']}')")
            await page.click("#claim")
            await page.wait_for_selector("#send:enabled")
            await page.select_option("#canned", index=1)
            canned = await page.input_value("#reply-text")
            assert canned
            await page.fill("#reply-text", "您好，我是社区的小李。")
            mark = len(resident.received)
            await page.click("#send")
            await resident.wait_for(lambda m: m.get("text") == "您好，我是社区的小李。", after=mark)
            await page.wait_for_selector("#transcript li.staff:has-text('您好，我是社区的小李。')")

            await resident.say("谢谢，我知道了")
            await page.wait_for_selector("#transcript li.resident:has-text('谢谢，我知道了')", timeout=15000)
            await page.screenshot(path=str(ARTIFACTS / "console_conversation.png"), full_page=True)

            assert await page.is_disabled("#close")  # not before handing back
            await page.click("#handback")
            await resident.wait_for(lambda m: "惠民助手继续" in (m.get("text") or ""), after=mark)
            await page.wait_for_selector("#close:enabled")
            await page.fill("#outcome", "居民已了解")
            await page.click("#close")
            await page.wait_for_selector("#conv-title:has-text('已结束')")
            await page.screenshot(path=str(ARTIFACTS / "console_closed.png"), full_page=True)
        finally:
            await browser.close()
            await resident.close()
            await api.close()
