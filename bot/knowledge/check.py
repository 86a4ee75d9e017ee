"""``python -m bot kb check``: every problem of the knowledge base, as ``file:line: message``.

Other capabilities keep their own files in ``knowledge/`` (the bookable catalogue, status texts, the
understanding lexicon) and check them in a ``bot/<capability>/knowledge_plugin.py`` offering
``check(knowledge_dir) -> List[Problem]`` (and, when it reads the knowledge loader's own files too,
``check_file(knowledge_dir, relpath, text)`` for one file's unsaved text) — found the way every capability
plug-in is (``bot.capability_modules``), so a checkout without that capability still checks.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, List, Mapping, Optional, Tuple

import bot
from bot.knowledge import integrity, operational
from bot.knowledge.loader import display_path, read_documents, validate_documents
from bot.knowledge.schema import Problem

logger = logging.getLogger(__name__)

PLUGIN = "knowledge_plugin"


def _checkers() -> List[Tuple[str, Callable]]:
    """(name, check) of the knowledge base's own operational files, then of every capability's plug-in."""
    found = [("bot.knowledge.operational", operational.check)]
    for module in bot.capability_modules(PLUGIN):
        if callable(getattr(module, "check", None)):
            found.append((module.__name__, module.check))
    return found


def extra_problems(knowledge_dir: Path) -> List[Problem]:
    problems: List[Problem] = []
    for name, func in _checkers():
        try:
            problems.extend(func(Path(knowledge_dir)))
        except Exception as exc:  # one broken checker must not hide everyone else's problems
            logger.exception("knowledge check %s failed", name)
            problems.append(Problem(str(knowledge_dir), 1, f"检查 {name} 自身出错：{exc}"))
    return problems


def file_problems(knowledge_dir: Path, relpath: str, text: Optional[str]) -> List[Problem]:
    """The plug-ins' problems of one file as ``text`` would make it (``None``: as saved): what the editor needs
    when it checks an unsaved entry against the other checks' problems of the saved directory."""
    problems: List[Problem] = []
    for module in bot.capability_modules(PLUGIN):
        func = getattr(module, "check_file", None)
        if not callable(func):
            continue
        try:
            problems.extend(func(Path(knowledge_dir), relpath, text))
        except Exception as exc:  # as above: report, never hide the rest
            logger.exception("knowledge check %s failed", module.__name__)
            problems.append(Problem(str(knowledge_dir), 1, f"检查 {module.__name__} 自身出错：{exc}"))
    return problems


def check_knowledge(knowledge_dir: Path, overrides: Optional[Mapping[Path, str]] = None,
                    extras: bool = True) -> List[Problem]:
    """All problems of the knowledge base in ``knowledge_dir``; ``overrides`` validates unsaved file texts."""
    problems: List[Problem] = []
    docs = read_documents(Path(knowledge_dir), problems, overrides)
    validate_documents(docs, problems)
    integrity.check_documents(docs, problems, display_path)
    if extras:
        problems.extend(extra_problems(Path(knowledge_dir)))
    return sorted(problems, key=lambda p: (p.file, p.line, p.message))
