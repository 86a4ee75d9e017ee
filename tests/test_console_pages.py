"""The staff console in Debian's Chromium (Playwright) against the running stack: a resident's request appears in the
queue live and is announced (sound + browser notification); the card shows what the resident said, the channel in
words, the wait, and the booker and community when a booking of the conversation says so; the whole handover is done
with the keyboard (claim, reply, close — which hands back in the same step); errors stay until read; the transcript
shows button titles and local times; a closed ticket shows its outcome. Then the other pages: bookings (name as
given, Chinese statuses, cancel through a dialog, the mobile of a booking made through the running stack revealed as
a tel: link — stored nowhere in plain text), applications (searchable list with Chinese labels, look-up above
import), who is logged in everywhere, and a page a role may not open explained in Chinese. Screenshots go to
tests/artifacts/."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import uuid

import pytest

from tests.conftest import ARTIFACTS, CHROMIUM_ARGS
from tests.handoff_helpers import Resident, Staff, ensure_staff_user
from tests.test_applications_import import ID_A

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.timeout(1800)]
PASSWORD = "page-password-1"


async def login(page, console_url: str, name: str, password: str = PASSWORD, path: str = "/staff") -> None:
    await page.goto(console_url + path)
    await page.wait_for_url("**/login**")
    await page.fill("#username", name)
    await page.fill("#password", password)
    await page.click("#login-button")
    # "**/editor" would also match the login page's own "?next=/editor": wait until we have left it.
    await page.wait_for_url(lambda url: "/login" not in url)


async def test_staff_takes_over_with_the_keyboard(stack, chromium_path):
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await ensure_staff_user(stack.database_url, "page_li", PASSWORD)
    resident = Resident(stack.rasa_url)
    api = Staff(stack.console_url)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN",
                                            timezone_id="Asia/Shanghai")
        await context.grant_permissions(["notifications"], origin=stack.console_url)
        page = await context.new_page()
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
            await page.check("#notify")  # sound + browser notification for new waiting tickets

            # The resident taps a button of an answer, asks for a person after the page is open, then writes.
            await resident.connect()
            # A booking made earlier in this conversation: the card names the booker and the community from it.
            await _add_booking(stack.database_url, "903", conversation_id=resident.session_id)
            await resident.say("低保")
            answer = await resident.wait_for(lambda m: bool(m.get("quick_replies")), timeout=90)
            button = answer["quick_replies"][0]
            await resident.say(button["payload"])
            await resident.wait_for(lambda m: bool(m.get("text")), after=len(resident.received))
            await resident.say("转人工")
            await api.login("page_li", PASSWORD)
            ticket = await api.wait_ticket(resident.session_id)
            mark = len(resident.received)
            await resident.say("我腿脚不好，想问问能不能上门办，电话13912340077")
            await resident.wait_for(lambda m: m.get("kind") == "received", after=mark)

            card = page.locator(f"#tickets li[data-ticket='{ticket['id']}']")
            await card.wait_for(timeout=15000)
            assert await page.text_content("#live-mode") == ""  # SSE, not the polling fallback
            await page.wait_for_function("() => (window.__huiminNotified || []).length >= 1", timeout=15000)
            assert await page.evaluate("window.__huiminBeeps") >= 1
            await page.wait_for_selector(f"#tickets li[data-ticket='{ticket['id']}'] .said:has-text('上门办')",
                                         timeout=15000)
            text = await card.inner_text()
            assert "网页" in text and "socketio" not in text and re.search(r"已等 \d+ (秒|分钟)", text)
            assert "预约人 刘*贵 · 大阳沟社区养老服务站" in text and "我本人" not in text
            assert await page.locator(".legend").is_visible()
            # With no ticket open, the queue uses the whole width.
            layout = await page.locator("#layout").bounding_box()
            tickets = await page.locator("#tickets").bounding_box()
            assert tickets["width"] > 0.9 * (layout["width"] - 40)
            await page.screenshot(path=str(ARTIFACTS / "console_queue.png"))

            # Keyboard only from here: the card is a button; Enter opens the ticket and focuses its title.
            await card.locator("button").focus()
            await page.keyboard.press("Enter")
            await page.wait_for_selector(f"#conv-title:has-text('#{ticket['id']}')")
            assert await page.evaluate("document.activeElement.id") == "conv-title"
            transcript = await page.inner_text("#transcript")
            assert button["title"] in transcript and "/ask" not in transcript and '{"' not in transcript
            assert re.search(r"\d\d:\d\d", transcript) and "T0" not in transcript  # local times, not ISO
            # The call-back number left while waiting: masked, revealed (and audited) with one button.
            callback = page.locator("#conv-callbacks .callback")
            await callback.wait_for()
            assert "139****0077" in await callback.inner_text()
            await callback.get_by_role("button", name="显示号码").click()
            await page.wait_for_selector("#conv-callbacks a[href='tel:13912340077']")
            # The transcript is the one scroll area: the page itself does not scroll.
            assert await page.evaluate("document.documentElement.scrollHeight <= window.innerHeight + 1")

            await page.locator("#claim").focus()
            await page.keyboard.press("Enter")
            await page.wait_for_selector("#send:enabled")
            await page.wait_for_function("() => document.activeElement.id === 'reply-text'")  # focus moves on
            await page.keyboard.type("您好，我是社区的小李。")
            mark = len(resident.received)
            await page.keyboard.press("Control+Enter")
            staff_message = await resident.wait_for(lambda m: m.get("text") == "您好，我是社区的小李。", after=mark)
            assert staff_message.get("staff") == "工作人员 page_li"
            await page.wait_for_selector("#transcript li.staff:has-text('您好，我是社区的小李。')")
            await page.screenshot(path=str(ARTIFACTS / "console_conversation.png"))

            # Closing without an outcome: the error stays until it is read.
            assert await page.inner_text("#close") == "交还并结束工单"
            assert "交还" in await page.inner_text("#close-hint")
            await page.locator("#close").focus()
            await page.keyboard.press("Enter")
            error = page.locator(".notice.error", has_text="请写一句处理结果")
            await error.wait_for()
            await page.wait_for_timeout(2500)  # a queue refresh and a live event later, still there
            assert await error.is_visible()
            await error.get_by_role("button", name="知道了").click()
            assert await error.count() == 0

            # Closing hands back in the same step.
            await page.locator("#outcome").focus()
            await page.keyboard.type("已说明上门办理的条件")
            await page.keyboard.press("Enter")
            await resident.wait_for(lambda m: "惠民助手继续" in (m.get("text") or ""), after=mark)
            await page.wait_for_selector("#conv-title:has-text('已结束')")
            assert "已说明上门办理的条件" in await page.inner_text("#conv-outcome")
            assert await page.is_hidden("#reply-form") and await page.is_hidden("#actions")
            await page.screenshot(path=str(ARTIFACTS / "console_closed.png"))

            # Tabs are a real tab list: arrow keys move the selection, the panel follows.
            await page.locator("#tab-waiting").focus()
            await page.keyboard.press("ArrowRight")
            assert await page.get_attribute("#tab-mine", "aria-selected") == "true"
            assert await page.evaluate("document.activeElement.id") == "tab-mine"
            assert await page.get_attribute("#queue-panel", "aria-labelledby") == "tab-mine"
        finally:
            await browser.close()
            await resident.close()
            await api.close()


async def _add_booking(database_url: str, number: str = "901", conversation_id=None) -> str:
    from bot.booking.models import Booking
    from bot.db import session_scope
    from bot.privacy import keyed_hash

    start = dt.datetime.now().replace(hour=9, minute=0, second=0, microsecond=0) + dt.timedelta(days=3)
    async with session_scope(database_url) as s:
        b = Booking(code="BK" + start.strftime("%y%m%d") + number, service_id="bath", mode="site",
                    site_id="dayanggou", start=start, end=start + dt.timedelta(hours=1), person="我本人，刘福贵",
                    phone_masked="139****0001", phone_hash=keyed_hash("13912340001", "booking.phone"),
                    status="booked", idempotency_key=f"console-page-test-{number}", conversation_id=conversation_id)
        s.add(b)
        await s.flush()
        return b.code


def _stored_text(url: str) -> str:
    """Every value of every table of a database (sync URL), as text."""
    import sqlalchemy as sa

    from bot.db import to_sync_url

    engine = sa.create_engine(to_sync_url(url))
    out = []
    try:
        with engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                out.extend(str(v) for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')) for v in row)
    finally:
        engine.dispose()
    return "\n".join(out)


async def test_bookings_page_reveals_the_mobile_the_resident_gave(stack, chromium_path):
    from playwright.async_api import async_playwright

    from tests.test_booking_e2e import open_days, say

    # A resident books through the running stack (REST channel, real NLU, actions and databases) — on a day
    # tests/test_booking_e2e.py does not book in the same session's stack (its first two open days).
    day = open_days(5)[-1]
    sender = f"resident-{uuid.uuid4().hex[:8]}"
    say(stack, sender, "我想给我妈约个上门洗澡")
    say(stack, sender, "白下路100号3栋201室")
    say(stack, sender, f"{day.month}月{day.day}号上午十点")
    text, _ = say(stack, sender, "13812345678")
    assert "138****5678" in text, text
    text, _ = say(stack, sender, "/affirm")
    code = re.search(r"YY\d{11}", text).group(0)
    old_code = await _add_booking(stack.database_url, "902")  # made before full numbers were kept
    # Neither the application database nor the tracker store holds the number in plain text.
    for url in (stack.database_url, stack.tracker_db_url):
        stored = _stored_text(url)
        assert "13812345678" not in stored and "138****5678" in stored, url

    await ensure_staff_user(stack.database_url, "page_li", PASSWORD)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN",
                                            timezone_id="Asia/Shanghai")
        page = await context.new_page()
        try:
            await login(page, stack.console_url, "page_li", path="/staff/bookings")
            row = page.locator("#rows tr", has_text=code)
            await row.wait_for()
            assert "138****5678" in await row.inner_text()
            await row.get_by_role("button", name="显示号码").click()
            link = row.locator("a[href='tel:13812345678']")
            await link.wait_for()
            assert await link.inner_text() == "13812345678" and "已记录" in await row.inner_text()
            await page.screenshot(path=str(ARTIFACTS / "console_bookings_phone.png"))
            old = page.locator("#rows tr", has_text=old_code)
            await old.get_by_role("button", name="显示号码").click()
            await page.wait_for_selector(f"#rows tr:has-text('{old_code}') :text('没有保存完整号码')")
            assert await old.locator("a[href^='tel:']").count() == 0
            # A reload keeps nothing revealed on screen: showing it again is another audited reveal.
            await page.reload()
            await row.wait_for()
            assert await row.locator("a[href^='tel:']").count() == 0
        finally:
            await browser.close()

    from bot.console.auth import audit_entries
    entries = await audit_entries(target=f"booking:{code}", url=stack.database_url)
    assert [(e["user"], e["action"]) for e in entries] == [("page_li", "booking_phone_revealed")]


async def test_records_pages_and_roles(stack, chromium_path, tmp_path):
    from playwright.async_api import async_playwright

    from bot.console.auth import create_user

    await ensure_staff_user(stack.database_url, "page_li", PASSWORD)
    for name, role in (("page_editor", "editor"), ("page_admin", "admin")):
        try:
            await create_user(name, role, PASSWORD, stack.database_url)
        except ValueError:
            pass
    code = await _add_booking(stack.database_url)
    csv = tmp_path / "records.csv"
    csv.write_text("application_no,program,applicant_name,id_number,phone,status,submitted_at,updated_at,note\n"
                   f"GZ2026990001,低保,张建国,{ID_A},13912340001,公示中,2026-10-20,2026-11-02 09:30,\n",
                   encoding="utf-8")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        page = await context.new_page()
        try:
            await login(page, stack.console_url, "page_li", path="/staff/bookings")
            await page.wait_for_selector("#me:has-text('page_li')")
            assert await page.get_by_role("button", name="退出登录").is_visible()
            row = page.locator("#rows tr", has_text=code)
            await row.wait_for()
            text = await row.inner_text()
            assert "刘*贵" in text and "我本人" not in text and "已预约" in text and "booked" not in text
            await row.get_by_role("button", name="显示姓名地址").click()
            await page.wait_for_selector(f"#rows tr:has-text('{code}') :text('刘福贵')")
            await row.get_by_role("button", name="取消预约").click()
            dialog = page.locator("#cancel-dialog")
            await dialog.wait_for()
            await page.click("#cancel-confirm")  # no reason yet: the dialog says so and stays open
            assert "取消原因" in await page.inner_text("#cancel-error")
            await page.fill("#cancel-reason", "服务站临时停水")
            await page.screenshot(path=str(ARTIFACTS / "console_bookings_cancel.png"))
            await page.click("#cancel-confirm")
            await page.wait_for_selector(f"#rows tr:has-text('{code}') :text('已取消（服务站临时停水）')")

            await page.goto(stack.console_url + "/staff/applications")
            await page.wait_for_selector("#me:has-text('page_li')")
            # Importing needs its own role: a staff member is told so instead of a form that fails.
            await page.wait_for_selector("#upload-note", state="visible")
            assert await page.is_hidden("#upload")
            await page.click("#logout")
            await page.wait_for_url("**/login**")
            await login(page, stack.console_url, "page_admin", path="/staff/applications")
            await page.wait_for_selector("#me:has-text('page_admin')")
            # The look-up comes before the import.
            search, upload = await page.locator("#search").bounding_box(), await page.locator("#upload").bounding_box()
            assert search["y"] < upload["y"]
            await page.set_input_files("#file", str(csv))
            await page.click("#upload button[type=submit]")
            await page.wait_for_selector("#report:has-text('导入了 1 行')")
            await page.fill("#number", "990001")
            await page.keyboard.press("Enter")
            listed = page.locator("#list tr", has_text="GZ2026990001")
            await listed.wait_for()
            text = await listed.inner_text()
            assert "低保" in text and "公示中" in text and "public_notice" not in text and "dibao" not in text
            await listed.get_by_role("button").click()
            await page.wait_for_selector("#result dl:has-text('公示中')")
            await page.screenshot(path=str(ARTIFACTS / "console_applications.png"))
            await page.click("#logout")
            await page.wait_for_url("**/login**")

            # An editor may not open the staff pages: a page in Chinese, not a JSON 403.
            await login(page, stack.console_url, "page_editor", path="/editor")
            response = await page.goto(stack.console_url + "/staff/bookings")
            assert response.status == 403
            await page.wait_for_selector("h1:has-text('打不开')")
            await page.wait_for_selector("#me:has-text('page_editor')")
            assert "forbidden" not in await page.content()
        finally:
            await browser.close()


async def test_every_page_shows_who_is_logged_in_and_a_way_out(stack, chromium_path):
    """The knowledge pages too: the account and its role in words, a logout button that works; a staff account
    sent to a knowledge page gets the Chinese explanation."""
    from playwright.async_api import async_playwright

    from bot.console.auth import create_user

    await ensure_staff_user(stack.database_url, "page_li", PASSWORD)
    try:
        await create_user("page_editor", "editor", PASSWORD, stack.database_url)
    except ValueError:
        pass
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        page = await context.new_page()
        try:
            await login(page, stack.console_url, "page_editor", path="/editor")
            for path in ("/editor", "/editor/insights"):
                await page.goto(stack.console_url + path)
                await page.wait_for_selector("#me:has-text('page_editor（知识库编辑）')")
                assert "当前登录" in await page.inner_text("header")
                assert await page.get_by_role("button", name="退出登录").is_visible()
            await page.screenshot(path=str(ARTIFACTS / "console_insights_logged_in.png"))
            await page.get_by_role("button", name="退出登录").click()
            await page.wait_for_url("**/login**")
            await page.goto(stack.console_url + "/editor/insights")
            await page.wait_for_url("**/login**")  # logged out for real: the page asks to log in again

            await login(page, stack.console_url, "page_li")
            response = await page.goto(stack.console_url + "/editor/insights")
            assert response.status == 403
            await page.wait_for_selector("h1:has-text('打不开')")
            await page.wait_for_selector("#me:has-text('page_li（工作人员）')")
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def _console_in_process(db_url: str):
    """A console of its own on a free port, with the stand-in for Rasa's API (tests/fakes/rasa_api.py): for what
    the shared stack cannot do (stop its Rasa). Yields (console URL, the fake Rasa)."""
    from aiohttp.test_utils import TestServer

    from bot.console.app import create_app
    from bot.settings import Settings
    from tests.fakes.rasa_api import FakeRasa

    fake = FakeRasa()
    rasa_server = TestServer(fake.app())
    await rasa_server.start_server()
    fake.url = str(rasa_server.make_url("")).rstrip("/")
    app = create_app(Settings(database_url=db_url, rasa_url=fake.url, rasa_token=fake.token,
                              secret_key="test-secret"), watch_interval=0)
    console = TestServer(app)
    await console.start_server()
    try:
        yield str(console.make_url("")).rstrip("/"), fake
    finally:
        await console.close()
        await rasa_server.close()


@contextlib.asynccontextmanager
async def _staff_page(chromium_path: str):
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN",
                                            timezone_id="Asia/Shanghai")
        try:
            yield await context.new_page()
        finally:
            await browser.close()


async def test_a_reply_saved_but_not_delivered_stays_on_screen(sqlite_url, chromium_path):
    """Rasa down while a staff member replies: the warning stays until read (a live refresh does not wipe it),
    the reply is listed as not sent with 重发, and resending once Rasa is back delivers it. Then hand back alone
    and close, from the keyboard. An in-process console, since the shared stack's Rasa cannot be stopped."""
    from tests.test_console_api import open_ticket

    await ensure_staff_user(sqlite_url, "page_wang", PASSWORD)
    async with _console_in_process(sqlite_url) as (console_url, fake), _staff_page(chromium_path) as page:
        ticket = await open_ticket(sqlite_url, fake, cid="resident-down")
        await login(page, console_url, "page_wang")
        await page.locator(f"#tickets li[data-ticket='{ticket['id']}'] button").click()
        await page.click("#claim")
        await page.wait_for_selector("#send:enabled")
        fake.down = True
        await page.fill("#reply-text", "请稍等，我查一下。")
        await page.click("#send")
        warning = page.locator(".notice.warning")
        await warning.wait_for()
        failed = page.locator("#staff-messages li.failed", has_text="请稍等，我查一下。")
        await failed.wait_for()
        await page.evaluate("document.getElementById('tab-mine').click()")  # the queue is re-read
        await page.wait_for_timeout(2500)
        assert await warning.is_visible() and "没" in await warning.inner_text()
        await page.screenshot(path=str(ARTIFACTS / "console_reply_not_delivered.png"))
        fake.down = False
        await failed.get_by_role("button", name="重发").click()
        await failed.wait_for(state="detached")
        assert fake.delivered[-1]["text"] == "请稍等，我查一下。"
        await warning.get_by_role("button", name="知道了").click()
        assert await page.locator(".notice.warning").count() == 0

        # Handing back alone, from the keyboard: Enter on 交还惠民助手, then the outcome field has the focus.
        await page.locator("#handback").focus()
        await page.keyboard.press("Enter")
        await page.wait_for_function("() => document.activeElement.id === 'outcome'")
        assert [e["action"] for e in fake.executed] == ["action_handback"]
        assert await page.is_disabled("#handback") and await page.inner_text("#close") == "结束工单"
        await page.keyboard.type("已说明")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#conv-title:has-text('已结束')")
        assert [e["action"] for e in fake.executed] == ["action_handback"]  # not handed back twice


async def test_a_verified_application_names_the_resident_and_reads_in_words(sqlite_url, chromium_path):
    """A conversation in which the resident verified an application: the card and the conversation name the
    applicant (masked as imported), and the record reads 低保 · 公示中, not dibao · public_notice — even when the
    ticket is opened before the page has its labels."""
    from bot.applications.importer import import_csv
    from bot.applications.models import VerificationAttempt
    from bot.db import session_scope
    from bot.privacy import keyed_hash
    from tests.test_console_api import open_ticket

    await ensure_staff_user(sqlite_url, "page_wang", PASSWORD)
    await import_csv(("application_no,program,applicant_name,id_number,phone,status,submitted_at,updated_at,note\n"
                      f"GZ2026990004,低保,张建国,{ID_A},13912340004,公示中,2026-10-20,2026-11-02 09:30,\n").encode(),
                     url=sqlite_url)
    async with session_scope(sqlite_url) as s:
        s.add(VerificationAttempt(application_no="GZ2026990004", factor="phone", outcome="ok",
                                  conversation_hash=keyed_hash("resident-verified", "verification.audit"),
                                  created_at=dt.datetime.utcnow()))
    async with _console_in_process(sqlite_url) as (console_url, fake), _staff_page(chromium_path) as page:
        ticket = await open_ticket(sqlite_url, fake, cid="resident-verified")
        slow = asyncio.Event()

        async def labels_late(route):  # the labels arrive after the ticket is open
            await slow.wait()
            await route.continue_()
        await page.route("**/api/labels", labels_late)
        await login(page, console_url, "page_wang")
        card = page.locator(f"#tickets li[data-ticket='{ticket['id']}']")
        await card.wait_for()
        assert "申请人 张*国" in await card.inner_text() and "张建国" not in await card.inner_text()
        await card.locator("button").click()
        records = page.locator("#conv-records")
        await records.locator(":text('GZ2026990004')").wait_for()
        slow.set()
        await page.wait_for_selector("#conv-records :text('公示中')")
        text = await records.inner_text()
        assert "低保" in text and "dibao" not in text and "public_notice" not in text
        assert "申请人 张*国" in await page.inner_text("#conv-meta")
        await page.screenshot(path=str(ARTIFACTS / "console_records_in_words.png"))
