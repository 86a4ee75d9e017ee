"""Against the running stack (real Rasa, action server, console, tracker store): residents' messages Huimin
cannot answer are read from the tracker store, grouped and shown masked on the insights API and page; an editor
acts on a group through the editor's save path; the replay count equals what Rasa's /model/parse says. Residents
vote 有用/没用 under an answer on the real /chat page; the vote is stored and shown to editors.
Screenshots: tests/artifacts/insights_*.png."""
from __future__ import annotations

import uuid

import aiohttp
import pytest

from bot.privacy import redact_text
from tests.conftest import ARTIFACTS, CHROMIUM_ARGS
from tests.editor_helpers import Editor, ask

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.timeout(1200)]

# One question far from welfare, in several spellings (one with a mobile number), that the model of this session
# does not understand; the test keeps those /model/parse really sends to the fallback.
UNANSWERABLE = ["火星上能种土豆吗", "在火星上能种土豆吗", "火星上种土豆行吗", "火星上可以种土豆吗",
                "火星上能种土豆吗 13800138001"]
PHONE = "13800138001"


async def _parse(stack, text: str) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{stack.rasa_url}/model/parse", params={"token": stack.token},
                             json={"text": text}) as r:
            assert r.status == 200
            return await r.json()


async def test_unanswered_messages_grouped_acted_on_and_replayed(stack, chromium_path):
    editor = await Editor.login(stack)
    try:
        for text in UNANSWERABLE:
            await ask(stack.rasa_url, text, sender="insights-" + uuid.uuid4().hex[:10])
        fallen = [t for t in UNANSWERABLE if (await _parse(stack, t))["intent"]["name"] == "nlu_fallback"]
        assert len(fallen) >= 2, "these questions should fall back on the served model"

        overview = await editor.call("GET", "/api/insights/overview?refresh=1")
        assert overview["total_messages"] >= len(UNANSWERABLE)
        assert sum(w["fallback"] for w in overview["weeks"]) >= len(fallen)
        groups = (await editor.call("GET", "/api/insights/groups?sort=count"))["groups"]
        mars = [g for g in groups if any("火星" in s for s in g["samples"])]
        assert len(mars) == 1, mars  # one row for the spellings of one thing
        group = await editor.call("GET", f"/api/insights/groups/{mars[0]['id']}")
        # Every message the model sends to the fallback is in the group, and only these questions are (a turn can
        # also fall back in the dialogue policy, action_default_fallback, so the group may hold more of them).
        masked = {redact_text(t): t for t in UNANSWERABLE}
        assert {redact_text(t) for t in fallen} <= set(group["texts"]) <= set(masked)
        assert PHONE not in str(groups) + str(group)  # masked in the tracker store, never unmasked here
        if any(PHONE in t for t in fallen):
            assert any("138****8001" in t for t in group["texts"])

        # Act: the unmasked messages become example questions of 低保's materials, through the editor.
        before = (await editor.call("GET", "/api/editor/entries/program/dibao/history"))["revisions"]
        acted = await editor.call("POST", f"/api/insights/groups/{group['id']}/action",
                                  {"action": "examples", "entry": "program:dibao", "aspect": "materials",
                                   "texts": group["texts"]})
        assert acted["action"] == "examples" and acted["action_detail"]["needs_retraining"] is True
        added = acted["action_detail"]["added"]
        assert added and not any("*" in t for t in added)  # masked text is never training data
        history = (await editor.call("GET", "/api/editor/entries/program/dibao/history"))["revisions"]
        assert len(history) == len(before) + 1 and history[0]["id"] == acted["action_detail"]["revision"]
        entry = await editor.call("GET", "/api/editor/entries/program/dibao")
        assert set(added) <= set(entry["data"]["example_questions"]["materials"])

        # Replay on the served model: the count is what /model/parse says for each stored message.
        replay = await editor.call("POST", "/api/insights/replay", {})
        [mine] = [g for g in replay["groups"] if g["group"] == group["id"]]
        expected = sum([(await _parse(stack, t))["intent"]["name"] != "nlu_fallback" for t in group["texts"]])
        assert (mine["total"], mine["answered"]) == (len(group["texts"]), expected)
        shown = await editor.call("GET", f"/api/insights/groups/{group['id']}")
        assert shown["replay"]["answered"] == expected and shown["replay"]["model"] == replay["model"]

        # Another group becomes a task in the editors' list.
        babble = "foo bar baz qux"
        assert (await _parse(stack, babble))["intent"]["name"] == "nlu_fallback"
        await ask(stack.rasa_url, babble, sender="insights-" + uuid.uuid4().hex[:10])
        await editor.call("GET", "/api/insights/overview?refresh=1")
        [other] = [g for g in (await editor.call("GET", "/api/insights/groups"))["groups"] if babble in g["samples"]]
        assert other["id"] != group["id"]
        await editor.call("POST", f"/api/insights/groups/{other['id']}/action",
                          {"action": "task", "title": "补一条说明（测试）"})
        tasks = (await editor.call("GET", "/api/insights/tasks"))["tasks"]
        assert tasks[0]["title"] == "补一条说明（测试）" and tasks[0]["group_id"] == other["id"]

        # Sorting by recency puts the newest group first; the week filter keeps only that week's messages.
        recent = (await editor.call("GET", "/api/insights/groups?sort=recent"))["groups"]
        assert recent[0]["id"] == other["id"]
        week = (await editor.call("GET", "/api/insights/overview"))["weeks_available"][0]
        in_week = (await editor.call("GET", f"/api/insights/groups?week={week}"))["groups"]
        assert {group["id"], other["id"]} <= {g["id"] for g in in_week}
        assert (await editor.call("GET", "/api/insights/groups?week=1999-W01"))["groups"] == []
        await editor.call("GET", "/api/insights/groups?sort=alphabet", expect=400)

        # Malformed requests are 4xx with a reason.
        bad = await editor.call("POST", f"/api/insights/groups/{group['id']}/action", {"action": "delete"},
                                expect=400)
        assert bad["message"]
        await editor.call("POST", f"/api/insights/groups/{group['id']}/action",
                          {"action": "examples", "entry": "program:dibao", "aspect": "materials",
                           "texts": ["不是这一组的话"]}, expect=400)

        await _browser_page(stack, editor, chromium_path, group["id"], expected, len(group["texts"]),
                            any("*" in t for t in group["texts"]))
    finally:
        await editor.close()


async def _logged_in_page(p, chromium_path, stack, editor):
    """Chromium with the editor's console session (its cookies), and a page in it."""
    browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
    context = await browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    for c in editor.http.cookie_jar:
        await context.add_cookies([{"name": c.key, "value": c.value, "url": stack.console_url}])
    page = await context.new_page()
    page.set_default_timeout(60000)
    return browser, page


async def _browser_page(stack, editor, chromium_path, group_id, answered, total, has_masked):
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser, page = await _logged_in_page(p, chromium_path, stack, editor)
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            await page.goto(stack.console_url + "/editor/insights")
            row = page.locator(f"tr[data-group='{group_id}']")
            await row.wait_for()
            text = await row.text_content()
            assert "火星" in text and PHONE not in text
            assert await row.locator(".replay").get_attribute("data-replay") == f"{answered}/{total}"
            assert await page.locator("#chart-outcomes svg rect[data-key='fallback']").count() >= 1
            assert await page.locator("#chart-top svg rect").count() >= 1
            assert "天" in await page.text_content("#retention")
            await page.screenshot(path=str(ARTIFACTS / "insights_page.png"), full_page=True)
            await row.locator("button").click()
            form = page.locator("tr.act-row form")
            await form.wait_for()
            # Masked messages cannot be picked as training data.
            assert (await form.locator(".texts input[type=checkbox][disabled]").count() > 0) == has_masked
            # A situation: a reason and the concepts to tick (knowledge/understanding.yml), for a programme or a
            # bookable service.
            await form.locator("select[name=action]").select_option("situation")
            assert await form.locator("input[name=why]").is_visible()
            assert await form.locator("fieldset.when input[type=checkbox][value=no_income]").count() == 1
            assert await form.locator("select[name=entry] option[value='service:meal']").count() == 1
            await page.screenshot(path=str(ARTIFACTS / "insights_action.png"), full_page=True)
            assert errors == []
        finally:
            await browser.close()


async def test_feedback_under_an_answer_on_the_chat_page(stack, chromium_path):
    from playwright.async_api import async_playwright

    editor = await Editor.login(stack)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        page = await (await browser.new_context(viewport={"width": 1000, "height": 900}, locale="zh-CN")).new_page()
        page.set_default_timeout(90000)
        try:
            await page.goto(stack.console_url + "/chat")
            await page.wait_for_selector(".msg.bot")
            # A greeting is no knowledge answer: no buttons under it.
            await page.wait_for_timeout(2500)
            assert await page.locator(".feedback").count() == 0
            await page.fill("#composer-input", "办低保要带什么材料")
            await page.press("#composer-input", "Enter")
            bar = page.locator(".feedback")
            await bar.wait_for()
            await page.screenshot(path=str(ARTIFACTS / "insights_feedback_buttons.png"), full_page=True)
            await bar.locator("button.feedback-no").click()
            await page.fill(".feedback-missing textarea", "没说复印件要几份")
            await page.click(".feedback-missing button[type=submit]")
            await page.wait_for_selector(".feedback-thanks")
            await page.screenshot(path=str(ARTIFACTS / "insights_feedback_sent.png"), full_page=True)
        finally:
            await browser.close()
    try:
        votes = await editor.call("GET", "/api/insights/feedback?program=dibao")
        materials = [a for a in votes["aspects"] if a["aspect"] == "materials"]
        assert materials and materials[0]["unhelpful"] >= 1
        assert any(n["missing"] == "没说复印件要几份" for n in votes["notes"])
        overview = await editor.call("GET", "/api/insights/overview?refresh=1")
        assert any(h["program"] == "dibao" and h["unhelpful"] >= 1 for h in overview["helpfulness"])
        await _editor_shows_feedback(stack, editor, chromium_path)
        # A vote on something that is not an answer of that conversation is refused; so is an unsigned id.
        from bot.channels.chat_session import new_session_id
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{stack.console_url}/chat/feedback",
                                 json={"session_id": new_session_id(stack.env["HUIMIN_SECRET_KEY"]), "answer_id": 1,
                                       "helpful": True}) as r:
                assert r.status == 404
            async with http.post(f"{stack.console_url}/chat/feedback",
                                 json={"session_id": "nosuchsession01", "answer_id": 1, "helpful": True}) as r:
                assert r.status == 400
            async with http.post(f"{stack.console_url}/chat/feedback", json={"session_id": "x"}) as r:
                assert r.status == 400
    finally:
        await editor.close()


async def _editor_shows_feedback(stack, editor, chromium_path):
    """The entry's form tells editors what residents said about its answers; open tasks show beside the link."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser, page = await _logged_in_page(p, chromium_path, stack, editor)
        try:
            await page.goto(stack.console_url + "/editor?kind=program&id=dibao")
            await page.wait_for_selector("#entry-feedback:visible")
            text = await page.text_content("#entry-feedback")
            assert "没用" in text and "没说复印件要几份" in text
            tasks = (await editor.call("GET", "/api/insights/tasks"))["tasks"]
            if tasks:
                await page.wait_for_selector(f"#open-tasks:has-text('{len(tasks)} 项待办')")
            await page.screenshot(path=str(ARTIFACTS / "insights_editor_feedback.png"))
        finally:
            await browser.close()


async def test_a_finished_retraining_replays_acted_on_groups(stack):
    """What the console does once a training run's model is served (``Trainer.on_model_loaded``): the groups
    acted on are replayed on that model, against the real Rasa server, without anyone pressing a button."""
    from bot.console.app import create_app
    from bot.db import session_scope
    from bot.insights.models import Group
    from bot.settings import get_settings

    # A spelling the served model sends to the fallback (the scope check answers some others as out of scope).
    fallen = [t for t in UNANSWERABLE if (await _parse(stack, t))["intent"]["name"] == "nlu_fallback"]
    assert fallen, "the served model sends none of these questions to the fallback"
    text = fallen[0]
    stored = redact_text(text)
    editor = await Editor.login(stack)
    try:
        await ask(stack.rasa_url, text, sender="insights-" + uuid.uuid4().hex[:10])
        await editor.call("GET", "/api/insights/overview?refresh=1")
        [group] = [g for g in (await editor.call("GET", "/api/insights/groups"))["groups"]
                   if stored in g["samples"]]
        if group["action"] != "examples":
            await editor.call("POST", f"/api/insights/groups/{group['id']}/action",
                              {"action": "examples", "entry": "program:dibao", "aspect": "materials",
                               "texts": [stored]})
    finally:
        await editor.close()
    # As if the last replay had run on the model before the retraining.
    async with session_scope(stack.database_url) as s:
        (await s.get(Group, group["id"])).replay_model = "models/huimin-before-retraining.tar.gz"
    app = create_app(get_settings(), watch_interval=0)
    callbacks = app["editor_trainer"].on_model_loaded
    assert len(callbacks) == 1
    status = await _status(stack)
    await callbacks[0](status["model_file"])
    await app["rasa"].close()
    async with session_scope(stack.database_url) as s:
        row = await s.get(Group, group["id"])
        texts = [t for t in (await _group_texts(s, group["id"]))]
    assert row.replay_model == status["model_file"]
    expected = sum([(await _parse(stack, t))["intent"]["name"] != "nlu_fallback" for t in texts])
    assert (row.replay_total, row.replay_answered) == (len(texts), expected)


async def _status(stack) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.rasa_url}/status", params={"token": stack.token}) as r:
            return await r.json()


async def _group_texts(session, group_id):
    import sqlalchemy as sa

    from bot.insights.models import Message
    return (await session.execute(sa.select(Message.text).where(Message.group_id == group_id)
                                  .order_by(Message.id))).scalars().all()


def test_wechat_asks_after_the_second_answer_and_stores_the_numbered_vote(stack, wechat_api):
    """On WeChat the question comes once, after the second knowledge answer, as numbered choices; the number
    reply is stored as feedback (channel wechat) and never reaches the assistant."""
    import asyncio
    import re
    import time

    from bot.insights.wechat_feedback import texts
    from tests.test_wechat_channel import CONTENT, WeChatServer, new_user

    wechat, openid = WeChatServer(stack), new_user()
    question = texts()["question"]

    def say(text: str) -> str:
        """Push a message; everything WeChat delivered for it (a long reply may come in several texts)."""
        before = len(wechat_api.messages_to(openid))
        users = len(wechat.user_texts(openid))
        wechat.push(wechat.text(openid, text), openid)
        wechat_api.wait_for_messages(openid, before + 1)
        time.sleep(2)
        assert len(wechat.user_texts(openid)) in (users, users + 1)
        return "\n".join(m["text"]["content"] for m in wechat_api.messages_to(openid)[before:])

    assert question not in say("低保需要什么材料")
    second = say("特困供养需要什么材料")
    assert question in second, second
    line = CONTENT.texts["choice_line"].replace("{number}", r"(\d+)").replace("{title}", texts()["unhelpful"])
    number = re.search(line, second).group(1)
    users_before = wechat.user_texts(openid)
    assert say(number) == texts()["thanks"]
    assert wechat.user_texts(openid) == users_before  # the vote did not go to the assistant

    async def stored():
        from bot.db import dispose_engines, session_scope
        from bot.insights.models import Feedback
        import sqlalchemy as sa
        async with session_scope(stack.database_url) as s:
            rows = (await s.execute(sa.select(Feedback).where(Feedback.channel == "wechat"))).scalars().all()
            out = [(r.helpful, r.aspect) for r in rows]
        await dispose_engines()
        return out
    assert (False, "materials") in asyncio.run(stored())
    # A third answer brings no question again.
    assert question not in say("低保需要什么材料")


async def test_a_situation_added_from_the_page_answers_the_next_resident_at_once(stack, chromium_path):
    """A message nothing fits (a carer who cannot cope, said in words no situation asks for) falls to the fallback
    and is grouped; on the insights page the editor adds a situation of a bookable service from its group, ticking
    the concept the page found in it; without retraining, the running action server recommends that service to the
    next resident saying the same, and the replay counts the message as understood by the second reading."""
    from playwright.async_api import async_playwright

    # A carer's words that no situation asks for; the first the served model sends to the fallback.
    fallen = [t for t in ("不会照顾病人", "伺候不过来了", "照顾不过来了")
              if (await _parse(stack, t))["intent"]["name"] == "nlu_fallback"]
    assert fallen, "the served model understands every one of these: pick words it sends to the fallback"
    said = fallen[0]
    editor = await Editor.login(stack)
    why = "家里有人要照护、自己伺候不过来的，可以预约上门康复护理，让专业的人搭把手。"
    saved = None
    try:
        first = "\n".join(await ask(stack.rasa_url, said, sender="insights-" + uuid.uuid4().hex[:10]))
        assert why not in first
        await editor.call("GET", "/api/insights/overview?refresh=1")
        [row] = [g for g in (await editor.call("GET", "/api/insights/groups"))["groups"] if said in g["samples"]]
        async with async_playwright() as p:
            browser, page = await _logged_in_page(p, chromium_path, stack, editor)
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            try:
                await page.goto(stack.console_url + "/editor/insights")
                await page.locator(f"tr[data-group='{row['id']}'] button").click()
                form = page.locator("tr.act-row form")
                await form.wait_for()
                await form.locator("select[name=action]").select_option("situation")
                await form.locator("select[name=entry]").select_option("service:rehab_care")
                await form.locator("input[name=why]").fill(why)
                concept = form.locator("fieldset.when input[value=caregiver]")
                label = await form.locator("fieldset.when label[for$='-when-caregiver']").text_content()
                assert "这组里 1 条" in label  # the concept found in the group's message, suggested first
                await concept.check()
                await page.screenshot(path=str(ARTIFACTS / "insights_situation.png"), full_page=True)
                await form.locator("button[type=submit]").click()
                await page.wait_for_selector("#messages.ok")
                assert "现在有 1 条会推荐这一项" in await page.text_content("#messages")
                assert errors == []
            finally:
                await browser.close()
        detail = (await editor.call("GET", f"/api/insights/groups/{row['id']}"))["action_detail"]
        saved = detail["revision"]
        assert detail["situation"] == {"why": why, "when": ["caregiver"]}
        assert detail["fits"] == [said] and detail["needs_retraining"] is False
        again = "\n".join(await ask(stack.rasa_url, said, sender="insights-" + uuid.uuid4().hex[:10]))
        assert why in again and "康复护理" in again, again
        # Read from the tracker store, the second time is an answered message (the fallback ladder re-read it as
        # a situation), not another miss in the group nor two messages.
        before = (await editor.call("GET", "/api/insights/overview"))["total_messages"]
        await editor.call("GET", "/api/insights/overview?refresh=1")
        assert (await editor.call("GET", "/api/insights/overview"))["total_messages"] == before + 1
        assert (await editor.call("GET", f"/api/insights/groups/{row['id']}"))["count"] == 1
        replay = await editor.call("POST", "/api/insights/replay", {})
        [mine] = [g for g in replay["groups"] if g["group"] == row["id"]]
        [message] = [m for m in mine["messages"] if m["text"] == said]
        assert message["answered"] and message["by"] == "second_reading" and message["intent"] == "nlu_fallback"
    finally:
        if saved is not None:  # the session's other tests expect the catalogue as it was
            await editor.call("POST", "/api/editor/entries/service/rehab_care/restore",
                              {"revision_id": saved, "side": "before"})
        await editor.close()
