"""What each application status means for the resident, from knowledge/application_status.yml."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

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


def load_status_texts(knowledge_dir: Optional[Path] = None) -> Dict[str, StatusText]:
    """Re-read when the file changes, so an editor's change shows without a restart."""
    path = Path(knowledge_dir or get_settings().knowledge_dir) / FILE_NAME
    mtime = path.stat().st_mtime_ns
    cached = _cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    texts = {code: StatusText(label=str(v["label"]), meaning=str(v["meaning"]).strip(),
                              with_note=(str(v["with_note"]).strip() if v.get("with_note") else None))
             for code, v in (data.get("statuses") or {}).items()}
    _cache[path] = (mtime, texts)
    return texts


def check(knowledge_dir: Optional[Path] = None) -> List[str]:
    """Problems in the file (for tests and the knowledge check): every status needs a label and a meaning."""
    try:
        texts = load_status_texts(knowledge_dir)
    except Exception as exc:  # a broken file is reported, not raised
        return [f"{FILE_NAME}: cannot be read: {exc}"]
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
    """Registered with ``python -m bot kb check`` (bot/knowledge/check.py EXTRA_CHECKS)."""
    from bot.knowledge.schema import Problem

    path = Path(knowledge_dir) / FILE_NAME
    if not path.exists():
        return [Problem(str(path), 1, "申请进度说明文件不存在（每个状态的含义和下一步）")]
    return [Problem(str(path), 1, message) for message in check(knowledge_dir)]
