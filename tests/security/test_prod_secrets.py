"""Issue 12 item 5: production never runs on development, example, empty or short secrets — `make run-prod`
(python -m bot prod run), every process of the containers (HUIMIN_ENV=production) and the deploy files."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from bot.settings import SECRET_NAMES, secret_problems
from tests.conftest import ROOT, free_port

STRONG = {name: secrets.token_urlsafe(32) for name in SECRET_NAMES}


def _env(**values) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_NAMES and k != "HUIMIN_ENV"}
    env.update(PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    env.update({k: v for k, v in values.items() if v is not None})
    return env


def _run(args, env, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("values,expected", [
    ({}, "is not set"),
    ({n: "" for n in SECRET_NAMES}, "is not set"),
    ({n: "change-me" for n in SECRET_NAMES}, "is a development or example value"),
    ({"HUIMIN_HASH_KEY": "dev-only-hash-key-change-me", "HUIMIN_SECRET_KEY": "dev-only-secret-key-change-me",
      "HUIMIN_RASA_TOKEN": "dev-only-rasa-token", "HUIMIN_ACTIONS_TOKEN": "dev-only-actions-token"},
     "is a development or example value"),
    ({n: n.lower() + "-short" for n in SECRET_NAMES}, "is shorter than 32"),
])
def test_make_run_prod_refuses_to_start(values, expected, tmp_path):
    started = time.monotonic()
    result = _run(["prod", "run", "--model", str(tmp_path / "none.tar.gz")], _env(**values))
    assert result.returncode != 0
    for name in SECRET_NAMES:
        assert f"{name} {expected}" in result.stderr, result.stderr
    assert "secrets.token_urlsafe" in result.stderr
    # Refused before anything was trained, migrated or started.
    assert "no model file" not in result.stderr and time.monotonic() - started < 60


def test_one_secret_reused_for_another_is_refused():
    same = secrets.token_urlsafe(32)
    problems = secret_problems(dict(STRONG, HUIMIN_ACTIONS_TOKEN=same, HUIMIN_RASA_TOKEN=same))
    assert problems == ["the secrets must all be different"]
    assert secret_problems(STRONG) == []


@pytest.mark.parametrize("command", [["actions", "--port", "0"], ["rasa", "run", "--model", "none.tar.gz"],
                                     ["console", "--port", "0"]])
def test_each_container_process_refuses_development_secrets(command):
    result = _run(command, _env(HUIMIN_ENV="production", HUIMIN_RASA_TOKEN="change-me"))
    assert result.returncode != 0
    assert "refuses to start" in result.stderr and "HUIMIN_RASA_TOKEN is a development or example value" \
        in result.stderr, result.stderr
    assert "HUIMIN_HASH_KEY is not set" in result.stderr


def test_with_real_secrets_the_action_server_starts_in_production():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bot", "actions", "--port", str(port)], cwd=ROOT,
                            env=_env(HUIMIN_ENV="production", **STRONG), stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                    assert resp.status == 200
                    return
            except OSError:
                assert proc.poll() is None, "the action server exited"
                time.sleep(0.2)
        pytest.fail("the action server did not start")
    finally:
        proc.terminate()
        proc.wait(20)


def test_deploy_files_mark_production_and_demand_the_secrets():
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yml").read_text())
    env = compose["x-env"]
    assert env["HUIMIN_ENV"] == "production"
    for name in SECRET_NAMES:
        # Compose itself stops with a message when the variable is unset or empty.
        assert env[name].startswith("${" + name + ":?"), env[name]
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy" / "k8s" / "huimin.yaml").read_text()) if d]
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    secret = next(d for d in docs if d["kind"] == "Secret")["stringData"]
    assert config["HUIMIN_ENV"] == "production" and set(SECRET_NAMES) <= set(secret)
    example = (ROOT / ".env.example").read_text()
    assert "change-me" not in example
    for name in SECRET_NAMES:
        assert f"\n{name}=\n" in example
