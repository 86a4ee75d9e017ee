"""Demo data cannot go live: production starts refuse while any demo entry is present.

Demo entries are knowledge files (or offices) marked ``demo: true`` — the sample service sites and the sample
office — and application records imported by the demo seed (``make run``; their import is recorded as
``import demo seed``). ``make run-prod`` / ``python -m bot prod run`` call ``refusal``; every container runs
``python -m bot.demo_guard --exec <command>`` as its entrypoint. ``HUIMIN_ALLOW_DEMO_DATA=1`` lets a start go on
anyway (a demonstration of the production topology); ``python -m bot kb check --production`` lists the same
knowledge entries as problems.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Mapping, Optional

from ruamel.yaml import YAML

ALLOW_ENV = "HUIMIN_ALLOW_DEMO_DATA"
EXIT_REFUSED = 3


def demo_entries(knowledge_dir: Path) -> List[str]:
    """``file: what`` for every knowledge entry marked ``demo: true`` (a file, or one item of a list in it)."""
    knowledge_dir = Path(knowledge_dir)
    found = []
    yaml = YAML(typ="safe")
    for path in sorted(knowledge_dir.rglob("*.yml")):
        try:
            doc = yaml.load(path.read_text(encoding="utf-8"))
        except Exception:  # an unreadable file is kb check's business, not a demo entry
            continue
        name = str(path.relative_to(knowledge_dir.parent))
        if isinstance(doc, dict):
            if doc.get("demo") is True:
                found.append(f"{name}: {doc.get('name') or doc.get('id') or path.stem}")
            for key, value in doc.items():
                if isinstance(value, list):
                    for item in value:
                        if isinstance(item, dict) and item.get("demo") is True:
                            found.append(f"{name}: {key} {item.get('name') or item.get('id')}")
    return found


def demo_records(database_url: Optional[str]) -> int:
    """How many application records the demo seed imported into ``database_url`` (0 when it cannot tell)."""
    if not database_url:
        return 0
    import sqlalchemy as sa

    from bot.applications.records import DEMO_SEED_SOURCE
    from bot.db import to_sync_url

    engine = sa.create_engine(to_sync_url(database_url))
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("application_changes"):
                return 0
            return int(conn.execute(sa.text(
                "SELECT count(DISTINCT application_id) FROM application_changes "
                "WHERE field = 'created' AND source LIKE :seed"), {"seed": DEMO_SEED_SOURCE + "%"}).scalar() or 0)
    finally:
        engine.dispose()


def refusal(knowledge_dir: Path, database_url: Optional[str] = None,
            environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The reason a production start must not go on, or None. Demo data is allowed only by ALLOW_ENV=1."""
    environ = os.environ if environ is None else environ
    entries = demo_entries(knowledge_dir)
    try:
        records = demo_records(database_url)
    except Exception as exc:  # an unreachable database fails the start on its own; say why we could not check
        print(f"demo data check: could not read the database ({type(exc).__name__}); "
              f"checking the knowledge files only", file=sys.stderr)
        records = 0
    if not entries and not records:
        return None
    lines = [f"  {e}" for e in entries]
    if records:
        lines.append(f"  database: {records} demo application record(s) from the demo seed (make run)")
    if environ.get(ALLOW_ENV) == "1":
        print("WARNING: starting with demo data because " + ALLOW_ENV + "=1:\n" + "\n".join(lines),
              file=sys.stderr)
        return None
    return ("Refusing to start in production: demo data is present.\n" + "\n".join(lines) + "\n"
            "Replace it with the bureau's real data (README, Deployment: which files to replace; verify with "
            "`python -m bot kb check --production`), delete demo application records, "
            f"or set {ALLOW_ENV}=1 to run a demonstration on purpose.")


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m bot.demo_guard [--exec COMMAND...]``: check, then replace this process with COMMAND."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from bot.settings import get_settings

    settings = get_settings()
    reason = refusal(settings.knowledge_dir, os.environ.get("HUIMIN_DATABASE_URL") or None)
    if reason:
        print(reason, file=sys.stderr)
        return EXIT_REFUSED
    if argv[:1] == ["--exec"] and len(argv) > 1:
        os.execvp(argv[1], argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
