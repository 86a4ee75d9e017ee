"""One name, one entry — across programmes, the service list and the bookable services.

``kb check`` (via ``bot/knowledge/operational.py``) reports a name or alias that belongs to a programme or a
service-list item *and* to a bookable service, unless ``knowledge/shared_names.yml`` lists it as a reviewed
exception: a name that truly covers both (长者饭堂 is the meal-subsidy programme and the canteen one books).
For such a name the answer says which entry it chose and how to reach the other (``note_for``).
Programme-vs-programme and service-vs-service clashes are reported by the schema and the catalogue.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.knowledge import integrity
from bot.knowledge.schema import FileChecker, Problem, line_of, value_line
from bot.knowledge.text import normalize_key

SHARED_NAMES_FILE = "shared_names.yml"


@dataclass(frozen=True)
class SharedName:
    name: str
    program: str
    service: str
    note: str


def _yaml(path: Path) -> Any:
    return YAML(typ="rt").load(path.read_text(encoding="utf-8"))


def _names(doc: Any) -> List[Tuple[str, int]]:
    out: List[Tuple[str, int]] = []
    if not isinstance(doc, CommentedMap):
        return out
    for key in ("name", "short_name"):
        if isinstance(doc.get(key), str):
            out.append((doc[key], value_line(doc, key)))
    aliases = doc.get("aliases")
    if isinstance(aliases, CommentedSeq):
        out += [(a, line_of(aliases, i)) for i, a in enumerate(aliases) if isinstance(a, str)]
    return out


def _topic_names(knowledge_dir: Path) -> Dict[str, Tuple[str, str, str, int]]:
    """normalised name → (entry id, kind, file, line) for programmes and service-list items."""
    out: Dict[str, Tuple[str, str, str, int]] = {}
    for path in sorted((knowledge_dir / "programs").glob("*.yml")):
        try:
            doc = _yaml(path)
        except Exception:  # the schema check reports unreadable files
            continue
        if isinstance(doc, CommentedMap) and isinstance(doc.get("id"), str):
            for name, line in _names(doc):
                out.setdefault(normalize_key(name), (doc["id"], "program", str(path), line))
    path = knowledge_dir / "elderly_service_list.yml"
    try:
        doc = _yaml(path) if path.exists() else None
    except Exception:
        doc = None
    if isinstance(doc, CommentedMap) and isinstance(doc.get("id"), str):
        for name, line in _names(doc):
            out.setdefault(normalize_key(name), (doc["id"], "service_list", str(path), line))
    items = doc.get("items") if isinstance(doc, CommentedMap) else None
    for item in items if isinstance(items, CommentedSeq) else []:
        if isinstance(item, CommentedMap) and isinstance(item.get("id"), str):
            for name, line in _names(item):
                # An item that shares its programme's name is the programme (schema.cross_check allows it).
                out.setdefault(normalize_key(name), (item["id"], "item", str(path), line))
    return out


def _service_names(knowledge_dir: Path) -> List[Tuple[str, str, str, str, int]]:
    """(normalised name, name, service id, file, line) for the bookable services."""
    out = []
    for path in sorted((knowledge_dir / "services").glob("*.yml")):
        try:
            doc = _yaml(path)
        except Exception:
            continue
        if isinstance(doc, CommentedMap) and isinstance(doc.get("id"), str):
            out += [(normalize_key(n), n, doc["id"], str(path), line) for n, line in _names(doc)]
    return out


def _read_exceptions(knowledge_dir: Path, fc: Optional[FileChecker]) -> List[Tuple[SharedName, int]]:
    path = knowledge_dir / SHARED_NAMES_FILE
    if not path.exists():
        return []
    try:
        doc = _yaml(path)
    except Exception as exc:
        if fc:
            fc.add(1, f"不是合法的 YAML：{exc}")
        return []
    seq = doc.get("shared_names") if isinstance(doc, CommentedMap) else None
    if not isinstance(seq, CommentedSeq):
        if fc:
            fc.add(1, "shared_names.yml 应有 shared_names 列表")
        return []
    out = []
    for i, entry in enumerate(seq):
        line = line_of(seq, i)
        keys = ("name", "program", "service", "note", "reviewed_on", "reviewed_by")
        if not isinstance(entry, CommentedMap) or not all(
                isinstance(entry.get(k), str) and entry[k].strip() for k in keys if k != "reviewed_on"
        ) or not entry.get("reviewed_on"):
            if fc:
                fc.add(line, "每一项要写 name、program、service、note（告诉居民选了哪个）、reviewed_on、reviewed_by")
            continue
        out.append((SharedName(entry["name"].strip(), entry["program"].strip(), entry["service"].strip(),
                               entry["note"].strip()), line))
    return out


def check(knowledge_dir: Path) -> List[Problem]:
    knowledge_dir = Path(knowledge_dir)
    problems: List[Problem] = []
    exceptions_file = str(knowledge_dir / SHARED_NAMES_FILE)
    fc = FileChecker(exceptions_file, problems)
    exceptions = _read_exceptions(knowledge_dir, fc)
    allowed = {(normalize_key(e.name), e.program, e.service) for e, _ in exceptions}
    topics = _topic_names(knowledge_dir)
    seen_shared = set()
    for norm, name, service_id, file, line in _service_names(knowledge_dir):
        owner = topics.get(norm)
        if owner is None:
            continue
        entry_id, kind, owner_file, owner_line = owner
        if (norm, entry_id, service_id) in allowed:
            seen_shared.add((norm, entry_id, service_id))
            continue
        problems.append(Problem(file, line, f"“{name}”既是可预约服务 {service_id} 的叫法，又是 {entry_id} 的叫法"
                                            f"（{owner_file}:{owner_line}）：一个叫法只能属于一个条目。真的两者都指，"
                                            f"请在 {SHARED_NAMES_FILE} 登记并写明回答时选哪个", "aliases"))
    if (knowledge_dir / SHARED_NAMES_FILE).exists():
        try:
            integrity.text_problems(fc, _yaml(knowledge_dir / SHARED_NAMES_FILE),
                                    skip=integrity.NOT_SHOWN | {"name", "program", "service", "reviewed_by"})
        except Exception:  # unreadable: already reported by _read_exceptions
            pass
    for e, line in exceptions:
        if (normalize_key(e.name), e.program, e.service) not in seen_shared:
            fc.add(line, f"“{e.name}”并不同时是项目 {e.program} 和服务 {e.service} 的叫法，这一项可以删掉")
    return problems


_cache: Dict[str, Tuple[float, List[SharedName]]] = {}


def shared_names(knowledge_dir: Path) -> List[SharedName]:
    """The reviewed exceptions, re-read when the file changes (editors change it while the bot runs)."""
    path = Path(knowledge_dir) / SHARED_NAMES_FILE
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return []
    hit = _cache.get(str(path))
    if hit and hit[0] == stamp:
        return hit[1]
    names = [e for e, _ in _read_exceptions(Path(knowledge_dir), None)]
    _cache[str(path)] = (stamp, names)
    return names


def note_for(knowledge_dir: Path, said: Optional[str], program_id: str, program_names: Sequence[str] = ()
             ) -> Optional[str]:
    """The note telling the resident which entry a shared name was taken as, when their message used one.
    Longest name wins, as in the NLU phrase matcher: 老年助餐 is the programme's own name, not the shared 助餐."""
    key = normalize_key(said or "")
    shared = {normalize_key(e.name): e for e in shared_names(knowledge_dir) if e.program == program_id}
    if not key or not shared:
        return None
    spans = []
    for name in set(shared) | {normalize_key(n) for n in program_names}:
        start = key.find(name) if name else -1
        while start >= 0:
            spans.append((start, start + len(name), name))
            start = key.find(name, start + 1)
    kept: List[Tuple[int, int, str]] = []
    for start, end, name in sorted(spans, key=lambda s: (-(s[1] - s[0]), s[0])):
        if all(end <= a or start >= b for a, b, _ in kept):
            kept.append((start, end, name))
    hit = next((shared[name] for _, _, name in sorted(kept) if name in shared), None)
    return hit.note if hit else None
