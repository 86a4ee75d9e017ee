"""Start and stop the systems under test: the stock `rasa init` bot (baseline), the single-machine stack, and
the production topology. Each returns its public base URL and its processes (for memory figures)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

from bench import cleanup
from bot.settings import ROOT
from bot.stack import processes

BENCH_BUILD = ROOT / "build" / "bench"
BENCH_REDIS_URL = "redis://127.0.0.1:6379/4"


class TargetUnavailable(RuntimeError):
    """The system under test cannot run on this machine (e.g. no nginx): skipped, with the reason."""


def _wait(procs: List[processes.Proc], log_dir: Path) -> None:
    for p in procs:
        if not processes.wait_healthy(p.health_url, 900, p.popen):
            cleanup.stop(procs)
            raise RuntimeError(f"{p.name} did not start; see {log_dir}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB (from /proc)."""
    total_kb = 0
    pids = [pid]
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        pids += [int(p) for p in out.split()]
    except Exception:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except FileNotFoundError:
            continue
    return round(total_kb / 1024, 1)


def stock_bot() -> Tuple[Path, float]:
    """`rasa init` project (trained once, cached); returns the model and its training seconds (0 if cached)."""
    project = BENCH_BUILD / "stock_bot"
    models = sorted((project / "models").glob("*.tar.gz")) if project.exists() else []
    if models:
        return models[-1], 0.0
    project.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rasa", "init", "--no-prompt", "--init-dir", str(project)],
                   check=True, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    return sorted((project / "models").glob("*.tar.gz"))[-1], seconds


def start_stock(model: Path, log_dir: Path) -> Tuple[str, List[processes.Proc], float]:
    port = free_port()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    started = time.perf_counter()
    proc = processes.spawn("stock-rasa", [sys.executable, "-m", "rasa", "run", "--model", str(model),
                                          "--port", str(port)], f"http://127.0.0.1:{port}/", env, log_dir)
    cleanup.track([proc])
    _wait([proc], log_dir)
    return f"http://127.0.0.1:{port}", [proc], time.perf_counter() - started


def start_single(model: Path, work: Path) -> Tuple[str, List[processes.Proc], float]:
    from bot.db import migrate
    from bot.settings import get_settings

    ports = {"HUIMIN_RASA_PORT": free_port(), "HUIMIN_ACTIONS_PORT": free_port(), "HUIMIN_CONSOLE_PORT": free_port()}
    env = {k: str(v) for k, v in ports.items()}
    env.update({
        "HUIMIN_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'huimin.db'}",
        "HUIMIN_TRACKER_DB_URL": f"sqlite:///{work / 'tracker.db'}",
        "HUIMIN_RASA_URL": f"http://127.0.0.1:{ports['HUIMIN_RASA_PORT']}",
        "HUIMIN_REDIS_URL": "",
    })
    os.environ.update(env)
    migrate(env["HUIMIN_DATABASE_URL"])
    _seed()
    started = time.perf_counter()
    # As `python -m bot run` starts it: two Rasa processes behind the local balancer when a Redis answers (here
    # a Redis database of the benchmark's own), else one.
    layout = processes.rasa_layout(get_settings(), dev_redis_url=BENCH_REDIS_URL)
    print(f"  {layout.note}", flush=True)
    procs = cleanup.track(processes.start(model, get_settings(), log_dir=work / "log", layout=layout))
    _wait(procs, work / "log")
    return env["HUIMIN_RASA_URL"], procs, time.perf_counter() - started


def start_prod(model: Path, work: Path) -> Tuple[str, List[processes.Proc], float]:
    from bot.prod.cli import drop_topology_databases, nginx_binary, prepare, start_topology
    from bot.prod.topology import build

    # Checked before anything is created or started: nothing is left behind when the topology cannot run.
    try:
        nginx_binary()
    except SystemExit as exc:
        raise TargetUnavailable(str(exc)) from None

    suffix = str(os.getpid())
    topo = build(model, public_port=free_port(), base_port=20000 + (os.getpid() % 200) * 200,
                 database=f"huimin_bench_{suffix}", tracker_database=f"huimin_bench_tracker_{suffix}",
                 redis_url="redis://127.0.0.1:6379/3",
                 rate_limit_exempt=("127.0.0.1",))  # the load generator is one address
    # The benchmark's PostgreSQL databases are scratch: dropped when the run ends, however it ends.
    cleanup.on_exit(lambda: drop_topology_databases(topo))
    try:
        prepare(topo)
    except Exception as exc:  # no PostgreSQL or Redis here
        raise TargetUnavailable(f"PostgreSQL and Redis are needed: {type(exc).__name__}: {exc}") from None
    os.environ.update(topo.env)
    _seed()
    started = time.perf_counter()
    procs = cleanup.track(start_topology(topo, work))
    _wait(procs, work / "log")
    # The REST channel is not on the public port (it trusts the sender); its loopback balancer is the same nginx.
    return f"http://127.0.0.1:{topo.rasa_api_lb_port}", procs, time.perf_counter() - started


def _seed() -> None:
    """The demo application records the status mix looks up (MZ2026000101). Not the console's demo accounts
    (`python -m bot run` seeds those): the benchmark never logs in, and their password file is `make run`'s."""
    from bot.applications.seed import seed_demo

    seed_demo(os.environ["HUIMIN_DATABASE_URL"])


def memory(procs: List[processes.Proc]) -> Dict[str, float]:
    return {p.name: rss_mb(p.popen.pid) for p in procs}


def each_system(systems: str, model_arg: str, prefix: str):
    """For the development tools (``bench.length``, ``bench.cpu``): each of ``systems`` ("single,prod") started in
    turn on the model given (else the current one) as ``make bench`` starts it, yielded as (name, url, procs, load
    average before) and stopped after; its files in a scratch folder removed at exit, every process stopped on
    every exit path. A system that cannot run here is skipped with its reason."""
    import shutil
    import tempfile

    from bench import machine
    from bot.stack.training import ensure_model

    cleanup.install()
    work = Path(tempfile.mkdtemp(prefix=prefix))
    cleanup.on_exit(lambda: shutil.rmtree(work, ignore_errors=True))
    model = Path(model_arg).resolve() if model_arg else ensure_model()
    start = {"single": start_single, "prod": start_prod}
    try:
        for name in systems.split(","):
            before = machine.load_average()
            try:
                url, procs, _ = start[name](model, work / name)
            except TargetUnavailable as exc:
                print(f"{name} skipped: {exc}", flush=True)
                continue
            try:
                yield name, url, procs, before
            finally:
                cleanup.stop(procs)
    finally:
        cleanup.stop_all()
