"""Retraining from the editor against the running stack. A training run started through the console API
completes, the new model is loaded into the running Rasa server (PUT /model) and understands a newly added
alias and example question; a run that fails (a broken config in a temporary copy of the project) leaves the
served model alone and tells the editor why. Slow: it trains a real model."""
from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.console import auth
from bot.console.app import create_app
from bot.settings import Settings
from tests.editor_helpers import PASSWORD, Editor, ask, eventually

pytestmark = [pytest.mark.stack, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parent.parent
NEW_ALIAS = "阿福补助金"
NEW_QUESTION = "阿福补助金要带哪些材料"


async def rasa(stack, method: str, path: str, body=None) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, f"{stack.rasa_url}{path}", params={"token": stack.token}, json=body,
                                timeout=aiohttp.ClientTimeout(total=300)) as r:
            assert r.status in (200, 204), await r.text()
            return await r.json() if r.status == 200 else {}


def program_entities(parsed: dict):
    return {e["value"] for e in parsed.get("entities", []) if e["entity"] == "program"}


async def wait_for_job(get, job_id: int, timeout: float = 1800) -> dict:
    async def done():
        job = (await get(job_id))["job"]
        return job if job["status"] != "running" else None
    job = await eventually(done, timeout=timeout, interval=3)
    assert job, "the training run did not finish"
    return job


async def test_training_from_the_editor_serves_a_model_that_knows_new_words(stack):
    editor = await Editor.login(stack)
    # /status names the model file only; the stack fixture serves it from the repository's models/.
    original_model = str(ROOT / "models" / Path((await rasa(stack, "GET", "/status"))["model_file"]).name)
    assert Path(original_model).exists()
    saved = None
    try:
        before = await rasa(stack, "POST", "/model/parse", {"text": NEW_QUESTION})
        assert "dibao" not in program_entities(before), before

        entry = await editor.call("GET", "/api/editor/entries/program/dibao")
        data = entry["data"]
        data["aliases"].append(NEW_ALIAS)
        data["example_questions"]["materials"].append(NEW_QUESTION)
        saved = await editor.call("PUT", "/api/editor/entries/program/dibao",
                                  {"data": data, "version": entry["version"]})
        assert saved["needs_retraining"] is True
        status = await editor.call("GET", "/api/editor/training")
        assert status["needs_retraining"] is True, status

        job = (await editor.call("POST", "/api/editor/training", {}, expect=202))["job"]
        busy = await editor.call("POST", "/api/editor/training", {}, expect=409)
        assert busy["error"] == "training_running" and busy["job"]["id"] == job["id"]

        job = await wait_for_job(lambda i: editor.call("GET", f"/api/editor/training/{i}"), job["id"])
        assert job["status"] == "succeeded", job["error"] or job["log"][-3000:]
        assert job["progress"] == 100 and "MODEL_PATH=" in job["log"]
        served = (await rasa(stack, "GET", "/status"))["model_file"]
        assert Path(served).name == Path(job["model"]).name != Path(original_model).name

        after = await rasa(stack, "POST", "/model/parse", {"text": NEW_QUESTION})
        assert "dibao" in program_entities(after), after
        assert after["intent"]["name"] == "ask_materials", after["intent"]
        answer = "\n".join(await ask(stack.rasa_url, NEW_QUESTION))
        assert entry["data"]["aspects"]["materials"].splitlines()[0] in answer, answer
        status = await editor.call("GET", "/api/editor/training")
        assert status["served_fingerprint"] and status["served_fingerprint"] in Path(job["model"]).name
        assert status["pending_changes"] == []  # the saved alias is in the served model now
    finally:
        # Leave the session's stack as it was for the other tests: content and model.
        if saved is not None:
            await editor.call("POST", "/api/editor/entries/program/dibao/restore",
                              {"revision_id": saved["revision"]["id"], "side": "before"})
        await rasa(stack, "PUT", "/model", {"model_file": original_model})
        await editor.close()


@pytest.fixture
def broken_project(tmp_path) -> Path:
    """The project's training inputs with a config.yml that names a component that does not exist."""
    root = tmp_path / "project"
    (root / "bot").mkdir(parents=True)
    for rel in ("bot/domain", "bot/nlu", "data"):
        (root / rel).symlink_to(ROOT / rel)
    config = (ROOT / "config.yml").read_text(encoding="utf-8")
    (root / "config.yml").write_text(config.replace("  - name: DIETClassifier", "  - name: NoSuchClassifier"),
                                     encoding="utf-8")
    return root


async def test_failed_training_keeps_the_served_model_and_says_why(stack, broken_project, tmp_path, monkeypatch,
                                                                   db_url):
    monkeypatch.setenv("HUIMIN_TRAINING_ROOT", str(broken_project))
    monkeypatch.setenv("HUIMIN_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HUIMIN_TRAINING_WORKSPACE", str(tmp_path / "training"))
    await auth.create_user("zhao", "editor", PASSWORD, db_url)
    settings = Settings(database_url=db_url, rasa_url=stack.rasa_url, rasa_token=stack.token,
                        secret_key="test-secret", knowledge_dir=Path(stack.env["HUIMIN_KNOWLEDGE_DIR"]))
    client = TestClient(TestServer(create_app(settings, watch_interval=0)))
    await client.start_server()
    try:
        token = (await (await client.get("/api/auth/csrf")).json())["csrf_token"]
        resp = await client.post("/api/auth/login", json={"username": "zhao", "password": PASSWORD},
                                 headers={"X-CSRF-Token": token})
        csrf = (await resp.json())["csrf_token"]
        served_before = (await rasa(stack, "GET", "/status"))["model_file"]

        resp = await client.post("/api/editor/training", json={}, headers={"X-CSRF-Token": csrf})
        assert resp.status == 202
        job_id = (await resp.json())["job"]["id"]

        async def get(i):
            return await (await client.get(f"/api/editor/training/{i}")).json()
        job = await wait_for_job(get, job_id, timeout=900)
        assert job["status"] == "failed"
        assert "正在使用的模型没有变化" in job["error"]
        assert "NoSuchClassifier" in job["log"], job["log"][-3000:]
        assert (await rasa(stack, "GET", "/status"))["model_file"] == served_before
        assert not list((tmp_path / "models").glob("*.tar.gz"))
        assert any(t.strip() for t in await ask(stack.rasa_url, "办低保要带什么材料"))
        # The next run may start: the failed one no longer holds the lock.
        listing = await (await client.get("/api/editor/training")).json()
        assert listing["current"] is None and listing["recent"][0]["status"] == "failed"
    finally:
        await client.close()
