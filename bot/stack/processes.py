"""Start the Rasa server, the action server and the console as child processes; stop them together."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from bot.settings import ROOT, Settings, get_settings


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    health_url: str


def stack_env(settings: Settings) -> Dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HUIMIN_ACTIONS_HOST", "127.0.0.1")
    # Rasa sends it to the action server (bot/endpoints.yml), which refuses calls without it.
    env["HUIMIN_ACTIONS_TOKEN"] = settings.actions_token
    env["HUIMIN_RASA_TOKEN"] = settings.rasa_token
    env["HUIMIN_ACTIONS_PORT"] = str(settings.actions_port)
    env["HUIMIN_RASA_PORT"] = str(settings.rasa_port)
    env["HUIMIN_CONSOLE_PORT"] = str(settings.console_port)
    env.setdefault("HUIMIN_RASA_URL", settings.rasa_url)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("PYTHONPATH", str(ROOT))
    return env


def rasa_args(model: Path, port: int, host: str) -> List[str]:
    """Options of `rasa run`; the API token comes from HUIMIN_RASA_TOKEN (bot/stack/rasa_server.py), never argv."""
    return ["--model", str(model), "--enable-api", "--endpoints", "bot/endpoints.yml",
            "--credentials", "bot/credentials.yml", "--port", str(port), "--cors", "*",
            "--logging-config-file", "bot/logging.yml", "--interface", host]


def commands(settings: Settings, model: Path) -> List[tuple]:
    py = sys.executable
    host = settings.listen_host
    return [
        # bot/logging.yml masks ID and mobile numbers in every log record (bot/rasa/log_redaction.py).
        ("actions", [py, "-m", "bot", "actions", "--port", str(settings.actions_port), "--host", host],
         f"http://127.0.0.1:{settings.actions_port}/health"),
        ("rasa", [py, "-m", "bot", "rasa", "run", *rasa_args(model, settings.rasa_port, host)],
         f"http://127.0.0.1:{settings.rasa_port}/"),
        ("console", [py, "-m", "bot", "console", "--port", str(settings.console_port), "--host", host],
         f"http://127.0.0.1:{settings.console_port}/health"),
    ]


def wait_healthy(url: str, timeout: float, proc: Optional[subprocess.Popen] = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return True
        except Exception:
            pass
        time.sleep(0.5)
    return False


def spawn(name: str, cmd: List[str], health_url: str, env: Dict[str, str], log_dir: Path) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / f"{name}.log", "ab")
    # Own process group, so stopping also stops whatever the process started (e.g. Sanic workers).
    popen = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return Proc(name, popen, health_url)


def start(model: Path, settings: Optional[Settings] = None, log_dir: Optional[Path] = None,
          only: Optional[List[str]] = None) -> List[Proc]:
    settings = settings or get_settings()
    env = stack_env(settings)
    log_dir = log_dir or ROOT / "var" / "log"
    return [spawn(name, cmd, health, env, log_dir) for name, cmd, health in commands(settings, model)
            if not only or name in only]


def stop(procs: List[Proc]) -> None:
    for p in procs:
        if p.popen.poll() is None:
            os.killpg(p.popen.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for p in procs:
        try:
            p.popen.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.popen.pid, signal.SIGKILL)


class StopFlag:
    """Set by SIGINT/SIGTERM, so a supervisor loop can stop its children and exit cleanly."""

    def __init__(self) -> None:
        self.set = False
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, *_: object) -> None:
        self.set = True


def wait_all_healthy(procs: List[Proc], timeout: float, log_dir: Path) -> bool:
    """Wait for each process in turn, printing ready / FAILED with where its log is."""
    for p in procs:
        ok = wait_healthy(p.health_url, timeout, p.popen)
        print(f"  {p.name:10s} {'ready' if ok else 'FAILED — see ' + str(log_dir / (p.name + '.log'))}", flush=True)
        if not ok:
            return False
    return True
