"""The /editor page in Debian's Chromium (Playwright) against the real console app, a migrated database and a
temporary copy of knowledge/: log in, open a programme, change an answer, watch the preview follow, save, see the
change in the entry's history; a bad value shows its problem next to the field. Screenshots in tests/artifacts/."""
from __future__ import annotations

import pytest

from bot.editor.service import EditorService
from tests.conftest import ARTIFACTS, CHROMIUM_ARGS
from tests.editor_helpers import drop_situations, editor_console

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
PASSWORD = "page-password-1"
NEW_TEXT = "带上身份证、户口簿和银行卡（页面测试）。"


async def _log_in(page, url: str) -> None:
    """The editor page asks for a login first; log in as the test's editor."""
    await page.goto(url + "/editor")
    await page.wait_for_url("**/login**")
    await page.fill("#username", "page_zhao")
    await page.fill("#password", PASSWORD)
    await page.click("#login-button")
    await page.wait_for_url("**/editor")


@pytest.fixture
async def console(db_url, tmp_path, monkeypatch):
    async with editor_console(db_url, tmp_path, monkeypatch, ["page_zhao"], PASSWORD) as (url, kdir):
        yield url, kdir, db_url


async def test_editor_changes_an_answer_in_the_browser(console, chromium_path):
    from playwright.async_api import async_playwright

    url, kdir, db_url = console
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        page = await browser.new_page(viewport={"width": 1500, "height": 1000})
        page.set_default_timeout(60000)
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            await _log_in(page, url)
            await page.wait_for_selector("#me:has-text('page_zhao')")

            await page.fill("#filter-q", "吃低保")
            await page.wait_for_selector("#list-count:has-text('共 1 条')")
            assert "最低生活保障" in await page.text_content("#entry-list")
            await page.click("#entry-list button[data-entry='program:dibao']")
            materials = page.locator("#f-aspects-materials")
            await materials.wait_for()
            await page.wait_for_selector(".answer[data-aspect='materials']")
            old_answer = await page.text_content(".answer[data-aspect='materials'] .text")
            assert NEW_TEXT not in old_answer
            await page.screenshot(path=str(ARTIFACTS / "editor_entry.png"), full_page=True)

            await materials.fill(NEW_TEXT)
            await page.wait_for_selector(f".answer[data-aspect='materials'] .text:has-text('{NEW_TEXT}')")
            assert NEW_TEXT not in (kdir / "programs" / "dibao.yml").read_text(encoding="utf-8")  # not saved yet
            await page.screenshot(path=str(ARTIFACTS / "editor_preview.png"), full_page=True)

            # A required field left empty: the problem appears next to that field, and nothing is saved.
            await page.fill("#f-short_name", "")
            await page.click("#save")
            await page.wait_for_selector("#f-short_name-problem:not(:empty)")
            assert await page.get_attribute("#f-short_name", "aria-invalid") == "true"
            assert NEW_TEXT not in (kdir / "programs" / "dibao.yml").read_text(encoding="utf-8")
            await page.screenshot(path=str(ARTIFACTS / "editor_problem.png"), full_page=True)

            await page.fill("#f-short_name", "低保")
            await page.click("#save")
            await page.wait_for_selector("#messages:has-text('已保存')")
            assert NEW_TEXT in (kdir / "programs" / "dibao.yml").read_text(encoding="utf-8")

            await page.click("#show-history")
            item = page.locator("#history-list li").first
            await item.wait_for()
            assert "page_zhao" in await item.text_content()
            await item.locator("summary").click()
            await page.wait_for_selector(f"#history-list pre.diff .add:has-text('{NEW_TEXT}')")
            await page.screenshot(path=str(ARTIFACTS / "editor_history.png"), full_page=True)

            # Another editor saves meanwhile: this page's next save shows their change instead of overwriting.
            other = EditorService(kdir, db_url)
            entry = other.get_entry("program", "dibao")
            entry["data"]["summary"] += "\n另一位编辑加的一句。"
            await other.save("program", "dibao", entry["data"], entry["version"], "page_qian")
            await page.fill("#f-summary", (await page.input_value("#f-summary")) + "\n我加的一句。")
            await page.click("#save")
            await page.wait_for_selector("#conflict:visible")
            assert "page_qian" in await page.text_content("#conflict-who")
            await page.wait_for_selector("#conflict-diff .add:has-text('另一位编辑加的一句。')")
            assert "我加的一句" not in (kdir / "programs" / "dibao.yml").read_text(encoding="utf-8")
            await page.screenshot(path=str(ARTIFACTS / "editor_conflict.png"), full_page=True)
            await page.click("#conflict-reload")
            await page.wait_for_selector("#conflict", state="hidden")
            assert "另一位编辑加的一句。" in await page.input_value("#f-summary")
            assert errors == []
        finally:
            await browser.close()


async def test_editor_adds_a_situation_by_ticking_concepts(console, chromium_path):
    """A programme without situations has the field; a new situation's reason is typed and its concepts ticked
    from the word list (with a few of their words), then saved into the entry's file."""
    from playwright.async_api import async_playwright

    from bot.understanding.lexicon import load_lexicon

    url, kdir, _ = console
    drop_situations(kdir / "programs" / "dibao_edge.yml")
    why = "收入刚过低保线、日子还是紧的，可以问问低保边缘家庭（页面测试）。"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        page = await browser.new_page(viewport={"width": 1500, "height": 1000})
        page.set_default_timeout(60000)
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            await _log_in(page, url)
            await page.click("#entry-list button[data-entry='program:dibao_edge']")
            situations = page.locator("fieldset[data-path='situations']")
            await situations.wait_for()
            assert "情形" in await situations.locator("legend").text_content()
            await situations.locator("button:has-text('添加一项')").click()
            await page.fill("#f-situations-0-why", why)
            picker = page.locator("#f-situations-0-when")
            label = await picker.locator("label[for='f-situations-0-when-no_income']").text_content()
            assert label.startswith("no_income（") and "收入" in label  # the concept's own words, to know it by
            await picker.locator("input[value=no_income]").check()
            await page.screenshot(path=str(ARTIFACTS / "editor_situation.png"), full_page=True)
            await page.click("#save")
            await page.wait_for_selector("#messages:has-text('已保存')")
            # The form drawn again from the saved entry still offers the concepts, the saved one ticked.
            await page.wait_for_selector("#f-situations-0-when input[value=no_income]:checked")
            assert await page.locator("#f-situations-0-when input[type=checkbox]").count() > 10
            text = (kdir / "programs" / "dibao_edge.yml").read_text(encoding="utf-8")
            assert why in text
            assert ("dibao_edge", ("no_income",)) in {(s.entry_id, s.when) for s in load_lexicon(kdir).situations}
            assert errors == []
        finally:
            await browser.close()
