"""Retraining from the editor against the running stack. A training run started through the console API
completes, the new model is loaded into the running Rasa server (PUT /model) and understands a newly added
alias and example question; a run that fails (a broken config) leaves the served model alone and tells the
editor why.

The runs train a *tiny project* — the real domain, NLU components and knowledge base, only the knowledge and
everyday intents' hand-written examples and rules, few epochs — through a console in this process pointed at
it (HUIMIN_TRAINING_ROOT). What is tested is the editor's retraining (export, fingerprint, the training job,
loading the model), not the model's quality, which a full training would take minutes to give."""
from __future__ import annotations

import contextlib
import re
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.console import auth
from bot.console.app import create_app
from bot.settings import Settings
from tests.editor_helpers import PASSWORD, ask, eventually

pytestmark = [pytest.mark.stack, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parent.parent
NEW_ALIAS = "阿福补助金"
NEW_QUESTION = "阿福补助金要带哪些材料"
# The tiny project's hand-written training data (the knowledge base's own questions are exported as always).
TINY_DATA = ("data/nlu/knowledge.yml", "data/nlu/core.yml", "data/rules/knowledge.yml", "data/rules/core.yml")
TINY_EPOCHS = {"DIETClassifier": 20, "TEDPolicy": 1}


def tiny_config() -> str:
    """config.yml as it is, with few epochs for the components that train for long."""
    config = (ROOT / "config.yml").read_text(encoding="utf-8")
    for component, epochs in TINY_EPOCHS.items():
        config, found = re.subn(rf"(- name: {component}\n(?:[ \t]+[^\n]*\n)*?[ \t]+epochs: )\d+",
                                rf"\g<1>{epochs}", config)
        assert found == 1, f"no epochs setting of {component} in config.yml"
    return config


def _project(root: Path, config: str) -> Path:
    (root / "bot").mkdir(parents=True)
    for rel in ("bot/domain", "bot/nlu") + TINY_DATA:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(ROOT / rel)
    (root / "config.yml").write_text(config, encoding="utf-8")
    return root


@pytest.fixture
def tiny_project(tmp_path) -> Path:
    return _project(tmp_path / "tiny", tiny_config())


@pytest.fixture
def broken_project(tmp_path) -> Path:
    """The tiny project with a config.yml that names a component that does not exist."""
    broken = tiny_config().replace("  - name: DIETClassifier", "  - name: NoSuchClassifier")
    return _project(tmp_path / "broken", broken)


@contextlib.asynccontextmanager
async def editor_console(stack, db_url: str, project: Path, tmp_path: Path, monkeypatch):
    """A console in this process on the stack's Rasa server, knowledge and tracker store, training ``project`` into
    the test's own folder; yields ``call(method, path, body=None, expect=200)`` of a logged-in editor (its
    ``client``, the aiohttp test client, carries the editor's cookies)."""
    monkeypatch.setenv("HUIMIN_TRAINING_ROOT", str(project))
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
        assert resp.status == 200, await resp.text()
        csrf = (await resp.json())["csrf_token"]

        async def call(method: str, path: str, body=None, expect: int = 200) -> dict:
            headers = {"X-CSRF-Token": csrf} if method != "GET" else {}
            resp = await client.request(method, path, json=body, headers=headers)
            data = await resp.json()
            assert resp.status == expect, (resp.status, data)
            return data
        call.client = client
        yield call
    finally:
        await client.close()


async def rasa(stack, method: str, path: str, body=None) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, f"{stack.rasa_url}{path}", params={"token": stack.token}, json=body,
                                timeout=aiohttp.ClientTimeout(total=300)) as r:
            assert r.status in (200, 204), await r.text()
            return await r.json() if r.status == 200 else {}


def program_entities(parsed: dict):
    return {e["value"] for e in parsed.get("entities", []) if e["entity"] == "program"}


async def wait_for_job(get, job_id: int, timeout: float = 1200) -> dict:
    async def done():
        job = (await get(job_id))["job"]
        return job if job["status"] != "running" else None
    job = await eventually(done, timeout=timeout, interval=2)
    assert job, "the training run did not finish"
    return job


def test_the_tiny_config_is_the_real_one_with_fewer_epochs():
    real, tiny = (ROOT / "config.yml").read_text(encoding="utf-8"), tiny_config()
    assert re.sub(r"epochs: \d+", "epochs: N", real) == re.sub(r"epochs: \d+", "epochs: N", tiny)
    assert sorted(map(int, re.findall(r"epochs: (\d+)", tiny))) == sorted(TINY_EPOCHS.values())


async def test_training_from_the_editor_serves_a_model_that_knows_new_words(stack, sqlite_url, tiny_project,
                                                                          tmp_path, monkeypatch):
    # /status names the model file only: the one the stack fixture serves.
    original_model = str(Path(stack.model))
    assert Path((await rasa(stack, "GET", "/status"))["model_file"]).name == Path(original_model).name
    saved = None
    async with editor_console(stack, sqlite_url, tiny_project, tmp_path, monkeypatch) as call:
        try:
            before = await rasa(stack, "POST", "/model/parse", {"text": NEW_QUESTION})
            assert "dibao" not in program_entities(before), before

            entry = await call("GET", "/api/editor/entries/program/dibao")
            data = entry["data"]
            data["aliases"].append(NEW_ALIAS)
            data["example_questions"]["materials"].append(NEW_QUESTION)
            saved = await call("PUT", "/api/editor/entries/program/dibao",
                               {"data": data, "version": entry["version"]})
            assert saved["needs_retraining"] is True
            status = await call("GET", "/api/editor/training")
            assert status["needs_retraining"] is True, status

            job = (await call("POST", "/api/editor/training", {}, expect=202))["job"]
            busy = await call("POST", "/api/editor/training", {}, expect=409)
            assert busy["error"] == "training_running" and busy["job"]["id"] == job["id"]

            job = await wait_for_job(lambda i: call("GET", f"/api/editor/training/{i}"), job["id"])
            assert job["status"] == "succeeded", job["error"] or job["log"][-3000:]
            assert job["progress"] == 100 and "MODEL_PATH=" in job["log"]
            served = (await rasa(stack, "GET", "/status"))["model_file"]
            assert Path(served).name == Path(job["model"]).name != Path(original_model).name

            after = await rasa(stack, "POST", "/model/parse", {"text": NEW_QUESTION})
            assert "dibao" in program_entities(after), after
            assert after["intent"]["name"] == "ask_materials", after["intent"]
            answer = "\n".join(await ask(stack.rasa_url, NEW_QUESTION))
            assert entry["data"]["aspects"]["materials"].splitlines()[0] in answer, answer
            status = await call("GET", "/api/editor/training")
            assert status["served_fingerprint"] and status["served_fingerprint"] in Path(job["model"]).name
            assert status["pending_changes"] == []  # the saved alias is in the served model now
        finally:
            # Leave the session's stack as it was for the other tests: content and model.
            if saved is not None:
                await call("POST", "/api/editor/entries/program/dibao/restore",
                           {"revision_id": saved["revision"]["id"], "side": "before"})
            await rasa(stack, "PUT", "/model", {"model_file": original_model})


async def test_failed_training_keeps_the_served_model_and_says_why(stack, broken_project, tmp_path, monkeypatch,
                                                                   sqlite_url):
    async with editor_console(stack, sqlite_url, broken_project, tmp_path, monkeypatch) as call:
        served_before = (await rasa(stack, "GET", "/status"))["model_file"]
        job_id = (await call("POST", "/api/editor/training", {}, expect=202))["job"]["id"]
        job = await wait_for_job(lambda i: call("GET", f"/api/editor/training/{i}"), job_id, timeout=900)
        assert job["status"] == "failed"
        assert "正在使用的模型没有变化" in job["error"]
        assert "NoSuchClassifier" in job["log"], job["log"][-3000:]
        assert (await rasa(stack, "GET", "/status"))["model_file"] == served_before
        assert not list((tmp_path / "models").glob("*.tar.gz"))
        assert any(t.strip() for t in await ask(stack.rasa_url, "办低保要带什么材料"))
        # The next run may start: the failed one no longer holds the lock.
        listing = await call("GET", "/api/editor/training")
        assert listing["current"] is None and listing["recent"][0]["status"] == "failed"
