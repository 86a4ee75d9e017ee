"""Programme names and ids from the knowledge base (bot.knowledge.loader), for the import and the answers."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Optional

from bot.settings import get_settings


def _load(knowledge_dir: Optional[Path] = None) -> Any:
    from bot.knowledge.loader import load_knowledge

    return load_knowledge(Path(knowledge_dir or get_settings().knowledge_dir))


def _programs(kb: Any) -> Iterable[Any]:
    programs = getattr(kb, "programs", None) or []
    return programs.values() if isinstance(programs, dict) else programs


def _id_of(program: Any) -> Optional[str]:
    if program is None:
        return None
    if isinstance(program, str):
        return program
    return getattr(program, "id", None) or (program.get("id") if isinstance(program, dict) else None)


def _name_of(program: Any) -> Optional[str]:
    name = getattr(program, "name", None)
    if name is None and isinstance(program, dict):
        name = program.get("name")
    return name


class ProgramCatalogue:
    """Resolves a programme id, name or alias to its id, and an id to its display name."""

    def __init__(self, kb: Any) -> None:
        self._kb = kb
        self._names: Dict[str, str] = {}
        for program in _programs(kb):
            pid = _id_of(program)
            if pid:
                self._names[pid] = _name_of(program) or pid

    @classmethod
    def load(cls, knowledge_dir: Optional[Path] = None) -> "ProgramCatalogue":
        return cls(_load(knowledge_dir))

    def resolve(self, text: str) -> Optional[str]:
        text = (text or "").strip()
        if not text:
            return None
        if text in self._names:
            return text
        if text.lower() in self._names:
            return text.lower()
        return _id_of(self._kb.find_program(text))

    def name(self, program_id: str) -> str:
        return self._names.get(program_id, program_id)

    def ids(self) -> Iterable[str]:
        return self._names.keys()


def catalogue_resolver(knowledge_dir: Optional[Path] = None) -> Callable[[str], Optional[str]]:
    return ProgramCatalogue.load(knowledge_dir).resolve
