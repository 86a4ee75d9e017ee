"""CPU time one resident message costs, per process kind of the stack (development, issue 16).

``python -m bench.cpu [--systems single,prod] [--messages 400] [--concurrency 50]`` starts the single stack and/or
the production topology as ``make bench`` does, warms it up, drives at least ``--messages`` messages of the
benchmark's realistic mix (bench/load.py) at ``--concurrency`` conversations, and reads the user + system CPU
time of every process of the stack (with all its descendants: Sanic and nginx workers) from /proc before and
after: CPU ms per message for each kind (rasa, actions, console, balancer, nginx) and for the PostgreSQL
backends serving the run's databases. Redis is one server shared with other work: its whole CPU is shown apart
and left out of the total. CPU time, not wall clock: it holds still on a machine that other work keeps busy
(the throughput printed is only indicative there). Nothing is written to bench/results.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time
from collections import defaultdict
from typing import Dict, Iterable, List, Optional

TICK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> List[int]:
    out: List[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def family(pid: int) -> List[int]:
    """The process and all its descendants."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo += _children(p)
    return seen


def ticks(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except OSError:
        return None


def kind_of(name: str, balanced: bool) -> str:
    if name == "rasa" and balanced:
        return "balancer"  # the single stack's local balancer in front of rasa-1, rasa-2
    for kind in ("rasa", "actions", "console", "nginx"):
        if name.startswith(kind):
            return kind
    return name


def postgres_pids(databases: Iterable[str]) -> List[int]:
    """Backends connected to the run's own databases (other work's backends are left out)."""
    names = [d for d in databases if d]
    if not names:
        return []
    quoted = ",".join("'" + n.replace("'", "''") + "'" for n in names)
    try:
        out = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-Atc",
                              f"SELECT pid FROM pg_stat_activity WHERE datname IN ({quoted})"],
                             capture_output=True, text=True, timeout=10).stdout
        return [int(x) for x in out.split()]
    except Exception:
        return []


def redis_pid() -> Optional[int]:
    try:
        out = subprocess.run(["redis-cli", "info", "server"], capture_output=True, text=True, timeout=5).stdout
        for line in out.splitlines():
            if line.startswith("process_id:"):
                return int(line.split(":")[1])
    except Exception:
        pass
    return None


def snapshot(groups: Dict[str, List[int]]) -> Dict[str, Dict[int, int]]:
    """CPU ticks of every process of every group (a pid seen only after the run counts from zero)."""
    out: Dict[str, Dict[int, int]] = {}
    for kind, pids in groups.items():
        out[kind] = {}
        for pid in pids:
            t = ticks(pid)
            if t is not None:
                out[kind][pid] = t
    return out


def groups_of(procs, balanced: bool, databases: Iterable[str]) -> Dict[str, List[int]]:
    groups: Dict[str, List[int]] = defaultdict(list)
    for p in procs:
        groups[kind_of(p.name, balanced)] += family(p.popen.pid)
    pg = postgres_pids(databases)
    if pg:
        groups["postgres"] = pg
    rp = redis_pid()
    if rp:
        groups["redis (shared)"] = [rp]
    return dict(groups)


def delta_ms(before: Dict[str, Dict[int, int]], after: Dict[str, Dict[int, int]], messages: int) -> Dict[str, float]:
    out = {}
    for kind, pids in after.items():
        spent = sum(t - before.get(kind, {}).get(pid, 0) for pid, t in pids.items())
        out[kind] = round(spent * 1000 / TICK / messages, 2)
    out["total"] = round(sum(v for k, v in out.items() if not k.startswith("redis")), 2)
    return out


def databases_of(system: str) -> List[str]:
    if system != "prod":
        return []
    from bot.db import to_sync_url

    return [to_sync_url(os.environ.get(k, "")).rsplit("/", 1)[-1]
            for k in ("HUIMIN_DATABASE_URL", "HUIMIN_TRACKER_DB_URL") if os.environ.get(k)]


def measure(system: str, url: str, procs, messages: int, concurrency: int, rounds: int) -> Dict:
    from bench import load

    balanced = system == "single" and any(p.name == "rasa-1" for p in procs)
    asyncio.run(load.run_level(url, min(concurrency, 10), "warm-up", min_messages=100))
    results = []
    for _ in range(rounds):
        groups = groups_of(procs, balanced, databases_of(system))
        before = snapshot(groups)
        started = time.perf_counter()
        r = asyncio.run(load.run_level(url, concurrency, system, min_messages=messages))
        wall = time.perf_counter() - started
        groups = groups_of(procs, balanced, databases_of(system))
        after = snapshot(groups)
        per = delta_ms(before, after, max(1, r.messages))
        per.update({"messages": r.messages, "errors": r.errors, "throughput": round(r.messages / wall, 1)})
        print(f"  {system}: " + "  ".join(f"{k} {v}" for k, v in per.items()), flush=True)
        results.append(per)
    return {"rounds": results}


def main(argv: Optional[List[str]] = None) -> int:
    from bench import machine, targets

    parser = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", default="single,prod", help="single and/or prod, comma-separated")
    parser.add_argument("--messages", type=int, default=400, help="messages per round")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default="", help="model (default: the current one, trained if needed)")
    args = parser.parse_args(argv)
    for name, url, procs, before in targets.each_system(args.systems, args.model, "huimin-cpu-"):
        measure(name, url, procs, args.messages, args.concurrency, args.rounds)
        print(f"  {name}: CPU ms per message above (load average {before} -> {machine.load_average()})",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
