"""Start the Rasa server, the action server and the console as child processes; stop them together."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
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


@dataclass
class RasaLayout:
    """How many Rasa processes the stack runs, and the Redis they share when more than one (locks, channel state)."""
    processes: int
    redis_url: str
    note: str
    ports: List[int] = field(default_factory=list)  # the processes' own ports, behind the balancer


# Redis of a development machine, tried when HUIMIN_REDIS_URL is not set (a database of its own).
DEV_REDIS_URL = "redis://127.0.0.1:6379/2"
RASA_PROCESSES_ENV = "HUIMIN_RASA_PROCESSES"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rasa_layout(settings: Settings, dev_redis_url: str = DEV_REDIS_URL) -> RasaLayout:
    """One Rasa process runs a turn on one core, so with two cores or more the stack runs two behind a local
    balancer (bot/stack/balancer.py). They need a Redis for the lock store and the channels' shared state —
    HUIMIN_REDIS_URL, else the machine's own Redis if it answers; without one, a single process (said in the log).
    HUIMIN_RASA_PROCESSES sets the number (1: always one). Measured on the idle 2-core machine in one `make bench`
    run each (2026-12-07, README, issue 16): one process 0.99x / 1.0x the stock bot at 10 / 50 concurrent
    conversations, two processes 1.70x / 1.60x."""
    wanted = int(os.environ.get(RASA_PROCESSES_ENV) or (2 if (os.cpu_count() or 1) >= 2 else 1))
    if wanted <= 1:
        return RasaLayout(1, settings.redis_url, f"one Rasa process ({RASA_PROCESSES_ENV}={wanted})")
    url = settings.redis_url or dev_redis_url
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
    except Exception as exc:
        return RasaLayout(1, settings.redis_url, f"one Rasa process: no Redis answers at {url} "
                                                 f"({type(exc).__name__}), which {wanted} processes need for their "
                                                 "locks; one core does the dialogue work")
    return RasaLayout(wanted, url, f"{wanted} Rasa processes behind a local balancer (locks and channel state in "
                                   f"Redis {url})", [_free_port() for _ in range(wanted)])


def layout_env(layout: RasaLayout) -> Dict[str, str]:
    """What every process of the stack needs to know about several Rasa processes."""
    if layout.processes <= 1:
        return {}
    return {"HUIMIN_REDIS_URL": layout.redis_url,
            # The editor publishes a retrained model to each process (PUT /model), not through the balancer.
            "HUIMIN_RASA_REPLICA_URLS": ",".join(f"http://127.0.0.1:{p}" for p in layout.ports)}


def commands(settings: Settings, model: Path, layout: Optional[RasaLayout] = None) -> List[tuple]:
    py = sys.executable
    host = settings.listen_host
    if layout is None or layout.processes <= 1:
        rasa = [("rasa", [py, "-m", "bot", "rasa", "run", *rasa_args(model, settings.rasa_port, host)],
                 f"http://127.0.0.1:{settings.rasa_port}/")]
    else:
        rasa = [(f"rasa-{i + 1}", [py, "-m", "bot", "rasa", "run", *rasa_args(model, port, "127.0.0.1")],
                 f"http://127.0.0.1:{port}/") for i, port in enumerate(layout.ports)]
        backends = [arg for port in layout.ports for arg in ("--backend", f"http://127.0.0.1:{port}")]
        rasa.append(("rasa", [py, "-m", "bot", "balance", "--port", str(settings.rasa_port), "--host", host,
                              *backends], f"http://127.0.0.1:{settings.rasa_port}/"))
    return [
        # bot/logging.yml masks ID and mobile numbers in every log record (bot/rasa/log_redaction.py).
        ("actions", [py, "-m", "bot", "actions", "--port", str(settings.actions_port), "--host", host],
         f"http://127.0.0.1:{settings.actions_port}/health"),
        *rasa,
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
          only: Optional[List[str]] = None, layout: Optional[RasaLayout] = None) -> List[Proc]:
    """The stack's processes; ``layout`` (``rasa_layout``): several Rasa processes behind a balancer."""
    settings = settings or get_settings()
    env = {**stack_env(settings), **(layout_env(layout) if layout is not None else {})}
    log_dir = log_dir or ROOT / "var" / "log"
    return [spawn(name, cmd, health, env, log_dir) for name, cmd, health in commands(settings, model, layout)
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
