"""Issue 14's loop, through the running stack: residents ask what Huimin cannot answer; the messages are read
from the tracker store and shown grouped and masked on /editor/insights (real Chromium); the editor acts on the
group on that page (its messages become example questions of 低保's materials); a training run started from the
editor loads a new model into the running Rasa server; the replay then counts the same messages answered — by the
retrained model, as the intent they were taught — that the served model sent to the fallback before.

The run trains the tiny project of tests/test_editor_retrain.py (the real config with few epochs) through a
console in this process, so the whole loop costs about a minute and a half instead of a full training.
Screenshots: tests/artifacts/insights_retrain_*.png."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS, CHROMIUM_ARGS
from tests.editor_helpers import ask
from tests.test_editor_retrain import editor_console, rasa, tiny_project, wait_for_job  # noqa: F401 (fixture)

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.timeout(900)]

# Questions far from welfare, each in several spellings (one with a mobile number), that no other test asks. The
# test takes the first whose spellings the session's model sends to the fallback (at least three of them): a
# model trained on other data may read one of them as out of scope.
PHONE = "13800138002"
MASKED = "138****8002"
FAMILIES = [
    ("企鹅", ["企鹅打喷嚏吗", "企鹅会打喷嚏吗", "企鹅能打喷嚏不", f"企鹅会不会打喷嚏 {PHONE}"]),
    ("恐龙蛋", ["恐龙蛋要怎么孵", "孵恐龙蛋的办法", "恐龙蛋该咋孵出来", f"恐龙蛋怎么孵出来 {PHONE}"]),
    ("彩虹", ["彩虹啥味道", "彩虹吃起来啥味", "彩虹尝着是甜的吗", f"彩虹什么味道 {PHONE}"]),
]


def _intent(parsed: dict) -> str:
    return parsed["intent"]["name"]


async def test_acting_on_a_group_then_retraining_changes_its_replay_count(stack, chromium_path, sqlite_url,
                                                                        tiny_project, tmp_path,  # noqa: F811
                                                                        monkeypatch):
    original_model = str(Path(stack.model))
    seen = {}
    for word, questions in FAMILIES:
        before = {t: _intent(await rasa(stack, "POST", "/model/parse", {"text": t})) for t in questions}
        fallen = [t for t, intent in before.items() if intent == "nlu_fallback"]
        seen[word] = before
        if len(fallen) >= 3:
            break
    else:
        pytest.fail(f"the served model sends too few of these questions to the fallback: {seen}")
    for text in questions:
        await ask(stack.rasa_url, text, sender="insights-retrain-" + uuid.uuid4().hex[:10])

    saved_revision = None
    async with editor_console(stack, sqlite_url, tiny_project, tmp_path, monkeypatch) as call:
        try:
            # Grouped and masked: one row for the spellings of one question, the mobile number never shown.
            await call("GET", "/api/insights/overview?refresh=1")
            groups = (await call("GET", "/api/insights/groups"))["groups"]
            [row] = [g for g in groups if any(word in s for s in g["samples"])]
            group = await call("GET", f"/api/insights/groups/{row['id']}")
            assert PHONE not in str(groups) + str(group)
            stored = set(group["texts"])
            assert {t.replace(PHONE, MASKED) for t in fallen} <= stored <= {t.replace(PHONE, MASKED) for t in questions}
            teach = sorted(t for t in stored if "*" not in t)

            history = (await call("GET", "/api/editor/entries/program/dibao/history"))["revisions"]
            await _act_on_the_page(call, chromium_path, row["id"], word, teach, len(stored))
            revisions = (await call("GET", "/api/editor/entries/program/dibao/history"))["revisions"]
            assert len(revisions) == len(history) + 1
            saved_revision = revisions[0]["id"]
            entry = await call("GET", "/api/editor/entries/program/dibao")
            assert set(teach) <= set(entry["data"]["example_questions"]["materials"])

            # Before retraining: the served model still sends every one of them to the fallback.
            replay = await call("POST", "/api/insights/replay", {})
            [mine] = [g for g in replay["groups"] if g["group"] == row["id"]]
            assert (mine["total"], mine["answered"]) == (len(stored), 0), mine
            assert Path(replay["model"]).name == Path(original_model).name

            # Retrain from the editor: the new model is loaded, and the console replays the acted-on groups.
            job = (await call("POST", "/api/editor/training", {}, expect=202))["job"]
            job = await wait_for_job(lambda i: call("GET", f"/api/editor/training/{i}"), job["id"], timeout=600)
            assert job["status"] == "succeeded", job["error"] or job["log"][-3000:]
            served = (await rasa(stack, "GET", "/status"))["model_file"]
            assert Path(served).name == Path(job["model"]).name != Path(original_model).name
            shown = await call("GET", f"/api/insights/groups/{row['id']}")
            assert Path(shown["replay"]["model"]).name == Path(served).name  # replayed without anyone asking

            # After: the same messages are answered, by the retrained model, as the intent they were taught.
            replay = await call("POST", "/api/insights/replay", {})
            [mine] = [g for g in replay["groups"] if g["group"] == row["id"]]
            by_text = {m["text"]: m for m in mine["messages"]}
            for text in teach:
                assert by_text[text]["answered"] and by_text[text]["by"] == "model", by_text[text]
                assert by_text[text]["intent"] == "ask_materials", by_text[text]
            assert mine["answered"] >= len(teach) > 0
            assert shown["replay"]["answered"] == mine["answered"] and shown["replay"]["total"] == len(stored)
            await _page_shows_the_replay(call, chromium_path, row["id"], f"{mine['answered']}/{len(stored)}")
        finally:
            # Leave the session's stack as it was for the other tests: content and model.
            if saved_revision is not None:
                await call("POST", "/api/editor/entries/program/dibao/restore",
                           {"revision_id": saved_revision, "side": "before"})
            await rasa(stack, "PUT", "/model", {"model_file": original_model})


async def _page(p, call, chromium_path):
    browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
    context = await browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    base = str(call.client.make_url("/")).rstrip("/")
    for c in call.client.session.cookie_jar:
        await context.add_cookies([{"name": c.key, "value": c.value, "url": base}])
    page = await context.new_page()
    page.set_default_timeout(60000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return browser, page, base, errors


async def _act_on_the_page(call, chromium_path: str, group_id: int, word: str, teach, total: int):
    """On /editor/insights: the group's row (masked), its action form, the messages ticked as examples of 低保's
    materials (masked ones cannot be ticked), sent."""
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser, page, base, errors = await _page(p, call, chromium_path)
        try:
            await page.goto(base + "/editor/insights")
            row = page.locator(f"tr[data-group='{group_id}']")
            await row.wait_for()
            text = await row.text_content()
            assert word in text and PHONE not in text
            await row.locator("button").click()
            form = page.locator("tr.act-row form")
            await form.wait_for()
            assert await form.locator("input[type=checkbox][disabled]").count() == total - len(teach)
            await form.locator("select[name=action]").select_option("examples")
            await form.locator("select[name=entry]").select_option("program:dibao")
            await page.wait_for_selector("tr.act-row select[name=aspect] option[value=materials]", state="attached")
            await form.locator("select[name=aspect]").select_option("materials")
            ticked = await form.locator(".texts input:checked").evaluate_all("els => els.map(e => e.value)")
            assert sorted(ticked) == list(teach)
            await page.screenshot(path=str(ARTIFACTS / "insights_retrain_action.png"), full_page=True)
            await form.locator("button[type=submit]").click()
            await page.wait_for_selector("#messages.ok")
            assert "已加为例句" in await page.text_content("#messages")
            status = row.locator(".replay")
            await page.wait_for_function(
                f"document.querySelector(\"tr[data-group='{group_id}'] .done\") !== null")
            assert "等待重新训练后重放" in await status.text_content()
            assert errors == []
        finally:
            await browser.close()


async def _page_shows_the_replay(call, chromium_path: str, group_id: int, expected: str):
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser, page, base, errors = await _page(p, call, chromium_path)
        try:
            await page.goto(base + "/editor/insights")
            replay = page.locator(f"tr[data-group='{group_id}'] .replay")
            await replay.wait_for()
            assert await replay.get_attribute("data-replay") == expected
            # Each chart's legend shows its colours (SVG swatches: the CSP drops inline style attributes).
            swatches = page.locator("#chart-outcomes .legend svg.swatch rect")
            assert await swatches.count() == 4
            assert (await swatches.nth(2).get_attribute("fill")) == await page.locator(
                "#chart-outcomes svg.chart-svg rect[data-key='fallback']").first.get_attribute("fill")
            await page.screenshot(path=str(ARTIFACTS / "insights_retrain_replayed.png"), full_page=True)
            assert errors == []
        finally:
            await browser.close()

