"""Demo data cannot go live: `python -m bot prod run` (what `make run-prod` runs) and every container (whose
entrypoint is `python -m bot.demo_guard --exec ...`) refuse to start while demo entries are present, unless
HUIMIN_ALLOW_DEMO_DATA=1; `kb check --production` lists the entries a bureau must replace."""
from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from bot.demo_guard import EXIT_REFUSED, demo_entries, refusal

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = ROOT / "knowledge"


# Production starts first insist on real secrets (bot.settings.require_production_secrets): give them some.
SECRETS = {key: secrets.token_urlsafe(32) for key in
           ("HUIMIN_HASH_KEY", "HUIMIN_SECRET_KEY", "HUIMIN_RASA_TOKEN", "HUIMIN_ACTIONS_TOKEN")}


def run(args, **env):
    full = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2", **SECRETS, **env)
    if "HUIMIN_ALLOW_DEMO_DATA" not in env:
        full.pop("HUIMIN_ALLOW_DEMO_DATA", None)
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=full, capture_output=True, text=True,
                          timeout=300)


def without_demo(tmp_path: Path) -> Path:
    """A copy of the knowledge base as a bureau would ship it: no entry marked demo: true."""
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    for path in target.rglob("*.yml"):
        text = path.read_text(encoding="utf-8")
        if "demo: true" in text:
            path.write_text(re.sub(r"(?m)^\s*demo: true\n", "", text), encoding="utf-8")
    # A real office says where its hours and number come from.
    offices = target / "offices.yml"
    sourced = ("    name: 社区服务中心\n    sources:\n"
               "      - title: 本中心公布的办公时间和电话\n        date: '2026-12-01'\n")
    offices.write_text(offices.read_text(encoding="utf-8").replace("    name: 社区服务中心\n", sourced),
                       encoding="utf-8")
    return target


def test_production_start_is_refused_while_demo_data_is_present(tmp_path):
    # The guard runs before anything else: with demo sites in knowledge/ it refuses (exit 3) even before it
    # would find out that the model file does not exist (exit 2).
    missing_model = str(tmp_path / "no-model.tar.gz")
    result = run(["bot", "prod", "run", "--model", missing_model, "--base-port", "17900"])
    assert result.returncode == EXIT_REFUSED, result.stderr
    assert "Refusing to start in production: demo data is present" in result.stderr
    for site in ("dayanggou.yml", "wulaocun.yml", "yueyahu.yml", "offices.yml"):
        assert site in result.stderr
    assert "kb check --production" in result.stderr
    # Deliberately allowed: the start goes on (and stops at the missing model).
    allowed = run(["bot", "prod", "run", "--model", missing_model, "--base-port", "17900"],
                  HUIMIN_ALLOW_DEMO_DATA="1")
    assert allowed.returncode == 2 and "no model file" in allowed.stderr
    assert "WARNING: starting with demo data" in allowed.stderr


def test_container_entrypoint_refuses_demo_data_and_runs_the_command_otherwise(tmp_path):
    command = ["bot.demo_guard", "--exec", sys.executable, "-c", "print('started')"]
    refused = run(command)
    assert refused.returncode == EXIT_REFUSED and "started" not in refused.stdout
    clean = run(command, HUIMIN_KNOWLEDGE_DIR=str(without_demo(tmp_path)))
    assert clean.returncode == 0 and clean.stdout.strip() == "started", clean.stderr


def test_demo_application_records_in_the_database_are_refused_too(tmp_path, sqlite_url):
    from bot.applications.seed import seed_demo

    clean = without_demo(tmp_path)
    assert demo_entries(clean) == []
    assert refusal(clean, sqlite_url, environ={}) is None
    seed_demo(sqlite_url)
    reason = refusal(clean, sqlite_url, environ={})
    assert reason and "6 demo application record(s)" in reason
    assert refusal(clean, sqlite_url, environ={"HUIMIN_ALLOW_DEMO_DATA": "1"}) is None


def test_kb_check_production_lists_what_must_be_replaced(tmp_path):
    result = run(["bot", "kb", "check", "--production"])
    assert result.returncode == 1
    for name in ("offices.yml", "sites/dayanggou.yml", "sites/wulaocun.yml", "sites/yueyahu.yml"):
        assert any(name in line and "演示数据" in line for line in result.stdout.splitlines()), result.stdout
    clean = run(["bot", "kb", "check", "--production", "--dir", str(without_demo(tmp_path))])
    assert clean.returncode == 0, clean.stdout + clean.stderr



async def _status_text(resident: str) -> str:
    from tests.test_status_actions import NO_101, FormTurns

    form = FormTurns(resident)
    await form.say(f"查询 {NO_101}", intent="check_status")
    result = await form.say("31002x")
    assert result.said == ["utter_status_result"]
    return result.texts[0]


async def test_a_status_answer_built_from_a_demo_record_says_so(db_url):
    from bot.applications.seed import seed_demo_async

    await seed_demo_async(db_url)
    text = await _status_text("resident-demo-1")
    assert "（演示数据：这是演示用的申请记录，不是真实的申请。）" in text and "公示期 7 天" in text


async def test_a_status_answer_from_the_bureaus_own_records_has_no_demo_notice(db_url):
    from bot.applications.importer import import_csv
    from bot.applications.seed import DEMO_CSV

    await import_csv(DEMO_CSV, url=db_url, source_name="bureau-export.csv")
    assert "演示数据" not in await _status_text("resident-demo-2")
