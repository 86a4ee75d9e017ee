"""``python -m bot prod run``: the production topology on this machine (see bot/prod/topology.py)."""
from __future__ import annotations

import os
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


def drop_postgres_database(server_url: str, name: str) -> None:
    """Throw-away databases (tests, benchmarks) are dropped after use: the server outlives every run."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"{server_url}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def drop_topology_databases(topo) -> None:
    from bot.db import to_sync_url

    for url in (topo.env["HUIMIN_DATABASE_URL"], topo.env["HUIMIN_TRACKER_DB_URL"]):
        server, name = to_sync_url(url).rsplit("/", 1)
        drop_postgres_database(server, name)


def start_topology(topo, run_dir: Path, env_extra=None) -> List:
    """Start every process of ``topo`` (nginx last) and return them; the caller stops them."""
    from bot.prod.topology import nginx_conf
    from bot.stack import processes

    run_dir.mkdir(parents=True, exist_ok=True)
    env = _env(topo, env_extra)
    procs = []
    try:
        for svc in topo.services:
            if svc.kind == "nginx":
                conf = run_dir / "nginx.conf"
                conf.write_text(nginx_conf(topo, run_dir))
                cmd = [nginx_binary(), "-c", str(conf), "-p", str(run_dir)]
            else:
                cmd = svc.command
            procs.append(processes.spawn(svc.name, cmd, f"http://127.0.0.1:{svc.port}{svc.health_path}", env,
                                         run_dir / "log"))
    except BaseException:  # the caller never got the list: stop what was started (nginx missing, Ctrl-C…)
        processes.stop(procs)
        raise
    return procs


def _env(topo, env_extra=None) -> dict:
    env = dict(os.environ, **topo.env, **(env_extra or {}))
    env.setdefault("PYTHONPATH", str(ROOT))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # One Sanic worker per process: replicas are processes of their own (each with its model copy).
    env["SANIC_WORKERS"] = "1"
    return env


def nginx_binary() -> str:
    for candidate in ("/usr/sbin/nginx", "/usr/bin/nginx"):
        if Path(candidate).exists():
            return candidate
    raise SystemExit("nginx is not installed: run `make run-prod` (it installs Debian's nginx-light) "
                     "or `apt-get install nginx-light`")


def prepare(topo) -> None:
    """Databases exist and are migrated; Redis answers."""
    import redis

    from bot.db import migrate, to_sync_url

    for url in (topo.env["HUIMIN_DATABASE_URL"], topo.env["HUIMIN_TRACKER_DB_URL"]):
        server, name = to_sync_url(url).rsplit("/", 1)
        ensure_postgres_database(server, name)
    redis.Redis.from_url(topo.env["HUIMIN_REDIS_URL"]).ping()
    migrate(topo.env["HUIMIN_DATABASE_URL"])
    create_tracker_schema(topo.env["HUIMIN_TRACKER_DB_URL"])


def create_tracker_schema(url: str) -> None:
    """Rasa creates its `events` table when it starts; two replicas starting together on an empty database race
    on that CREATE TABLE (one fails on PostgreSQL's catalogue unique index). Create it once, beforehand."""
    import sqlalchemy as sa
    from rasa.core.tracker_store import SQLTrackerStore

    engine = sa.create_engine(url)
    try:
        SQLTrackerStore.Base.metadata.create_all(engine)
    finally:
        engine.dispose()


def _run(args) -> int:
    from bot.demo_guard import EXIT_REFUSED, refusal
    from bot.prod.topology import build
    from bot.settings import get_settings, require_production_secrets
    from bot.stack import processes
    from bot.stack.training import ensure_model

    # Before anything is trained or started: production never runs on development or example secrets ...
    require_production_secrets("make run-prod", always=True)
    # ... nor on demo data: the knowledge files are checked before anything (training) starts.
    reason = refusal(get_settings().knowledge_dir)
    if reason:
        print(reason, file=sys.stderr)
        return EXIT_REFUSED
    if args.model:
        model = Path(args.model).resolve()
        if not model.is_file():
            print(f"ERROR: no model file at {model}", file=sys.stderr)
            return 2
    else:
        model = ensure_model()
    # The databases and Redis come from the environment when it names them (PostgreSQL only), else the local ones.
    env_db, env_tracker = os.environ.get("HUIMIN_DATABASE_URL", ""), os.environ.get("HUIMIN_TRACKER_DB_URL", "")
    topo = build(model, rasa_replicas=args.rasa_replicas, action_replicas=args.action_replicas,
                 public_port=args.port, base_port=args.base_port,
                 redis_url=os.environ.get("HUIMIN_REDIS_URL") or "redis://127.0.0.1:6379/1",
                 database_url=env_db if env_db.startswith("postgres") else "",
                 tracker_db_url=env_tracker if env_tracker.startswith("postgres") else "")
    try:
        prepare(topo)
    except Exception as exc:  # unreachable PostgreSQL/Redis: say which, not a traceback
        print(f"ERROR: the production topology needs PostgreSQL and Redis: {exc}", file=sys.stderr)
        return 1
    # ... and the database must not hold the demo seed's application records.
    reason = refusal(get_settings().knowledge_dir, topo.env["HUIMIN_DATABASE_URL"])
    if reason:
        print(reason, file=sys.stderr)
        return EXIT_REFUSED
    run_dir = ROOT / "var" / "prod"
    # Every process checks the secrets again itself (as the containers do).
    procs = start_topology(topo, run_dir, {"HUIMIN_ENV": "production"})
    stop = processes.StopFlag()
    try:
        if not processes.wait_all_healthy(procs, 900, run_dir / "log"):
            return 1
        public = f"http://127.0.0.1:{topo.public_port}"
        print(f"""
惠民助手 production topology is up (Ctrl-C stops it):
  web chat page      {public}/chat
  staff console      {public}/staff
  knowledge editor   {public}/editor
  Rasa REST channel  http://127.0.0.1:{topo.rasa_api_lb_port}/webhooks/rest/webhook (loopback only, for tests)
  WeChat webhook     {public}/webhooks/wechat/webhook
  processes          {', '.join(f'{p.name} :{s.port}' for p, s in zip(procs, topo.services))}
  logs               {run_dir / 'log'} (nginx: {run_dir / 'nginx-access.log'})
""", flush=True)
        # A process that dies is started again (as systemd or Kubernetes would); the others keep serving.
        while not stop.set:
            for i, p in enumerate(procs):
                if p.popen.poll() is not None and not stop.set:
                    print(f"{p.name} exited (code {p.popen.returncode}); starting it again", file=sys.stderr,
                          flush=True)
                    procs[i] = restart(topo, p, run_dir)
            time.sleep(2)
    finally:
        processes.stop(procs)
        print("stopped", flush=True)
    return 0


def restart(topo, proc, run_dir: Path):
    """Start one process of the topology again, with the same command and environment."""
    from bot.stack import processes

    svc = next(s for s in topo.services if s.name == proc.name)
    env = _env(topo, {"HUIMIN_ENV": "production"})
    if svc.kind == "nginx":
        cmd = [nginx_binary(), "-c", str(run_dir / "nginx.conf"), "-p", str(run_dir)]
    else:
        cmd = svc.command
    return processes.spawn(svc.name, cmd, proc.health_url, env, run_dir / "log")


def register(sub) -> None:
    p = sub.add_parser("prod", help="production topology commands")
    psub = p.add_subparsers(dest="prod_command", metavar="SUBCOMMAND")
    psub.required = True
    r = psub.add_parser("run", help="start N Rasa replicas, M action servers, the console and nginx "
                                    "against the local PostgreSQL and Redis")
    r.add_argument("--rasa-replicas", type=int, default=2)
    r.add_argument("--action-replicas", type=int, default=2)
    r.add_argument("--port", type=int, default=int(os.environ.get("HUIMIN_PUBLIC_PORT", "8000")))
    r.add_argument("--base-port", type=int, default=15000,
                   help="first internal port: Rasa replicas from here, action servers +100, console +200")
    r.add_argument("--model", help="serve this model file instead of training/choosing the current one")
    r.set_defaults(handler=_run)
