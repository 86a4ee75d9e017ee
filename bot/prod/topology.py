"""The single definition of the production processes: `make run-prod`, the nginx config and the checks of the
compose/Kubernetes descriptors all read it, so they cannot drift apart."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

from bot.settings import ROOT
from bot.stack.processes import rasa_args


@dataclass(frozen=True)
class Service:
    name: str
    kind: str  # rasa | actions | console | nginx
    port: int
    health_path: str
    command: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class Topology:
    services: List[Service]
    env: Dict[str, str]
    public_port: int
    actions_lb_port: int
    rasa_api_lb_port: int
    # Client addresses nginx does not rate-limit (a load test driving the public door from this machine).
    rate_limit_exempt: tuple = ()

    def of_kind(self, kind: str) -> List[Service]:
        return [s for s in self.services if s.kind == kind]


# Settings every process of the topology receives (documented in README / .env.example).
SHARED_ENV_KEYS = (
    "HUIMIN_DATABASE_URL", "HUIMIN_TRACKER_DB_URL", "HUIMIN_REDIS_URL", "HUIMIN_RASA_URL", "HUIMIN_RASA_TOKEN",
    "HUIMIN_SECRET_KEY", "HUIMIN_HASH_KEY", "HUIMIN_ACTIONS_HOST", "HUIMIN_ACTIONS_PORT", "HUIMIN_ACTIONS_TOKEN",
    "HUIMIN_LISTEN_HOST",
)


def build(model: Path, rasa_replicas: int = 2, action_replicas: int = 2, public_port: int = 8000,
          base_port: int = 15000, pg_url: str = "postgresql://postgres@127.0.0.1:5432",
          redis_url: str = "redis://127.0.0.1:6379/1", database: str = "huimin",
          tracker_database: str = "huimin_tracker", database_url: str = "", tracker_db_url: str = "",
          rate_limit_exempt: tuple = ()) -> Topology:
    """``database_url``/``tracker_db_url`` (full URLs) win over ``pg_url`` + database names."""
    py = sys.executable
    actions_lb_port = public_port + 1
    rasa_api_lb_port = public_port + 2
    env = {
        "HUIMIN_DATABASE_URL": database_url or f"postgresql+asyncpg://{pg_url.split('://', 1)[1]}/{database}",
        "HUIMIN_TRACKER_DB_URL": tracker_db_url or f"postgresql://{pg_url.split('://', 1)[1]}/{tracker_database}",
        "HUIMIN_REDIS_URL": redis_url,
        # The console reaches Rasa's HTTP API through a loopback-only balancer: any replica can serve any
        # conversation (state is in PostgreSQL, the per-conversation lock in Redis); the API is never public.
        "HUIMIN_RASA_URL": f"http://127.0.0.1:{rasa_api_lb_port}",
        "HUIMIN_RASA_TOKEN": os.environ.get("HUIMIN_RASA_TOKEN", "dev-only-rasa-token"),
        "HUIMIN_SECRET_KEY": os.environ.get("HUIMIN_SECRET_KEY", "dev-only-secret-key-change-me"),
        "HUIMIN_HASH_KEY": os.environ.get("HUIMIN_HASH_KEY", "dev-only-hash-key-change-me"),
        "HUIMIN_ACTIONS_TOKEN": os.environ.get("HUIMIN_ACTIONS_TOKEN", "dev-only-actions-token"),
        "HUIMIN_ACTIONS_HOST": "127.0.0.1",
        "HUIMIN_ACTIONS_PORT": str(actions_lb_port),
        # On one machine every process listens on loopback only; nginx is the only public door.
        "HUIMIN_LISTEN_HOST": "127.0.0.1",
    }
    services: List[Service] = []
    for i in range(rasa_replicas):
        port = base_port + i
        # The API token reaches Rasa through the environment, never its command line (bot/stack/rasa_server.py).
        services.append(Service(f"rasa-{i + 1}", "rasa", port, "/",
                                [py, "-m", "bot", "rasa", "run", *rasa_args(model, port, "127.0.0.1")]))
    for i in range(action_replicas):
        port = base_port + 100 + i
        services.append(Service(f"actions-{i + 1}", "actions", port, "/health",
                                [py, "-m", "bot", "actions", "--port", str(port), "--host", "127.0.0.1"]))
    # The console loads a model retrained by the editor into every replica (a balancer reaches only one).
    env["HUIMIN_RASA_REPLICA_URLS"] = ",".join(f"http://127.0.0.1:{s.port}" for s in services if s.kind == "rasa")
    services.append(Service("console", "console", base_port + 200, "/health",
                            [py, "-m", "bot", "console", "--port", str(base_port + 200), "--host", "127.0.0.1"]))
    services.append(Service("nginx", "nginx", public_port, "/nginx-health", []))
    return Topology(services, env, public_port, actions_lb_port, rasa_api_lb_port, tuple(rate_limit_exempt))


def render_nginx(run_dir: str, public_port: int, actions_lb_port: int, rasa_api_lb_port: int,
                 upstreams: Dict[str, List[str]], listen_host: str = "127.0.0.1",
                 rate_limit_exempt: tuple = ()) -> str:
    """deploy/nginx.conf.template filled in; ``upstreams`` maps rasa/actions/console to ``host:port`` lists."""
    template = (ROOT / "deploy" / "nginx.conf.template").read_text()

    def servers(kind: str) -> str:
        return "\n".join(f"        server {addr} max_fails=3 fail_timeout=5s;" for addr in upstreams[kind])

    return (template.replace("{{RUN_DIR}}", run_dir)
            .replace("{{LISTEN}}", listen_host)
            .replace("{{PUBLIC_PORT}}", str(public_port))
            .replace("{{ACTIONS_LB_PORT}}", str(actions_lb_port))
            .replace("{{RASA_API_LB_PORT}}", str(rasa_api_lb_port))
            .replace("{{RASA_SERVERS}}", servers("rasa"))
            .replace("{{ACTIONS_SERVERS}}", servers("actions"))
            .replace("{{CONSOLE_SERVERS}}", servers("console"))
            .replace("{{RATE_LIMIT_EXEMPT}}", "\n".join(f"        {a} 1;" for a in rate_limit_exempt)))


def nginx_conf(topo: Topology, run_dir: Path) -> str:
    upstreams = {kind: [f"127.0.0.1:{s.port}" for s in topo.of_kind(kind)] for kind in ("rasa", "actions", "console")}
    return render_nginx(str(run_dir), topo.public_port, topo.actions_lb_port, topo.rasa_api_lb_port, upstreams,
                        rate_limit_exempt=topo.rate_limit_exempt)


def compose_nginx_conf(topo: Topology) -> str:
    """The same balancer for deploy/compose.yml: services by name, standard container ports."""
    ports = {"rasa": 5005, "actions": 5055, "console": 8080}
    upstreams = {kind: [f"{s.name}:{ports[kind]}" for s in topo.of_kind(kind)] for kind in ports}
    return render_nginx("/tmp", topo.public_port, topo.actions_lb_port, topo.rasa_api_lb_port, upstreams,
                        listen_host="0.0.0.0")
