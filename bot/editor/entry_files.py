"""Which editable entries the knowledge directory holds, and where each one lives in which file.

An entry is either a whole file (a programme, a bookable service, a site, a locality overlay: the file's
top-level mapping) or one item of a list inside a file (the 16 items of the national service list). Entries
are found from the files every time, so that an editor and someone editing ``knowledge/`` by hand always
see the same thing.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.editor import yamlio


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    pattern: str          # glob relative to the knowledge directory
    items: bool = False   # entries are the items of a list inside the file
    new_dir: str = ""     # where a new entry of this kind is created (whole-file kinds)


KINDS: Dict[str, Kind] = {k.name: k for k in [
    Kind("program", "政策项目", "programs/*.yml", new_dir="programs"),
    Kind("service_item", "基本养老服务清单", "elderly_service_list.yml", items=True),
    Kind("service", "可预约服务", "services/*.yml", new_dir="services"),
    Kind("site", "服务站点", "sites/*.yml", new_dir="sites"),
    Kind("locality", "地方规定", "localities/*.yml", new_dir="localities"),
]}

# Where the list of items sits in an items file, in order of preference.
ITEM_LIST_KEYS = ("items", "services", "entries")


@dataclass
class Located:
    """An entry found in a loaded file: the node to edit and enough to find it again."""
    kind: str
    id: str
    file: str                       # relative to the knowledge directory, with forward slashes
    list_path: Tuple[Any, ...] = () # keys from the file root to the item list (items kinds)
    node: Any = None
    doc: Any = None                 # the whole loaded file
    yaml: Any = None
    text: str = ""                  # the file's text
    parent_review: Optional[dict] = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def whole_file(self) -> bool:
        return not self.list_path

    def entry_text(self) -> str:
        """The entry's own YAML: the file for whole-file entries, the item alone otherwise."""
        return self.text if self.whole_file else yamlio.dump(self.node, self.yaml)


def version_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _item_list(doc: Any) -> Tuple[Tuple[Any, ...], Optional[CommentedSeq]]:
    if not isinstance(doc, CommentedMap):
        return (), None
    keys = [k for k in ITEM_LIST_KEYS if k in doc] + [k for k in doc if k not in ITEM_LIST_KEYS]
    for key in keys:
        value = doc[key]
        if isinstance(value, CommentedSeq) and value and all(isinstance(v, CommentedMap) and "id" in v for v in value):
            return (key,), value
        # One level of grouping (e.g. categories, each with its items).
        if isinstance(value, CommentedSeq) and value and all(isinstance(v, CommentedMap) for v in value):
            for gi, group in enumerate(value):
                for sub in ITEM_LIST_KEYS:
                    inner = group.get(sub)
                    if isinstance(inner, CommentedSeq) and inner and all(
                            isinstance(v, CommentedMap) and "id" in v for v in inner):
                        return (key, gi, sub), None  # grouped: handled by _walk_items
    return (), None


def _walk_items(doc: Any) -> Iterator[Tuple[Tuple[Any, ...], int, CommentedMap]]:
    """Every (list path, index, item) of an items file, flat or grouped one level deep."""
    path, flat = _item_list(doc)
    if flat is not None:
        for i, item in enumerate(flat):
            yield path, i, item
        return
    if not path:
        return
    groups = doc[path[0]]
    for gi, group in enumerate(groups):
        for sub in ITEM_LIST_KEYS:
            inner = group.get(sub) if isinstance(group, CommentedMap) else None
            if isinstance(inner, CommentedSeq):
                for i, item in enumerate(inner):
                    if isinstance(item, CommentedMap) and "id" in item:
                        yield (path[0], gi, sub), i, item


def resolve(doc: Any, list_path: Tuple[Any, ...]) -> Any:
    node = doc
    for key in list_path:
        node = node[key]
    return node


def kind_files(knowledge_dir: Path, kind: Kind) -> List[Path]:
    return sorted(p for p in knowledge_dir.glob(kind.pattern) if p.is_file())


def rel(knowledge_dir: Path, path: Path) -> str:
    return path.relative_to(knowledge_dir).as_posix()


def load_file(knowledge_dir: Path, relpath: str) -> Tuple[str, Any, Any]:
    text = (knowledge_dir / relpath).read_text(encoding="utf-8")
    y = yamlio.make_yaml(text)
    return text, yamlio.load(text, y), y


# Parsed entries per file, reused while the file's mtime and size stay the same (round-trip parsing of every
# file for each list request would be slow). Callers treat cached nodes as read-only.
_cache: Dict[str, Tuple[Tuple[int, int], List[Located]]] = {}


def entries_in_file(knowledge_dir: Path, kind: Kind, path: Path) -> List[Located]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return []
    key = f"{kind.name}:{path.resolve()}"
    sig = (st.st_mtime_ns, st.st_size)
    hit = _cache.get(key)
    if hit is not None and hit[0] == sig:
        return hit[1]
    entries = _parse_entries(knowledge_dir, kind, path)
    _cache[key] = (sig, entries)
    return entries


def _parse_entries(knowledge_dir: Path, kind: Kind, path: Path) -> List[Located]:
    relpath = rel(knowledge_dir, path)
    try:
        text, doc, y = load_file(knowledge_dir, relpath)
    except yamlio.YamlError:
        # A hand-edited file that no longer parses still shows up, so an editor can repair it in raw view.
        text = path.read_text(encoding="utf-8")
        return [Located(kind.name, path.stem, relpath, (), None, None, yamlio.make_yaml(text), text)]
    if kind.items:
        out = []
        parent_review = doc.get("review") if isinstance(doc, CommentedMap) else None
        for list_path, _, item in _walk_items(doc):
            out.append(Located(kind.name, str(item["id"]), relpath, list_path, item, doc, y, text,
                               parent_review=parent_review))
        return out
    entry_id = str(doc["id"]) if isinstance(doc, CommentedMap) and "id" in doc else path.stem
    return [Located(kind.name, entry_id, relpath, (), doc, doc, y, text)]


def all_entries(knowledge_dir: Path) -> List[Located]:
    out: List[Located] = []
    for kind in KINDS.values():
        for path in kind_files(knowledge_dir, kind):
            out.extend(entries_in_file(knowledge_dir, kind, path))
    return out


def find(knowledge_dir: Path, kind_name: str, entry_id: str) -> Optional[Located]:
    kind = KINDS.get(kind_name)
    if kind is None:
        return None
    for path in kind_files(knowledge_dir, kind):
        for entry in entries_in_file(knowledge_dir, kind, path):
            if entry.id == entry_id:
                return entry
    return None


def locate_in(doc: Any, located: Located) -> Any:
    """The same entry inside another loaded copy of its file."""
    if located.whole_file:
        return doc
    container = resolve(doc, located.list_path)
    for item in container:
        if isinstance(item, CommentedMap) and str(item.get("id")) == located.id:
            return item
    return None


@dataclass
class Summary:
    kind: str
    id: str
    file: str
    name: str
    aliases: List[str] = field(default_factory=list)
    status: str = "unverified"
    reviewed_on: Optional[str] = None
    reviewed_by: Optional[str] = None
    broken: bool = False
    expired: bool = False  # past its valid_until: listed as unverified until an editor updates it

    def to_json(self) -> dict:
        return {"kind": self.kind, "kind_label": KINDS[self.kind].label, "id": self.id, "file": self.file,
                "name": self.name, "aliases": self.aliases, "status": self.status,
                "reviewed_on": self.reviewed_on, "reviewed_by": self.reviewed_by, "broken": self.broken,
                "expired": self.expired}


def summarize(entry: Located) -> Summary:
    node = entry.node
    if not isinstance(node, CommentedMap):
        return Summary(entry.kind, entry.id, entry.file, entry.id, broken=True)
    review = node.get("review") if isinstance(node.get("review"), dict) else (entry.parent_review or {})
    aliases = [str(a) for a in (node.get("aliases") or []) if isinstance(a, str)]
    short = node.get("short_name")
    if isinstance(short, str) and short not in aliases:
        aliases.insert(0, str(short))
    reviewed_on = review.get("reviewed_on") if isinstance(review, dict) else None
    valid_until = node.get("valid_until")
    expired = valid_until is not None and str(yamlio.to_plain(valid_until)) < dt.date.today().isoformat()
    status = str(review.get("status") or "unverified") if isinstance(review, dict) else "unverified"
    return Summary(
        kind=entry.kind, id=entry.id, file=entry.file,
        name=str(node.get("name") or node.get("title") or entry.id), aliases=aliases,
        status="unverified" if expired else status, expired=expired,
        reviewed_on=yamlio.to_plain(reviewed_on) if reviewed_on is not None else None,
        reviewed_by=str(review.get("reviewed_by")) if isinstance(review, dict) and review.get("reviewed_by") else None,
    )
