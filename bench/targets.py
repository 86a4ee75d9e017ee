"""Start and stop the systems under test: the stock `rasa init` bot (baseline), the single-machine stack, and
the production topology. Each returns its public base URL and its processes (for memory figures)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

from bot.settings import ROOT
from bot.stack import processes

BENCH_BUILD = ROOT / "build" / "bench"


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
    if not processes.wait_healthy(proc.health_url, 900, proc.popen):
        processes.stop([proc])
        raise RuntimeError("stock Rasa did not start")
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
    procs = processes.start(model, get_settings(), log_dir=work / "log")
    for p in procs:
        if not processes.wait_healthy(p.health_url, 900, p.popen):
            processes.stop(procs)
            raise RuntimeError(f"{p.name} did not start; see {work / 'log'}")
    return env["HUIMIN_RASA_URL"], procs, time.perf_counter() - started


def start_prod(model: Path, work: Path) -> Tuple[str, List[processes.Proc], float]:
    from bot.prod.cli import prepare, start_topology
    from bot.prod.topology import build

    suffix = str(os.getpid())
    topo = build(model, public_port=free_port(), base_port=20000 + (os.getpid() % 200) * 200,
                 database=f"huimin_bench_{suffix}", tracker_database=f"huimin_bench_tracker_{suffix}",
                 redis_url="redis://127.0.0.1:6379/3",
                 rate_limit_exempt=("127.0.0.1",))  # the load generator is one address
    # nginx's helper ports sit next to the public one; make sure they are free too.
    prepare(topo)
    _prod_topologies.append(topo)
    os.environ.update(topo.env)
    _seed()
    started = time.perf_counter()
    procs = start_topology(topo, work)
    for p in procs:
        if not processes.wait_healthy(p.health_url, 900, p.popen):
            processes.stop(procs)
            raise RuntimeError(f"{p.name} did not start; see {work / 'log'}")
    # The REST channel is not on the public port (it trusts the sender); its loopback balancer is the same nginx.
    return f"http://127.0.0.1:{topo.rasa_api_lb_port}", procs, time.perf_counter() - started


_prod_topologies: List = []


def drop_prod_databases() -> None:
    """The benchmark's PostgreSQL databases are scratch: dropped once the topology is stopped."""
    from bot.prod.cli import drop_topology_databases

    while _prod_topologies:
        drop_topology_databases(_prod_topologies.pop())


def _seed() -> None:
    try:
        from bot.seed import seed_demo_data
    except ModuleNotFoundError:
        return
    seed_demo_data()


def memory(procs: List[processes.Proc]) -> Dict[str, float]:
    return {p.name: rss_mb(p.popen.pid) for p in procs}
