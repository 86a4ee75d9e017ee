"""``python -m bot prod run``: the production topology on this machine (see bot/prod/topology.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

from bot.settings import ROOT


def ensure_postgres_database(server_url: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(f"{server_url}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def start_topology(topo, run_dir: Path, env_extra=None) -> List:
    """Start every process of ``topo`` (nginx last) and return them; the caller stops them."""
    from bot.prod.topology import nginx_conf
    from bot.stack import processes

    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **topo.env, **(env_extra or {}))
    env.setdefault("PYTHONPATH", str(ROOT))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["SANIC_WORKERS"] = "1"
    procs = []
    for svc in topo.services:
        if svc.kind == "nginx":
            conf = run_dir / "nginx.conf"
            conf.write_text(nginx_conf(topo, run_dir))
            cmd = [nginx_binary(), "-c", str(conf), "-p", str(run_dir)]
        else:
            cmd = svc.command
        procs.append(processes.spawn(svc.name, cmd, f"http://127.0.0.1:{svc.port}{svc.health_path}", env,
                                     run_dir / "log"))
    return procs


def nginx_binary() -> str:
    for candidate in ("/usr/sbin/nginx", "/usr/bin/nginx"):
        if Path(candidate).exists():
            return candidate
    raise SystemExit("nginx is not installed: run `make run-prod` (it installs Debian's nginx-light) "
                     "or `apt-get install nginx-light`")


def prepare(topo) -> None:
    """Databases exist and are migrated; Redis answers."""
    import redis

    from bot.db import migrate

    pg_server = topo.env["HUIMIN_TRACKER_DB_URL"].rsplit("/", 1)[0]
    for url in (topo.env["HUIMIN_DATABASE_URL"], topo.env["HUIMIN_TRACKER_DB_URL"]):
        ensure_postgres_database(pg_server, url.rsplit("/", 1)[1])
    redis.Redis.from_url(topo.env["HUIMIN_REDIS_URL"]).ping()
    migrate(topo.env["HUIMIN_DATABASE_URL"])


def _run(args) -> int:
    from bot.prod.topology import build
    from bot.stack import processes
    from bot.stack.training import ensure_model

    model = ensure_model()
    topo = build(model, rasa_replicas=args.rasa_replicas, action_replicas=args.action_replicas,
                 public_port=args.port)
    try:
        prepare(topo)
    except Exception as exc:  # unreachable PostgreSQL/Redis: say which, not a traceback
        print(f"ERROR: the production topology needs PostgreSQL and Redis: {exc}", file=sys.stderr)
        return 1
    run_dir = ROOT / "var" / "prod"
    procs = start_topology(topo, run_dir)
    stopping = False

    def _stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        for p in procs:
            ok = processes.wait_healthy(p.health_url, 240, p.popen)
            print(f"  {p.name:10s} {'ready' if ok else 'FAILED — see ' + str(run_dir / 'log' / (p.name + '.log'))}",
                  flush=True)
            if not ok:
                return 1
        print(f"\n惠民助手 production topology is up (Ctrl-C stops it):\n"
              f"  public address (nginx)  http://127.0.0.1:{topo.public_port}/  (/chat, /staff, /webhooks/…)\n"
              f"  processes               {', '.join(p.name for p in procs)}\n"
              f"  logs                    {run_dir / 'log'}\n", flush=True)
        while not stopping:
            time.sleep(1)
    finally:
        processes.stop(procs)
    return 0


def register(sub) -> None:
    p = sub.add_parser("prod", help="production topology commands")
    psub = p.add_subparsers(dest="prod_command", metavar="SUBCOMMAND")
    psub.required = True
    r = psub.add_parser("run", help="start N Rasa replicas, M action servers, the console and nginx "
                                    "against the local PostgreSQL and Redis")
    r.add_argument("--rasa-replicas", type=int, default=2)
    r.add_argument("--action-replicas", type=int, default=2)
    r.add_argument("--port", type=int, default=int(os.environ.get("HUIMIN_PUBLIC_PORT", "8000")))
    r.set_defaults(handler=_run)
