"""``python -m bot run`` (all processes), ``python -m bot model`` (train if needed), ``python -m bot migrate``."""
from __future__ import annotations

import sys
import time

from bot.settings import ROOT, get_settings


def _migrate(args) -> int:
    from bot.db import migrate
    migrate()
    print("database is up to date")
    return 0


def _model(args) -> int:
    from bot.stack.training import ensure_model
    ensure_model(force=args.force)
    return 0


def _run(args) -> int:
    from bot.db import migrate
    from bot.seed import seed_demo_data
    from bot.stack import processes
    from bot.stack.training import ensure_model

    settings = get_settings()
    model = ensure_model()
    migrate()
    seed_demo_data()  # demo records and accounts, idempotent
    layout = processes.rasa_layout(settings)
    print(f"  {layout.note}", flush=True)
    procs = processes.start(model, settings, layout=layout)
    stop = processes.StopFlag()
    if not processes.wait_all_healthy(procs, 600, ROOT / "var" / "log"):
        processes.stop(procs)
        return 1
    print(f"""
惠民助手 is running (Ctrl-C stops everything):
  web chat page      http://127.0.0.1:{settings.console_port}/chat
  staff console      http://127.0.0.1:{settings.console_port}/staff
  knowledge editor   http://127.0.0.1:{settings.console_port}/editor
  Rasa REST channel  http://127.0.0.1:{settings.rasa_port}/webhooks/rest/webhook
  WeChat webhook     http://127.0.0.1:{settings.rasa_port}/webhooks/wechat/webhook
  action server      http://127.0.0.1:{settings.actions_port}/health (local only)
  logs               var/log/
""", flush=True)
    try:
        while not stop.set:
            dead = [p for p in procs if p.popen.poll() is not None]
            if dead:
                print(f"{dead[0].name} exited (code {dead[0].popen.returncode}); stopping", file=sys.stderr)
                break
            time.sleep(1)
    finally:
        processes.stop(procs)
        print("stopped")
    return 0


def register(sub) -> None:
    from bot.stack import actions_server, balancer, rasa_server

    actions_server.register(sub)
    rasa_server.register(sub)
    balancer.register(sub)
    p = sub.add_parser("run", help="start every process (Rasa, actions, console) and print the addresses")
    p.set_defaults(handler=_run)
    p = sub.add_parser("model", help="train the model if config, domain, data or knowledge changed")
    p.add_argument("--force", action="store_true", help="train even if an up-to-date model exists")
    p.set_defaults(handler=_model)
    p = sub.add_parser("migrate", help="create or upgrade the database schema")
    p.set_defaults(handler=_migrate)
