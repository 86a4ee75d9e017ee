"""The editor's JSON API through the real console app (aiohttp test client), a real migrated database and a
temporary copy of knowledge/: permissions and CSRF, save, problems next to fields, conflict, preview rendered by
bot.knowledge.answers, review, history and restore, OpenAPI."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.console import auth
from bot.console.app import create_app
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse 9"
DIBAO = "/api/editor/entries/program/dibao"


@pytest.fixture
def kdir(tmp_path, monkeypatch) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", target)
    monkeypatch.setenv("HUIMIN_KNOWLEDGE_DIR", str(target))
    return target


@pytest.fixture
async def console(db_url, kdir):
    for name, role in (("wang", "staff"), ("zhao", "editor"), ("qian", "editor"), ("boss", "admin")):
        await auth.create_user(name, role, PASSWORD, db_url)
    # Rasa is not needed here: a closed port makes the training status say it cannot reach it.
    settings = Settings(database_url=db_url, rasa_url="http://127.0.0.1:9", rasa_token="t", secret_key="test-secret",
                        knowledge_dir=kdir)
    server = TestServer(create_app(settings, watch_interval=0))
    clients = []

    async def client_for(name=None) -> TestClient:
        c = TestClient(server)
        await c.start_server()
        clients.append(c)
        token = (await (await c.get("/api/auth/csrf")).json())["csrf_token"]
        c.csrf = token
        if name:
            resp = await c.post("/api/auth/login", json={"username": name, "password": PASSWORD},
                                headers={"X-CSRF-Token": token})
            assert resp.status == 200
            c.csrf = (await resp.json())["csrf_token"]
        return c

    yield client_for
    for c in reversed(clients):
        await c.close()


def put(c, path, body):
    return c.put(path, json=body, headers={"X-CSRF-Token": c.csrf})


def post(c, path, body):
    return c.post(path, json=body, headers={"X-CSRF-Token": c.csrf})


async def test_only_editors_and_admins_may_edit(console):
    anon, staff, editor, admin = (await console(None), await console("wang"), await console("zhao"),
                                  await console("boss"))
    assert (await anon.get("/api/editor/entries")).status == 401
    resp = await staff.get("/api/editor/entries")
    assert resp.status == 403 and (await resp.json())["error"] == "forbidden"
    entry = await (await editor.get(DIBAO)).json()
    resp = await put(staff, DIBAO, {"data": entry["data"], "version": entry["version"]})
    assert resp.status == 403
    assert (await staff.get("/editor", allow_redirects=False)).status == 403
    assert (await anon.get("/editor", allow_redirects=False)).status == 302
    assert (await editor.get("/editor")).status == 200
    assert (await admin.get("/api/editor/entries")).status == 200


async def test_save_needs_csrf_and_a_version(console, kdir):
    editor = await console("zhao")
    entry = await (await editor.get(DIBAO)).json()
    resp = await editor.put(DIBAO, json={"data": entry["data"], "version": entry["version"]})
    assert resp.status == 403 and (await resp.json())["error"] == "csrf"
    resp = await put(editor, DIBAO, {"data": entry["data"]})
    assert resp.status == 400 and (await resp.json())["field"] == "version"
    assert (await editor.get("/api/editor/entries/nothing/dibao")).status == 404
    resp = await editor.put(DIBAO, data=b"{not json", headers={"X-CSRF-Token": editor.csrf,
                                                                "Content-Type": "application/json"})
    assert resp.status == 400 and "message" in await resp.json()


async def test_list_filters_and_search(console):
    editor = await console("zhao")
    everything = (await (await editor.get("/api/editor/entries")).json())["entries"]
    kinds = {e["kind"] for e in everything}
    assert {"program", "service_item", "service", "site", "locality"} <= kinds
    unverified = (await (await editor.get("/api/editor/entries?status=unverified")).json())["entries"]
    assert unverified and all(e["status"] == "unverified" for e in unverified)
    found = (await (await editor.get("/api/editor/entries?q=吃低保")).json())["entries"]
    assert [e["id"] for e in found] == ["dibao"]  # an alias finds its programme
    assert (await editor.get("/api/editor/entries?status=maybe")).status == 400


async def test_preview_save_history_and_restore(console, kdir):
    editor = await console("zhao")
    entry = await (await editor.get(DIBAO)).json()
    data = entry["data"]
    data["aspects"]["materials"] = "只要带身份证和户口簿（编辑器测试）。"

    resp = await post(editor, DIBAO + "/preview", {"data": data})
    preview = await resp.json()
    assert resp.status == 200, preview
    materials = next(a for a in preview["answers"] if a["aspect"] == "materials")
    assert "只要带身份证和户口簿（编辑器测试）。" in materials["text"]
    assert preview["problems"] == [] and preview["needs_retraining"] is False
    assert "编辑器测试" not in (kdir / "programs" / "dibao.yml").read_text(encoding="utf-8")  # preview writes nothing

    resp = await put(editor, DIBAO, {"data": data, "version": entry["version"]})
    saved = await resp.json()
    assert resp.status == 200, saved
    assert "只要带身份证和户口簿（编辑器测试）。" in (kdir / "programs" / "dibao.yml").read_text(encoding="utf-8")
    history = (await (await editor.get(DIBAO + "/history")).json())["revisions"]
    assert len(history) == 1 and history[0]["user"] == "zhao"
    assert "+    只要带身份证和户口簿（编辑器测试）。" in history[0]["diff"]

    resp = await post(editor, DIBAO + "/restore", {"revision_id": history[0]["id"], "side": "before",
                                                    "version": saved["entry"]["version"]})
    assert resp.status == 200, await resp.json()
    assert "编辑器测试" not in (kdir / "programs" / "dibao.yml").read_text(encoding="utf-8")
    history = (await (await editor.get(DIBAO + "/history")).json())["revisions"]
    assert [h["action"] for h in history] == ["restore", "save"]


async def test_problems_come_back_next_to_fields(console, kdir):
    editor = await console("zhao")
    entry = await (await editor.get(DIBAO)).json()
    data = dict(entry["data"], short_name="")
    data["sources"][0]["date"] = "2021-13-45"
    resp = await put(editor, DIBAO, {"data": data, "version": entry["version"]})
    body = await resp.json()
    assert resp.status == 422 and body["error"] == "invalid"
    fields = {p["field"] for p in body["problems"]}
    assert "short_name" in fields
    assert any(f and f.startswith("sources") for f in fields), body["problems"]


async def test_two_editors_saving_the_same_entry_conflict(console, kdir):
    zhao, qian = await console("zhao"), await console("qian")
    a = await (await zhao.get(DIBAO)).json()
    b = await (await qian.get(DIBAO)).json()
    a["data"]["summary"] += "\n赵加的一句。"
    b["data"]["summary"] += "\n钱加的一句。"
    assert (await put(zhao, DIBAO, {"data": a["data"], "version": a["version"]})).status == 200
    resp = await put(qian, DIBAO, {"data": b["data"], "version": b["version"]})
    body = await resp.json()
    assert resp.status == 409 and body["error"] == "conflict"
    assert "赵加的一句" in body["their_change"]["diff"]
    assert body["their_change"]["changes"][0]["user"] == "zhao"
    text = (kdir / "programs" / "dibao.yml").read_text(encoding="utf-8")
    assert "赵加的一句" in text and "钱加的一句" not in text


async def test_mark_reviewed(console, kdir):
    editor = await console("zhao")
    resp = await post(editor, "/api/editor/entries/program/tekun/review", {"status": "unverified"})
    body = await resp.json()
    assert resp.status == 200, body
    assert body["entry"]["review"]["reviewed_by"] == "zhao"
    assert body["entry"]["review"]["status"] == "unverified"
    resp = await post(editor, "/api/editor/entries/program/tekun/review", {"status": "perhaps"})
    assert resp.status == 400


async def test_openapi_documents_the_editor_api(console):
    editor = await console("zhao")
    spec = await (await editor.get("/api/openapi.json")).json()
    op = spec["paths"]["/api/editor/entries/{kind}/{entry_id}"]["put"]
    assert op["x-roles"] == ["editor"] and "requestBody" in op
    assert "/api/editor/training" in spec["paths"]
    status = await (await editor.get("/api/editor/training")).json()
    assert status["served_model"] is None and "Rasa" in status["reason"]
