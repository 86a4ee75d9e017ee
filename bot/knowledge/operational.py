"""``kb check`` for the operational files residents also read: bookable services (``services/*.yml``), the
human-service offices (``offices.yml``) and the application-status texts (``application_status.yml``).
Each is held to the same rule as a programme: what it states is sourced (or marked 待核实 claim by claim), and
none of it shows an internal path or an editor's note. Registered in ``bot/knowledge/check.py``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

from ruamel.yaml import YAML

from bot.knowledge import integrity, names
from bot.knowledge.schema import FileChecker, Problem, validate_service_facts


def read(path: Path, fc: FileChecker) -> Optional[Any]:
    try:
        return YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except Exception as exc:  # reported as a problem: kb check lists everything wrong at once
        fc.add(getattr(getattr(exc, "problem_mark", None), "line", 0) + 1, f"不是合法的 YAML：{exc}")
        return None


def display(knowledge_dir: Path, path: Path) -> str:
    try:
        return str(path.relative_to(Path(knowledge_dir).parent))
    except ValueError:
        return str(path)


def check_services(knowledge_dir: Path) -> List[Problem]:
    problems: List[Problem] = []
    publishers = integrity.load_publishers(knowledge_dir, problems)
    for path in sorted((Path(knowledge_dir) / "services").glob("*.yml")):
        fc = FileChecker(display(knowledge_dir, path), problems)
        doc = read(path, fc)
        if doc is None:
            continue
        validate_service_facts(fc, doc)
        integrity.text_problems(fc, doc)
        integrity.source_problems(fc, doc, publishers)
    return problems


def check(knowledge_dir: Path) -> List[Problem]:
    """Every problem of the operational files (registered with ``python -m bot kb check``)."""
    return check_services(knowledge_dir) + names.check(knowledge_dir)
