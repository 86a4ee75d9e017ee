"""Publishing safely, in Debian's Chromium against the real console app (migrated database, a copy of
knowledge/): editing an answer makes the entry 待核实 and its preview footer stops saying 已核实; two-person review
keeps the author from publishing while another editor can; leaving with unsaved changes asks first; the save bar
stays on screen; history shows field-level before/after near the top with no restore on the newest revision;
labels are not doubled; the id of an existing entry is read-only. Screenshots: tests/artifacts/publishing_*.png."""
from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS, CHROMIUM_ARGS
from tests.editor_helpers import editor_console

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
PASSWORD = "publish-password-1"
ADDED = "（发布测试新加的一句）"


@pytest.fixture
async def console(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("HUIMIN_EDITOR_TWO_PERSON_REVIEW", "1")
    async with editor_console(db_url, tmp_path, monkeypatch, ["pub_zhao", "pub_qian"], PASSWORD) as served:
        yield served


async def _login(browser, url, name):
    context = await browser.new_context(viewport={"width": 1500, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    page.set_default_timeout(60000)
    await page.goto(url + "/editor")
    await page.wait_for_url("**/login**")
    await page.fill("#username", name)
    await page.fill("#password", PASSWORD)
    await page.click("#login-button")
    await page.wait_for_url("**/editor")
    await page.wait_for_selector(f"#me:has-text('{name}')")
    return page


async def _open(page, entry="program:dibao"):
    await page.click(f"#entry-list button[data-entry='{entry}']")
    await page.wait_for_selector(".answer[data-aspect='materials']")


async def test_publishing_safety_in_the_browser(console, chromium_path):
    from playwright.async_api import async_playwright

    url, kdir = console
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            page = await _login(browser, url, "pub_zhao")
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await _open(page)
            assert "已核实" in await page.text_content(".answer[data-aspect='materials'] .text")
            assert await page.get_attribute("#f-id", "readonly") is not None
            labels = await page.locator("#fields label, #fields legend").all_inner_texts()
            assert not any("（一行一个）（一行一个）" in t for t in labels)
            assert any(t == "别名（一行一个）" for t in labels)

            # Unsaved changes: opening another entry asks first; saying no keeps the form as it is.
            materials = page.locator("#f-aspects-materials")
            await materials.fill((await materials.input_value()) + ADDED)
            asked = []

            async def dismiss(dialog):
                asked.append(dialog.message)
                await dialog.dismiss()
            page.once("dialog", dismiss)
            await page.click("#entry-list button[data-entry='program:tekun']")
            await page.wait_for_timeout(500)
            assert asked and "没保存" in asked[0]
            assert ADDED in await materials.input_value()

            # The save bar stays on screen while the form scrolls.
            await page.evaluate("document.querySelector('#f-sources') && document.querySelector('#f-sources')"
                                ".scrollIntoView() || window.scrollTo(0, document.body.scrollHeight)")
            assert await page.evaluate("getComputedStyle(document.querySelector('.savebar')).position") == "sticky"
            box = await page.locator("#save").bounding_box()
            assert box and 0 <= box["y"] < 900
            await page.screenshot(path=str(ARTIFACTS / "publishing_savebar.png"))

            await page.click("#save")
            await page.wait_for_selector("#messages:has-text('待核实')")
            assert "审核：待核实" in await page.text_content("#entry-meta")
            await page.wait_for_selector(".answer[data-aspect='materials'] .text:has-text('待核实')")
            footer = await page.text_content(".answer[data-aspect='materials'] .text")
            assert "待核实" in footer and "已核实" not in footer
            text = (kdir / "programs" / "dibao.yml").read_text(encoding="utf-8")
            assert ADDED in text and "status: unverified" in text

            # History: near the top, field by field, and no restore on the version the entry is now.
            await page.click("#show-history")
            newest = page.locator("#history-list li").first
            await newest.wait_for()
            assert "要带的材料" in await newest.locator(".changes dt").first.text_content()
            assert ADDED in await newest.locator(".changes dd.after").first.text_content()
            assert ADDED not in await newest.locator(".changes dd.before").first.text_content()
            assert await newest.locator(".restore-after").count() == 0
            assert await newest.locator(".restore-before").count() == 1
            form_top = (await page.locator("#entry-form").bounding_box())["y"]
            fields_top = (await page.locator("#fields").bounding_box())["y"]
            assert (await page.locator("#history").bounding_box())["y"] < fields_top and form_top < fields_top
            await page.screenshot(path=str(ARTIFACTS / "publishing_history.png"), full_page=True)

            # Two-person review: the author cannot publish.
            await page.click("#review")
            await page.wait_for_selector("#messages:has-text('双人审核')")
            assert "status: unverified" in (kdir / "programs" / "dibao.yml").read_text(encoding="utf-8")
            await page.screenshot(path=str(ARTIFACTS / "publishing_two_person.png"), full_page=True)
            assert errors == []

            other = await _login(browser, url, "pub_qian")
            await _open(other)
            await other.click("#review")
            await other.wait_for_selector("#messages:has-text('已记录审核')")
            meta = await other.text_content("#entry-meta")
            assert "已核实" in meta and "pub_qian" in meta
            await other.wait_for_selector(".answer[data-aspect='materials'] .text:has-text('已核实')")
            await other.screenshot(path=str(ARTIFACTS / "publishing_reviewed.png"), full_page=True)
        finally:
            await browser.close()
