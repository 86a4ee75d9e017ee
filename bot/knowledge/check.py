"""``python -m bot kb check``: every problem of the knowledge base, as ``file:line: message``.

Other capabilities keep their own files in ``knowledge/`` (the bookable catalogue) and register a checker
here: a dotted path ``module:function`` taking the knowledge directory and returning a list of ``Problem``.
A module that does not exist (yet) is skipped, so a checkout without that capability still checks.
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Callable, List, Mapping, Optional

from bot.knowledge import integrity
from bot.knowledge.loader import display_path, read_documents, validate_documents
from bot.knowledge.schema import Problem

logger = logging.getLogger(__name__)

EXTRA_CHECKS: List[str] = ["bot.booking.catalogue:check", "bot.applications.status_text:kb_check",
                           "bot.knowledge.operational:check", "bot.understanding.lexicon:check"]


def _resolve(dotted: str) -> Optional[Callable]:
    module_name, _, attr = dotted.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None  # the capability is not in this checkout
        raise
    return getattr(module, attr, None)


def extra_problems(knowledge_dir: Path) -> List[Problem]:
    problems: List[Problem] = []
    for dotted in EXTRA_CHECKS:
        func = _resolve(dotted)
        if func is None:
            continue
        try:
            problems.extend(func(Path(knowledge_dir)))
        except Exception as exc:  # one broken checker must not hide everyone else's problems
            logger.exception("knowledge check %s failed", dotted)
            problems.append(Problem(str(knowledge_dir), 1, f"检查 {dotted} 自身出错：{exc}"))
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
