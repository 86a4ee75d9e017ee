"""Shared fixtures: a migrated database (SQLite, and PostgreSQL when HUIMIN_TEST_POSTGRES_URL is set),
and the running stack (real Rasa server, action server and console on free ports)."""
from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"


# In CI (.ci/run sets CI=true) a missing browser, PostgreSQL or Redis is a broken machine, not a reason to go
# green with those tests skipped; on a developer's machine the tests that need it skip and say why.
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip the calling test because something it needs is missing — or, in CI, fail it."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required in CI)", pytrace=False)
    pytest.skip(reason)


# `make test` runs the suite on two workers (pytest-xdist, `-n 2 --dist loadgroup --no-loadscope-reorder`). Every
# test that needs the running stack is in one group, so one stack on one worker serves them all; every other file is
# a group of its own, so a module's fixtures (a topology, a loaded model) are made once. The files that start Rasa
# processes of their own or load the model go first, so that none of them is left to run alone at the end.
START_FIRST = ("test_topology.py", "test_rasa_stories.py", "test_nlu_heldout.py", "test_rasa_model_load.py",
               "test_rasa_policy_windows.py")


def _work_group(item) -> str:
    return "stack" if "stack" in item.fixturenames else item.nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_work_group(item)))
    if config.getoption("dist", "no") == "loadgroup":
        def order(item):
            group = _work_group(item)
            name = group.rsplit("/", 1)[-1]
            return (0,) if group == "stack" else (1, START_FIRST.index(name)) if name in START_FIRST else (2,)
        items.sort(key=order)  # stable: each file's tests keep their order


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# (server URL, name) of every database the tests created; dropped when the session ends, since the PostgreSQL
# server outlives every run (CI runs on the same machine again and again).
_SCRATCH_DATABASES = []


def _postgres_database(base_url: str) -> str:
    """A fresh database on the test server, so runs never see each other's rows."""
    import sqlalchemy as sa

    name = f"huimin_test_{uuid.uuid4().hex[:10]}"
    server = base_url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0]
    engine = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    _SCRATCH_DATABASES.append((server, name))
    return base_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session", autouse=True)
def _drop_scratch_databases():
    yield
    from bot.prod.cli import drop_postgres_database

    for server, name in _SCRATCH_DATABASES:
        try:
            drop_postgres_database(server, name)
        except Exception as exc:  # a leftover database is untidy, not a test failure
            print(f"could not drop test database {name}: {exc}")


# The PostgreSQL variant runs where HUIMIN_TEST_POSTGRES_URL is set (and always in CI, where it fails without it);
# `-m "not postgres"` leaves it out.
DB_KINDS = ["sqlite"] + ([pytest.param("postgres", marks=pytest.mark.postgres)]
                         if os.environ.get("HUIMIN_TEST_POSTGRES_URL") or IN_CI else [])


# Migrating takes seconds (Alembic, every capability's branch) and hundreds of tests want a fresh migrated
# database: each kind is migrated once per session into a template, and every test gets a copy of it.
_TEMPLATES: Dict[str, str] = {}


def _migrated_sqlite(path: Path, tmp_path_factory) -> str:
    import sqlite3

    from bot import db

    if "sqlite" not in _TEMPLATES:
        template = tmp_path_factory.mktemp("template") / "huimin.db"
        db.migrate(f"sqlite+aiosqlite:///{template}")
        with sqlite3.connect(template) as conn:  # everything in the main file, so copying it is enough
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _TEMPLATES["sqlite"] = str(template)
    shutil.copyfile(_TEMPLATES["sqlite"], path)
    return f"sqlite+aiosqlite:///{path}"


def _clone_postgres(template_url: str) -> str:
    import sqlalchemy as sa

    from bot import db

    server, template = db.to_sync_url(template_url).replace("+psycopg2", "").rsplit("/", 1)
    name = f"huimin_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    engine.dispose()
    _SCRATCH_DATABASES.append((server, name))
    return db.to_async_url(f"{server}/{name}")


def _migrated_postgres(base_url: str) -> str:
    """PostgreSQL: migrated once per session into a template. Tests share one copy of it, emptied before each
    test (TRUNCATE … RESTART IDENTITY): creating and dropping a database per test costs seconds each on a busy
    server. Should a migration ever seed rows, each test gets its own copy of the template instead."""
    import sqlalchemy as sa

    from bot import db

    def tables_of(conn):
        return [r[0] for r in conn.execute(sa.text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"))]

    if "postgres" not in _TEMPLATES:
        template = db.to_async_url(_postgres_database(base_url))
        db.migrate(template)
        engine = sa.create_engine(db.to_sync_url(template))
        with engine.connect() as conn:
            seeded = [n for n in tables_of(conn) if conn.execute(sa.text(f'SELECT count(*) FROM "{n}"')).scalar()]
        engine.dispose()
        _TEMPLATES["postgres"] = template
        _TEMPLATES["shared"] = "" if seeded else _clone_postgres(template)
    if not _TEMPLATES["shared"]:
        return _clone_postgres(_TEMPLATES["postgres"])
    url = _TEMPLATES["shared"]
    engine = sa.create_engine(db.to_sync_url(url))
    try:
        with engine.begin() as conn:
            tables = tables_of(conn)
            if tables:
                conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{n}"' for n in tables) + " RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=DB_KINDS)
def db_url(request, tmp_path, tmp_path_factory, monkeypatch) -> Iterator[str]:
    """A migrated, empty database; also made the default for code that calls get_settings()."""
    from bot import db

    if request.param == "sqlite":
        url = _migrated_sqlite(tmp_path / "huimin.db", tmp_path_factory)
    else:
        if not os.environ.get("HUIMIN_TEST_POSTGRES_URL"):
            unavailable("PostgreSQL is not configured (HUIMIN_TEST_POSTGRES_URL, set by .ci/run when it answers)")
        url = _migrated_postgres(os.environ["HUIMIN_TEST_POSTGRES_URL"])
    monkeypatch.setenv("HUIMIN_DATABASE_URL", url)
    yield url
    asyncio.new_event_loop().run_until_complete(db.dispose_engines())


@pytest.fixture
def sqlite_url(tmp_path, tmp_path_factory, monkeypatch) -> str:
    url = _migrated_sqlite(tmp_path / "huimin.db", tmp_path_factory)
    monkeypatch.setenv("HUIMIN_DATABASE_URL", url)
    return url


@dataclass
class Stack:
    rasa_url: str
    actions_url: str
    console_url: str
    token: str
    database_url: str
    tracker_db_url: str
    env: Dict[str, str]
    log_dir: Path
    model: Path  # the model archive the Rasa server was started with

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))

    def settle_logs(self, timeout: float = 60) -> None:
        """Return once everything the Rasa server and the action server logged so far is in their log files.

        Each is made to log a record of its own after the work under test — the action server an action that does
        not exist (its name unique to this call), Rasa a WeChat URL check with a bad signature — and the files are
        read until both records are there. A check for what is *not* in the logs is meaningful only after this."""
        import json
        import time
        import urllib.error
        import urllib.request

        marker = f"log_marker_{uuid.uuid4().hex[:12]}"
        rejected = "WeChat push rejected"
        before = self.logs().count(rejected)
        from bot.settings import get_settings
        from bot.stack.actions_server import TOKEN_HEADER

        call = urllib.request.Request(
            f"{self.actions_url}/webhook",
            data=json.dumps({"next_action": marker, "tracker": {}, "domain": {}}).encode(),
            headers={"Content-Type": "application/json", TOKEN_HEADER: get_settings().actions_token})
        check = f"{self.rasa_url}/webhooks/wechat/webhook?signature={'0' * 40}&timestamp=1&nonce=1&echostr=x"
        for request, expected in ((call, 404), (check, 403)):
            try:
                urllib.request.urlopen(request, timeout=30)
                raise AssertionError(f"{request} was accepted")
            except urllib.error.HTTPError as exc:
                assert exc.code == expected, (request, exc.code)
        deadline = time.monotonic() + timeout
        while not (marker in (logs := self.logs()) and logs.count(rejected) > before):
            assert time.monotonic() < deadline, f"the servers' logs did not catch up in {timeout} s"
            time.sleep(0.1)


# WeChat test account: the channel under test and wechatpy acting as the WeChat server share these.
WECHAT_TEST = {"token": "huimin-test-token", "appid": "wx0123456789abcdef", "secret": "test-app-secret",
               "aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}


@pytest.fixture(scope="session")
def wechat_api():
    """The fake WeChat server API (tests/fakes/wechat_api.py), started before the stack that calls it."""
    from tests.fakes.wechat_api import FakeWeChatAPI

    api = FakeWeChatAPI(appid=WECHAT_TEST["appid"], secret=WECHAT_TEST["secret"]).start()
    yield api
    api.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory, wechat_api) -> Iterator[Stack]:
    """The whole product on free ports with its own databases; one per test session."""
    from bot.settings import get_settings
    from bot.stack import processes
    from bot.stack.training import ensure_model

    work = tmp_path_factory.mktemp("stack")
    ports = {"HUIMIN_RASA_PORT": free_port(), "HUIMIN_ACTIONS_PORT": free_port(), "HUIMIN_CONSOLE_PORT": free_port()}
    env = {k: str(v) for k, v in ports.items()}
    env.update({
        "HUIMIN_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'huimin.db'}",
        "HUIMIN_TRACKER_DB_URL": f"sqlite:///{work / 'tracker.db'}",
        "HUIMIN_RASA_TOKEN": "test-token",
        "HUIMIN_RASA_URL": f"http://127.0.0.1:{ports['HUIMIN_RASA_PORT']}",
        # One Rasa process: the two-process layout is tested on its own (tests/test_stack_balancer.py); here a
        # second process would share the developer's Redis database with `make run` and load the model twice.
        "HUIMIN_RASA_PROCESSES": "1",
        "HUIMIN_SECRET_KEY": "test-secret",
        "HUIMIN_HASH_KEY": "test-hash-key",
        "HUIMIN_WECHAT_API_BASE": wechat_api.base_url,
        "HUIMIN_WECHAT_TOKEN": WECHAT_TEST["token"],
        "HUIMIN_WECHAT_APPID": WECHAT_TEST["appid"],
        "HUIMIN_WECHAT_SECRET": WECHAT_TEST["secret"],
        "HUIMIN_WECHAT_AES_KEY": WECHAT_TEST["aes_key"],
        # The editor's tests change content through the running stack: they get a copy of knowledge/, and
        # models trained from the editor go to the session's own folder, never the repository's.
        "HUIMIN_KNOWLEDGE_DIR": str(work / "knowledge"),
        "HUIMIN_MODELS_DIR": str(work / "models"),
        "HUIMIN_TRAINING_WORKSPACE": str(work / "training"),
    })
    shutil.copytree(ROOT / "knowledge", work / "knowledge")
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    # HUIMIN_TEST_MODEL: an already trained model archive — a developer's shortcut while data/ or knowledge/ is
    # being edited (every change to them would otherwise retrain first). Unset, the checkout's model is used,
    # trained if needed, as in CI.
    model = Path(os.environ["HUIMIN_TEST_MODEL"]) if os.environ.get("HUIMIN_TEST_MODEL") else ensure_model()
    from bot.db import migrate
    migrate(env["HUIMIN_DATABASE_URL"])
    log_dir = work / "log"
    procs = processes.start(model, get_settings(), log_dir=log_dir)
    try:
        for p in procs:
            if not processes.wait_healthy(p.health_url, 600, p.popen):  # loading is slow on a busy 2-core box
                logs = "\n".join(f.read_text(errors="replace")[-3000:] for f in log_dir.glob("*.log"))
                raise RuntimeError(f"{p.name} did not start:\n{logs}")
        s = get_settings()
        yield Stack(
            rasa_url=s.rasa_url, actions_url=f"http://127.0.0.1:{s.actions_port}",
            console_url=f"http://127.0.0.1:{s.console_port}", token=s.rasa_token,
            database_url=env["HUIMIN_DATABASE_URL"], tracker_db_url=env["HUIMIN_TRACKER_DB_URL"],
            env=dict(os.environ), log_dir=log_dir, model=model)
    finally:
        processes.stop(procs)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        unavailable("Debian chromium is not installed (make system-deps)")
    return path


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def catalogue_without_location(folder: Path, *site_ids: str) -> Path:
    """A copy of the booking catalogue (services, sites) in ``folder`` whose given sites have no ``location``."""
    for part in ("services", "sites"):
        shutil.copytree(ROOT / "knowledge" / part, folder / part)
    for site_id in site_ids:
        path = folder / "sites" / f"{site_id}.yml"
        path.write_text("\n".join(line for line in path.read_text(encoding="utf-8").splitlines()
                                  if not line.startswith("location:")) + "\n", encoding="utf-8")
    return folder
