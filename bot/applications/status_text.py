"""What each application status means for the resident, from knowledge/application_status.yml."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ruamel.yaml import YAML

from bot.applications.statuses import STATUS_WORDS
from bot.settings import get_settings

FILE_NAME = "application_status.yml"


@dataclass(frozen=True)
class StatusText:
    label: str
    meaning: str
    with_note: Optional[str] = None

    def render(self, program: str, note: str = "") -> str:
        note = (note or "").strip()
        template = self.with_note if note and self.with_note else self.meaning
        return template.replace("{program}", program).replace("{note}", note)


_cache: Dict[Path, tuple] = {}


def _texts(raw: dict, base: Optional[Dict[str, StatusText]] = None) -> Dict[str, StatusText]:
    """Status texts of one section; a programme's section only overrides meaning/with_note of the shared ones."""
    out = dict(base or {})
    for code, v in (raw or {}).items():
        if code == "sources" or not isinstance(v, dict):
            continue
        shared = out.get(code)
        out[code] = StatusText(label=str(v.get("label") or (shared.label if shared else code)),
                               meaning=str(v.get("meaning") or (shared.meaning if shared else "")).strip(),
                               with_note=(str(v["with_note"]).strip() if v.get("with_note") else None))
    return out


def _load(knowledge_dir: Optional[Path]) -> Tuple[Dict[str, StatusText], Dict[str, Dict[str, StatusText]]]:
    """(shared texts, per-programme texts); re-read when the file changes, so an edit shows without a restart."""
    path = Path(knowledge_dir or get_settings().knowledge_dir) / FILE_NAME
    mtime = path.stat().st_mtime_ns
    cached = _cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    shared = _texts(data.get("statuses") or {})
    per_program = {str(pid): _texts(section, shared) for pid, section in (data.get("programs") or {}).items()
                   if isinstance(section, dict)}
    _cache[path] = (mtime, (shared, per_program))
    return shared, per_program


def load_status_texts(knowledge_dir: Optional[Path] = None, program_id: Optional[str] = None
                      ) -> Dict[str, StatusText]:
    """What each status means; for ``program_id``, its own wording where it differs (临时救助 is one-off)."""
    shared, per_program = _load(knowledge_dir)
    return per_program.get(program_id or "", shared)


def check(knowledge_dir: Optional[Path] = None) -> List[str]:
    """Problems in the file (for tests and the knowledge check): every status needs a label and a meaning."""
    try:
        texts, per_program = _load(knowledge_dir)
    except Exception as exc:  # a broken file is reported, not raised
        return [f"{FILE_NAME}: cannot be read: {exc}"]
    problems = _check_texts(texts)
    for pid, own in per_program.items():
        problems += [f"{p} (programs.{pid})" for p in _check_texts(own) if "has no text" not in p]
    return problems


def _check_texts(texts: Dict[str, StatusText]) -> List[str]:
    problems = []
    for code in STATUS_WORDS:
        if code not in texts:
            problems.append(f"{FILE_NAME}: status '{code}' has no text")
        elif not texts[code].label or not texts[code].meaning:
            problems.append(f"{FILE_NAME}: status '{code}' needs a label and a meaning")
    for code, text in texts.items():
        if code not in STATUS_WORDS:
            problems.append(f"{FILE_NAME}: unknown status '{code}'")
        for template in filter(None, (text.meaning, text.with_note)):
            stripped = template.replace("{program}", "").replace("{note}", "")
            if "{" in stripped or "}" in stripped:
                problems.append(f"{FILE_NAME}: status '{code}': only {{program}} and {{note}} can be used")
    for code, text in texts.items():
        if "{note}" in text.meaning:
            problems.append(f"{FILE_NAME}: status '{code}': {{note}} belongs in with_note, not meaning")
    return problems


def kb_check(knowledge_dir: Path) -> list:
    """Run by ``python -m bot kb check`` through bot/applications/knowledge_plugin.py."""
    from bot.knowledge.schema import Problem

    path = Path(knowledge_dir) / FILE_NAME
    if not path.exists():
        return [Problem(str(path), 1, "申请进度说明文件不存在（每个状态的含义和下一步）")]
    return [Problem(str(path), 1, message) for message in check(knowledge_dir)] + _sourcing(knowledge_dir, path)


def _sourcing(knowledge_dir: Path, path: Path) -> list:
    """The shared texts and each programme's own carry sources; programme ids exist; no editor's notes."""
    from ruamel.yaml.comments import CommentedMap

    from bot.knowledge import integrity
    from bot.knowledge.schema import FileChecker, check_sources, line_of

    problems: list = []
    fc = FileChecker(str(path), problems)
    try:
        doc = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except Exception:  # reported by check()
        return problems
    if not isinstance(doc, CommentedMap):
        return problems
    check_sources(fc, doc, aspect_ids=tuple(STATUS_WORDS))
    integrity.text_problems(fc, doc)
    programs = doc.get("programs")
    known = {p.stem for p in (Path(knowledge_dir) / "programs").glob("*.yml")}
    for pid, section in (programs.items() if isinstance(programs, CommentedMap) else []):
        if pid not in known:
            fc.add(line_of(programs, pid), f"programs.{pid}：没有这个项目（programs/{pid}.yml）", f"programs.{pid}")
        if isinstance(section, CommentedMap):
            for code in section:
                if code != "sources" and code not in STATUS_WORDS:
                    fc.add(line_of(section, code), f"programs.{pid}.{code} 不是已知的状态", f"programs.{pid}")
            check_sources(fc, section, f"programs.{pid}.", aspect_ids=tuple(STATUS_WORDS))
    return problems


def demo_notice(knowledge_dir: Optional[Path] = None) -> str:
    """What a resident reads after the status of a demo record (the file's ``demo_notice``)."""
    path = Path(knowledge_dir or get_settings().knowledge_dir) / FILE_NAME
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    return str(data.get("demo_notice") or "").strip()

