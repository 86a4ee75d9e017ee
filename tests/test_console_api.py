"""Console API against a real migrated database (aiohttp test client) and a local stand-in for Rasa's HTTP
API (tests/fakes/rasa_api.py): login, CSRF, lock-out, roles, the queue, a concurrent claim, reply (and a
reply while Rasa is down, then retried), hand back (what the console asks of Rasa; what the real Rasa then says
and does is checked in tests/test_handoff_e2e.py), close rules, the audit log on reveal, JSON errors."""
from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.console import auth
from bot.console.app import create_app
from bot.handoff import tickets
from bot.settings import Settings
from tests.fakes.rasa_api import FakeRasa

PASSWORD = "correct horse 9"


@pytest.fixture
async def fake_rasa():
    fake = FakeRasa()
    server = TestServer(fake.app())
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


@pytest.fixture
async def console(db_url, fake_rasa):
    for name, role in (("wang", "staff"), ("li", "staff"), ("zhao", "editor"), ("boss", "admin")):
        await auth.create_user(name, role, PASSWORD, db_url)
    settings = Settings(database_url=db_url, rasa_url=fake_rasa.url, rasa_token=fake_rasa.token,
                        secret_key="test-secret")
    # The tracker watcher is exercised separately (test_watcher_*), so requests here see a quiet app.
    app = create_app(settings, watch_interval=0)
    server = TestServer(app)
    clients = []

    async def new_client() -> TestClient:
        # Several clients (several staff members' browsers) on one server, each with its own cookies.
        c = TestClient(server)
        await c.start_server()
        clients.append(c)
        return c

    yield app, new_client
    for c in reversed(clients):
        await c.close()


async def login(client: TestClient, name: str, password: str = PASSWORD):
    token = (await (await client.get("/api/auth/csrf")).json())["csrf_token"]
    resp = await client.post("/api/auth/login", json={"username": name, "password": password},
                             headers={"X-CSRF-Token": token})
    body = await resp.json()
    return resp, body


async def logged_in(new_client, name: str):
    client = await new_client()
    resp, body = await login(client, name)
    assert resp.status == 200, body
    client.csrf = body["csrf_token"]
    return client


def post(client, path, json=None):
    return client.post(path, json=json if json is not None else {}, headers={"X-CSRF-Token": client.csrf})


async def open_ticket(db_url, fake, cid="resident-1", reason="requested"):
    fake.conversation(cid)
    fake.resident_says(cid, "转人工")
    fake.conversation(cid)["paused"] = True
    ticket, created = await tickets.create_ticket(cid, "socketio", reason, "居民：转人工", "政策：低保", url=db_url)
    assert created
    return ticket


async def test_login_logout_and_session(console):
    app, new_client = console
    client = await new_client()
    assert (await client.get("/api/tickets")).status == 401
    resp, body = await login(client, "wang", "wrong password")
    assert resp.status == 401 and body["error"] == "bad_credentials"
    resp, body = await login(client, "wang")
    assert resp.status == 200 and body["user"]["role"] == "staff"
    assert (await client.get("/api/tickets")).status == 200
    resp = await client.post("/api/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert resp.status == 200
    assert (await client.get("/api/tickets")).status == 401


async def test_csrf_is_required_on_state_changing_calls(console, db_url, fake_rasa):
    app, new_client = console
    ticket = await open_ticket(db_url, fake_rasa)
    client = await logged_in(new_client, "wang")
    # Login itself needs a token.
    anon = await new_client()
    resp = await anon.post("/api/auth/login", json={"username": "wang", "password": PASSWORD})
    assert resp.status == 403 and (await resp.json())["error"] == "csrf"
    resp = await client.post(f"/api/tickets/{ticket['id']}/claim", json={})
    assert resp.status == 403 and (await resp.json())["error"] == "csrf"
    resp = await client.post(f"/api/tickets/{ticket['id']}/claim", json={}, headers={"X-CSRF-Token": "forged"})
    assert resp.status == 403
    assert (await tickets.get_ticket(ticket["id"], db_url))["status"] == "waiting"
    resp = await post(client, f"/api/tickets/{ticket['id']}/claim")
    assert resp.status == 200


async def test_lock_out_after_repeated_failures(console):
    app, new_client = console
    client = await new_client()
    for _ in range(auth.MAX_FAILURES):
        resp, body = await login(client, "li", "nope nope")
    # The same answer as any wrong password (no oracle for which accounts exist or are locked).
    assert resp.status == 401 and body["error"] == "bad_credentials"
    # Even the right password is refused while locked (for this client address).
    resp, body = await login(client, "li")
    assert resp.status == 401
    admin = await logged_in(new_client, "boss")
    assert (await post(admin, "/api/admin/users/li/unlock")).status == 200
    resp, body = await login(client, "li")
    assert resp.status == 200


async def test_roles(console, db_url, fake_rasa):
    app, new_client = console
    staff = await logged_in(new_client, "wang")
    assert (await staff.get("/api/admin/users")).status == 403
    resp = await post(staff, "/api/admin/users", {"username": "x", "role": "admin", "password": "12345678"})
    assert resp.status == 403 and (await resp.json())["error"] == "forbidden"
    editor = await logged_in(new_client, "zhao")
    assert (await editor.get("/api/tickets")).status == 403
    admin = await logged_in(new_client, "boss")
    resp = await post(admin, "/api/admin/users", {"username": "sun", "role": "staff", "password": "12345678"})
    assert resp.status == 201
    assert "sun" in [u["name"] for u in (await (await admin.get("/api/admin/users")).json())["users"]]


async def test_queue_orders_by_priority_then_wait(console, db_url, fake_rasa):
    app, new_client = console
    first = await open_ticket(db_url, fake_rasa, "r-a", "requested")
    await open_ticket(db_url, fake_rasa, "r-b", "complaint")
    urgent = await open_ticket(db_url, fake_rasa, "r-c", "emergency")
    client = await logged_in(new_client, "wang")
    body = await (await client.get("/api/tickets?view=waiting")).json()
    assert [t["conversation_id"] for t in body["tickets"]] == ["r-c", "r-b", "r-a"]
    assert (await tickets.queue_position(first["id"], db_url)) == 3
    assert (await tickets.queue_position(urgent["id"], db_url)) == 1
    resp = await client.get("/api/tickets?view=nonsense")
    assert resp.status == 400 and set(await resp.json()) >= {"error", "message"}
    # The same conversation asking again reuses its ticket.
    again, created = await tickets.create_ticket("r-a", "socketio", "emergency", url=db_url)
    assert not created and again["id"] == first["id"] and again["priority"] == 0


async def test_concurrent_claim_has_exactly_one_winner(console, db_url, fake_rasa):
    app, new_client = console
    ticket = await open_ticket(db_url, fake_rasa)
    wang, li = await logged_in(new_client, "wang"), await logged_in(new_client, "li")
    responses = await asyncio.gather(post(wang, f"/api/tickets/{ticket['id']}/claim"),
                                     post(li, f"/api/tickets/{ticket['id']}/claim"))
    statuses = sorted(r.status for r in responses)
    assert statuses == [200, 409]
    winner = (await tickets.get_ticket(ticket["id"], db_url))["assignee"]
    loser = next(r for r in responses if r.status == 409)
    body = await loser.json()
    assert body["holder"] == winner and winner in body["message"]


async def test_reply_hand_back_and_close(console, db_url, fake_rasa):
    app, new_client = console
    ticket = await open_ticket(db_url, fake_rasa)
    tid = ticket["id"]
    wang, li = await logged_in(new_client, "wang"), await logged_in(new_client, "li")
    # Nobody may reply to a ticket they have not claimed.
    assert (await post(wang, f"/api/tickets/{tid}/messages", {"text": "您好"})).status == 409
    assert (await post(wang, f"/api/tickets/{tid}/claim")).status == 200
    assert (await post(li, f"/api/tickets/{tid}/messages", {"text": "我来"})).status == 409
    resp = await post(wang, f"/api/tickets/{tid}/messages", {"text": "您好，我是社区的小王"})
    assert resp.status == 201 and (await resp.json())["message"]["status"] == "delivered"
    assert fake_rasa.delivered[-1] == {"to": "resident-1", "text": "您好，我是社区的小王", "channel": "latest"}

    # Closing while holding the conversation hands it back first; when that fails the ticket stays open and the
    # conversation paused, so the resident is never left talking to nobody.
    fake_rasa.down = True
    resp = await post(wang, f"/api/tickets/{tid}/close", {"outcome": "已解答"})
    fake_rasa.down = False
    assert resp.status == 503 and "还没有结束" in (await resp.json())["message"]
    assert (await tickets.get_ticket(tid, db_url))["status"] == "active"
    assert (await tickets.get_ticket(tid, db_url))["handed_back_at"] is None
    assert fake_rasa.conversation("resident-1")["paused"] is True
    # Only the holder may close; without an outcome nothing happens, and the reason is said in words.
    assert (await post(li, f"/api/tickets/{tid}/close", {"outcome": "我来结束"})).status == 409
    resp = await post(wang, f"/api/tickets/{tid}/close", {"outcome": " "})
    assert resp.status == 400 and (await resp.json())["message"] == "请写一句处理结果再结束工单"
    assert fake_rasa.conversation("resident-1")["paused"] is True

    assert (await post(li, f"/api/tickets/{tid}/handback")).status == 409
    assert fake_rasa.executed == []
    assert (await post(wang, f"/api/tickets/{tid}/handback")).status == 200
    # The console asks Rasa to run the hand-back action on the resident's own channel, and nothing else.
    assert fake_rasa.executed == [{"conversation": "resident-1", "action": "action_handback",
                                   "output_channel": "latest"}]
    assert (await tickets.get_ticket(tid, db_url))["handed_back_at"]
    assert (await post(wang, f"/api/tickets/{tid}/messages", {"text": "还在吗"})).status == 409
    resp = await post(wang, f"/api/tickets/{tid}/close", {"outcome": ""})
    assert resp.status == 400 and (await resp.json())["error"] == "missing_field"
    resp = await post(wang, f"/api/tickets/{tid}/close", {"outcome": "已告知低保申请材料"})
    assert resp.status == 200 and (await resp.json())["ticket"]["status"] == "closed"
    closed = await (await wang.get("/api/tickets?view=closed")).json()
    assert [t["id"] for t in closed["tickets"]] == [tid]

    # Closing in one step: handed back and closed together.
    second = await open_ticket(db_url, fake_rasa, cid="resident-2")
    assert (await post(wang, f"/api/tickets/{second['id']}/claim")).status == 200
    resp = await post(wang, f"/api/tickets/{second['id']}/close", {"outcome": "已电话联系"})
    body = await resp.json()
    assert resp.status == 200 and body["ticket"]["status"] == "closed" and body["ticket"]["handed_back_at"]
    assert fake_rasa.executed[-1] == {"conversation": "resident-2", "action": "action_handback",
                                      "output_channel": "latest"}


async def test_reply_while_rasa_is_down_is_kept_and_retried(console, db_url, fake_rasa):
    app, new_client = console
    ticket = await open_ticket(db_url, fake_rasa)
    wang = await logged_in(new_client, "wang")
    await post(wang, f"/api/tickets/{ticket['id']}/claim")
    fake_rasa.down = True
    resp = await post(wang, f"/api/tickets/{ticket['id']}/messages", {"text": "请稍等"})
    body = await resp.json()
    assert resp.status == 202 and body["message"]["status"] == "failed" and body["warning"]
    detail = await (await wang.get(f"/api/tickets/{ticket['id']}")).json()
    assert detail["rasa_error"] and detail["staff_messages"][0]["status"] == "failed"
    # Handing back needs Rasa too: refused plainly, and the ticket keeps holding the conversation.
    resp = await post(wang, f"/api/tickets/{ticket['id']}/handback")
    assert resp.status == 503 and (await resp.json())["error"] == "rasa_unavailable"
    assert (await tickets.get_ticket(ticket["id"], db_url))["handed_back_at"] is None
    fake_rasa.down = False
    resp = await post(wang, f"/api/messages/{body['message']['id']}/retry")
    assert resp.status == 200 and (await resp.json())["message"]["status"] == "delivered"
    assert fake_rasa.delivered[-1]["text"] == "请稍等"


async def test_transfer_to_a_colleague(console, db_url, fake_rasa):
    app, new_client = console
    ticket = await open_ticket(db_url, fake_rasa)
    wang, li = await logged_in(new_client, "wang"), await logged_in(new_client, "li")
    await post(wang, f"/api/tickets/{ticket['id']}/claim")
    assert (await post(li, f"/api/tickets/{ticket['id']}/transfer", {"to": "li"})).status == 409
    assert (await post(wang, f"/api/tickets/{ticket['id']}/transfer", {"to": "nobody"})).status == 400
    resp = await post(wang, f"/api/tickets/{ticket['id']}/transfer", {"to": "li"})
    assert resp.status == 200 and (await resp.json())["ticket"]["assignee"] == "li"
    mine = await (await li.get("/api/tickets?view=mine")).json()
    assert [t["id"] for t in mine["tickets"]] == [ticket["id"]]


async def test_phone_is_masked_and_reveal_is_audited(console, db_url, fake_rasa):
    app, new_client = console
    ticket = await open_ticket(db_url, fake_rasa)
    fake_rasa.resident_says("resident-1", "请打我电话13812345678")
    wang = await logged_in(new_client, "wang")
    detail = await (await wang.get(f"/api/tickets/{ticket['id']}")).json()
    entry = next(e for e in detail["transcript"] if "电话" in e["text"])
    assert "13812345678" not in entry["text"] and "138****5678" in entry["text"]
    resp = await post(wang, f"/api/tickets/{ticket['id']}/reveal", {"index": entry["index"]})
    assert resp.status == 200 and "13812345678" in (await resp.json())["text"]
    entries = await auth.audit_entries(target=f"ticket:{ticket['id']}", url=db_url)
    assert [(e["user"], e["action"]) for e in entries] == [("wang", "reveal")]
    admin = await logged_in(new_client, "boss")
    audit = await (await admin.get("/api/admin/audit")).json()
    assert any(e["action"] == "reveal" and e["user"] == "wang" for e in audit["entries"])


async def test_json_errors_without_stack_traces(console, db_url, fake_rasa):
    app, new_client = console
    wang = await logged_in(new_client, "wang")
    cases = [
        await wang.post("/api/tickets/1/messages", data=b"{not json", headers={"X-CSRF-Token": wang.csrf,
                                                                             "Content-Type": "application/json"}),
        await post(wang, "/api/tickets/abc/claim"),
        await post(wang, "/api/tickets/999/claim"),
        await post(wang, "/api/tickets/1/messages", {"text": 5}),
        await wang.get("/api/no-such-thing"),
        await wang.post("/api/auth/login", data=b"\xff\xfe", headers={"X-CSRF-Token": wang.csrf,
                                                                     "Content-Type": "application/json"}),
    ]
    for resp in cases:
        assert 400 <= resp.status < 500, resp.status
        body = await resp.json()
        assert set(body) >= {"error", "message"}
        assert "Traceback" not in await resp.text()


async def test_health_and_openapi(console, fake_rasa):
    app, new_client = console
    client = await new_client()
    health = await (await client.get("/health")).json()
    assert health["database"] is True and health["rasa"] is True
    fake_rasa.down = True
    resp = await client.get("/health")
    assert resp.status == 200 and (await resp.json())["rasa"] is False
    doc = await (await client.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    for path in ("/api/auth/login", "/api/tickets", "/api/tickets/{ticket_id}/claim",
                 "/api/tickets/{ticket_id}/messages", "/api/tickets/{ticket_id}/handback",
                 "/api/tickets/{ticket_id}/close", "/api/tickets/{ticket_id}/reveal", "/api/events"):
        assert path in doc["paths"], path
    assert doc["paths"]["/api/admin/users"]["get"]["x-roles"] == ["admin"]


async def test_watcher_sees_resident_messages_and_repauses(db_url, fake_rasa):
    from bot.console.live import Hub
    from bot.rasa.http_api import RasaAPI
    from bot.handoff.watcher import Watcher

    ticket = await open_ticket(db_url, fake_rasa)
    hub = Hub()
    q = hub.subscribe()
    rasa = RasaAPI(fake_rasa.url, fake_rasa.token)
    watcher = Watcher(rasa, hub.publish, {"database": True, "rasa": True}, db_url)
    await watcher.tick()
    fake_rasa.resident_says("resident-1", "我家老人摔倒了")
    # Something (e.g. /restart) un-paused the conversation while the ticket is open.
    fake_rasa.conversation("resident-1")["paused"] = False
    await watcher.tick()
    seen = []
    while not q.empty():
        seen.append(q.get_nowait())
    assert ("message", {"ticket_id": ticket["id"], "text": "我家老人摔倒了"}) in [
        (k, {"ticket_id": d.get("ticket_id"), "text": d.get("text")}) for k, d in seen]
    assert fake_rasa.conversation("resident-1")["paused"] is True
    assert (await tickets.get_ticket(ticket["id"], db_url))["last_resident_text"] == "我家老人摔倒了"
    await rasa.close()


async def test_bookings_page_api_masks_reveals_and_cancels_with_notice(console, db_url, fake_rasa):
    import datetime as dt

    from bot.booking.catalogue import get_catalogue
    from bot.booking.models import Booking
    from bot.db import session_scope

    cat = get_catalogue()
    site = next(iter(cat.sites.values()))
    offering = site.offerings[0]
    start = dt.datetime.combine(dt.date.today() + dt.timedelta(days=3), dt.time(9, 0))
    async with session_scope(db_url) as s:
        s.add(Booking(code="YY0000000001", service_id=offering.service_id, mode=offering.mode, site_id=site.id,
                      start=start, end=start + dt.timedelta(minutes=30), person="张建国", address="幸福路1号",
                      phone_masked="138****8001", phone_hash="h", conversation_id="resident-b", status="booked",
                      idempotency_key="test-1"))
    fake_rasa.conversation("resident-b")
    wang = await logged_in(console[1], "wang")
    listing = await (await wang.get(f"/api/bookings?date={start.date().isoformat()}")).json()
    [row] = listing["bookings"]
    assert row["person"] == "张*国" and "幸福路" not in str(row)
    assert (await wang.get("/api/bookings?date=tomorrow")).status == 400

    resp = await post(wang, "/api/bookings/YY0000000001/reveal")
    assert (await resp.json())["booking"]["person"] == "张建国"
    assert [e["action"] for e in await auth.audit_entries(target="booking:YY0000000001", url=db_url)] == ["reveal"]

    assert (await post(wang, "/api/bookings/YY0000000001/cancel", {"reason": ""})).status == 400
    resp = await post(wang, "/api/bookings/YY0000000001/cancel", {"reason": "服务点停电"})
    body = await resp.json()
    assert resp.status == 200 and body["resident_notified"] is True and body["booking"]["status"] == "cancelled"
    notice = fake_rasa.delivered[-1]
    assert notice["to"] == "resident-b" and "服务点停电" in notice["text"] and "YY0000000001" in notice["text"]
    assert (await post(wang, "/api/bookings/YY0000000001/cancel", {"reason": "再取消"})).status == 409


async def test_applications_upload_search_and_history(console, db_url):
    from aiohttp import FormData

    from bot.settings import ROOT

    wang = await logged_in(console[1], "wang")
    # Importing needs the importer role (or admin): staff may search, not overwrite records.
    boss = await logged_in(console[1], "boss")
    bad = FormData()
    bad.add_field("file", "application_no,program\nX,Y\n".encode(), filename="bad.csv", content_type="text/csv")
    resp = await wang.post("/api/applications/import", data=bad, headers={"X-CSRF-Token": wang.csrf})
    assert resp.status == 403
    bad = FormData()
    bad.add_field("file", "application_no,program\nX,Y\n".encode(), filename="bad.csv", content_type="text/csv")
    resp = await boss.post("/api/applications/import", data=bad, headers={"X-CSRF-Token": boss.csrf})
    assert resp.status == 400 and (await resp.json())["error"] == "unreadable_file"

    csv_bytes = (ROOT / "bot/applications/demo/applications_demo.csv").read_bytes()
    form = FormData()
    form.add_field("file", csv_bytes, filename="demo.csv", content_type="text/csv")
    resp = await boss.post("/api/applications/import", data=form, headers={"X-CSRF-Token": boss.csrf})
    body = await resp.json()
    assert resp.status == 200 and body["imported"] and body["created"] >= 2, body

    found = await (await wang.get("/api/applications/mz2026000101")).json()
    assert found["application"]["applicant"] == "张*国"
    assert "11010519491231002X" not in str(found) and "13800138001" not in str(found)
    assert found["history"][0]["field"] == "created"
    assert (await wang.get("/api/applications/NOPE1")).status == 404


async def _all_stored_text(db_url: str) -> str:
    """Every value of every row of every table, as text: what someone with a copy of the database could read."""
    import sqlalchemy as sa

    from bot.db import session_scope
    from bot.models import metadata

    out = []
    async with session_scope(db_url) as s:
        for table in metadata.sorted_tables:
            for row in (await s.execute(sa.select(table))).all():
                out.extend(str(v) for v in row)
    return "\n".join(out)


async def test_a_booked_mobile_is_kept_encrypted_and_revealed_with_an_audit(console, db_url, fake_rasa, monkeypatch):
    """A booking made through the form (real actions, real database) keeps the mobile only encrypted; staff reveal
    it one booking at a time, each reveal in the audit log; an editor may not; a limit per hour holds."""
    import actions.booking as ab
    from bot.booking import bookings, contacts
    from bot.booking.models import Booking
    from bot.console import bookings_phone_api
    from bot.db import session_scope
    from tests.test_booking_actions import WED, Chat, book_bath_at_home

    monkeypatch.setattr(ab, "CLOCK", lambda: WED)
    chat = Chat()
    code = await book_bath_at_home(chat)  # the mobile 13812345678 is typed as its own message
    stored = await _all_stored_text(db_url)
    assert "138****5678" in stored
    for written in ("13812345678", "138 1234 5678", "138-1234-5678"):
        assert written not in stored
    cipher = await contacts.of_booking(code, db_url)
    assert cipher and contacts.number_of(cipher) == "13812345678"

    # A booking from before numbers were kept: only the mask, said plainly.
    view = await bookings.get(code, db_url)
    async with session_scope(db_url) as s:
        s.add(Booking(code="YY0000000002", service_id=view.service_id, mode=view.mode, site_id=view.site_id,
                      start=view.start, end=view.end, person="李四", phone_masked="139****0002", phone_hash="h",
                      status="booked", idempotency_key="old-2"))

    app, new_client = console
    wang = await logged_in(new_client, "wang")
    assert (await wang.post(f"/api/bookings/{code}/phone")).status == 403  # no CSRF token
    resp = await post(wang, f"/api/bookings/{code}/phone")
    body = await resp.json()
    assert resp.status == 200 and body["number"] == "13812345678" and body["message"] is None
    entries = await auth.audit_entries(target=f"booking:{code}", url=db_url)
    assert [(e["user"], e["action"]) for e in entries] == [("wang", "booking_phone_revealed")]

    old = await (await post(wang, "/api/bookings/YY0000000002/phone")).json()
    assert old["number"] is None and "没有保存完整号码" in old["message"] and "139****0002" in old["message"]
    assert (await post(wang, "/api/bookings/YY9999999999/phone")).status == 404

    zhao = await logged_in(new_client, "zhao")  # an editor: no bookings
    resp = await post(zhao, f"/api/bookings/{code}/phone")
    assert resp.status == 403 and "13812345678" not in await resp.text()
    assert len(await auth.audit_entries(target=f"booking:{code}", url=db_url)) == 1

    monkeypatch.setattr(bookings_phone_api, "PHONE_REVEALS_PER_HOUR", 3)  # wang has revealed 2 so far
    assert (await post(wang, f"/api/bookings/{code}/phone")).status == 200
    resp = await post(wang, f"/api/bookings/{code}/phone")
    assert resp.status == 429 and "13812345678" not in await resp.text()
    li = await logged_in(new_client, "li")  # the limit is per account
    assert (await (await post(li, f"/api/bookings/{code}/phone")).json())["number"] == "13812345678"


async def test_queue_cards_name_the_resident_only_from_records(console, db_url, fake_rasa):
    """A card names the resident and the community only where a booking or a verified application made in that
    conversation says so; a conversation without records gets nothing made up."""
    import datetime as dt

    from bot.applications.importer import import_csv
    from bot.applications.models import VerificationAttempt
    from bot.booking.models import Booking
    from bot.db import session_scope
    from bot.privacy import keyed_hash
    from tests.test_applications_import import ID_A

    booked = await open_ticket(db_url, fake_rasa, cid="resident-booked")
    verified = await open_ticket(db_url, fake_rasa, cid="resident-verified")
    unknown = await open_ticket(db_url, fake_rasa, cid="resident-unknown")
    start = dt.datetime.combine(dt.date.today() + dt.timedelta(days=3), dt.time(9, 0))
    async with session_scope(db_url) as s:
        s.add(Booking(code="YY0000000003", service_id="bath", mode="site", site_id="dayanggou", start=start,
                      end=start + dt.timedelta(hours=1), person="我本人，刘福贵", phone_masked="139****0003",
                      phone_hash="h", conversation_id="resident-booked", status="booked", idempotency_key="who-3"))
    await import_csv(("application_no,program,applicant_name,id_number,phone,status,submitted_at,updated_at,note\n"
                      f"GZ2026990003,低保,张建国,{ID_A},13912340003,公示中,2026-10-20,2026-11-02 09:30,\n").encode(),
                     url=db_url)
    async with session_scope(db_url) as s:
        s.add(VerificationAttempt(application_no="GZ2026990003", factor="phone", outcome="ok",
                                  conversation_hash=keyed_hash("resident-verified", "verification.audit"),
                                  created_at=dt.datetime.utcnow()))

    wang = await logged_in(console[1], "wang")
    queue = {t["id"]: t for t in (await (await wang.get("/api/tickets?view=waiting")).json())["tickets"]}
    assert queue[booked["id"]]["resident"] == {"source": "booking", "person": "刘*贵", "site": "大阳沟社区养老服务站"}
    assert queue[verified["id"]]["resident"] == {"source": "application", "person": "张*国", "site": ""}
    assert queue[unknown["id"]]["resident"] is None
    detail = await (await wang.get(f"/api/tickets/{booked['id']}")).json()
    assert detail["ticket"]["resident"]["person"] == "刘*贵"
