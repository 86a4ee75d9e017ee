"""The word lists page in Debian's Chromium against the running stack (its own copy of knowledge/): an editor
empties a list and sees the refusal next to it, then teaches `human` a new phrase and saves; the next resident
who says it on the REST channel is handed over to staff — no restart, no retraining. Screenshots in
tests/artifacts/wordlists_*.png."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bench.residents import Client
from bot.console import auth
from tests.conftest import ARTIFACTS, CHROMIUM_ARGS
from tests.editor_helpers import eventually

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.timeout(3600)]
PASSWORD = "wordlists-password-1"
# Nothing in the shipped lists asks for a person this way (checked below before it is taught).
MESSAGE = "麻烦请你们掌柜的出面一下"
PHRASE = "掌柜的…出面"


def _handed_over(tracker: dict) -> bool:
    return any(e.get("event") == "action" and e.get("name") == "action_handoff" for e in tracker.get("events") or [])


async def _say(stack, text: str) -> dict:
    sender = f"wordlists-{uuid.uuid4().hex[:10]}"
    async with Client(stack.rasa_url, stack.token) as client:
        await client.say(sender, text)
        return await client.tracker(sender)


async def test_a_phrase_taught_in_the_page_hands_the_next_resident_over(stack, chromium_path):
    from playwright.async_api import async_playwright

    kdir = Path(stack.env["HUIMIN_KNOWLEDGE_DIR"])
    lexicon_file = kdir / "understanding.yml"
    assert not _handed_over(await _say(stack, MESSAGE)), "the phrase must be new for this test to mean anything"
    name = "wl_" + uuid.uuid4().hex[:6]
    await auth.create_user(name, "editor", PASSWORD, stack.database_url)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        page = await browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        page.set_default_timeout(60000)
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            await page.goto(stack.console_url + "/editor")
            await page.wait_for_url("**/login**")
            await page.fill("#username", name)
            await page.fill("#password", PASSWORD)
            await page.click("#login-button")
            await page.wait_for_url("**/editor")
            await page.click("a[href='/editor/wordlists']")
            await page.wait_for_url("**/editor/wordlists")
            human = page.locator("#w-human")
            await human.wait_for()
            # Each list carries the file's own explanation; groups as the editors know them.
            assert "想找真人说话" in await page.text_content("[data-key='human']")
            assert "难过" in await page.text_content("[data-key='distress']")
            legends = await page.locator("fieldset legend").all_inner_texts()
            for title in ("情况", "问的是哪方面", "找真人 / 难过着急 / 危险", "转介（不归我们管的事）", "地名"):
                assert title in legends
            assert await page.locator("#w-concepts-alone").count() == 1
            assert await page.locator("[data-referral]").count() >= 3

            # An emptied list is refused, in Chinese, next to that list; the file is not touched.
            before = lexicon_file.read_text(encoding="utf-8")
            distress = await page.input_value("#w-distress")
            await page.fill("#w-distress", "")
            await page.click("#save")
            await page.wait_for_selector("#w-distress-problem:has-text('不能空着')")
            assert await page.get_attribute("#w-distress", "aria-invalid") == "true"
            assert lexicon_file.read_text(encoding="utf-8") == before
            await page.screenshot(path=str(ARTIFACTS / "wordlists_problem.png"), full_page=False)
            await page.fill("#w-distress", distress)

            await human.fill((await human.input_value()) + "\n" + PHRASE)
            await page.click("#save")
            await page.wait_for_selector("#messages:has-text('已保存')")
            assert PHRASE in lexicon_file.read_text(encoding="utf-8")
            assert PHRASE in await page.input_value("#w-human")  # drawn again from the saved file
            await page.wait_for_selector(f"#history-list li:has-text('{name}')")
            # The new phrase in view (end of its list), the save bar with its message above it.
            await page.evaluate("(() => { const t = document.getElementById('w-human'); t.scrollTop = t.scrollHeight;"
                                " t.scrollIntoView({block: 'center'}); })()")
            assert await page.locator("#messages:has-text('已保存')").is_visible()
            await page.screenshot(path=str(ARTIFACTS / "wordlists_saved.png"), full_page=False)
            assert errors == []
        finally:
            await browser.close()

    async def handed_over():
        return _handed_over(await _say(stack, MESSAGE))
    assert await eventually(handed_over, timeout=60)
