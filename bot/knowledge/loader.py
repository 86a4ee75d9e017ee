"""Loading the knowledge base (``knowledge/``) into immutable dataclasses, and keeping it fresh in a process.

Files read here: ``programs/*.yml``, ``localities/*.yml``, ``elderly_service_list.yml``, ``aspects.yml`` and
``answer_templates.yml``. Everything else in ``knowledge/`` belongs to other capabilities (the bookable
catalogue in ``services/`` and ``sites/``, the handoff offices) and is ignored.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from bot.knowledge import schema
from bot.knowledge.schema import ASPECT_IDS, FileChecker, Problem
from bot.knowledge.text import normalize_key

logger = logging.getLogger(__name__)

PROGRAMS_DIR = "programs"
LOCALITIES_DIR = "localities"
SERVICE_LIST_FILE = "elderly_service_list.yml"
ASPECTS_FILE = "aspects.yml"
TEMPLATES_FILE = "answer_templates.yml"


class KnowledgeError(ValueError):
    """The knowledge base does not validate; ``problems`` says where and why."""

    def __init__(self, problems: List[Problem]):
        self.problems = problems
        shown = "\n".join(str(p) for p in problems[:10])
        more = f"\n… and {len(problems) - 10} more" if len(problems) > 10 else ""
        super().__init__(f"knowledge base has {len(problems)} problem(s):\n{shown}{more}")


# ---------------------------------------------------------------------------------------------------------
# The model

@dataclass(frozen=True)
class Source:
    title: str
    url: Optional[str] = None
    date: Optional[str] = None
    aspects: Tuple[str, ...] = ()  # the aspects this source backs; empty = the whole entry

    def backs(self, aspect: Optional[str]) -> bool:
        return not self.aspects or aspect is None or aspect in self.aspects


@dataclass(frozen=True)
class Review:
    status: str
    reviewed_on: Optional[str] = None
    reviewed_by: Optional[str] = None
    unverified_aspects: Tuple[str, ...] = ()
    note: Optional[str] = None

    @property
    def verified(self) -> bool:
        return self.status == "verified"

    def aspect_verified(self, aspect: Optional[str]) -> bool:
        return self.verified and aspect not in self.unverified_aspects


@dataclass(frozen=True)
class Program:
    id: str
    name: str
    short_name: str
    aliases: Tuple[str, ...]
    summary: str
    aspects: Mapping[str, str]
    related: Tuple[str, ...]
    example_questions: Mapping[str, Tuple[str, ...]]
    sources: Tuple[Source, ...]
    review: Review
    kind: str = "program"  # "group": answers by combining its members
    members: Tuple[str, ...] = ()
    redirect_department: Optional[str] = None  # handled outside civil affairs (e.g. 医保)
    valid_until: Optional[str] = None  # last day of a fixed-period policy (YYYY-MM-DD)
    file: Optional[Path] = None

    @property
    def is_group(self) -> bool:
        return self.kind == "group"

    @property
    def names(self) -> Tuple[str, ...]:
        return (self.name, self.short_name) + self.aliases


@dataclass(frozen=True)
class Category:
    id: str
    name: str


@dataclass(frozen=True)
class ServiceItem:
    id: str
    name: str
    aliases: Tuple[str, ...]
    target: str
    content: str
    sources: Tuple[Source, ...]
    review: Review
    program: Optional[str] = None
    category: Optional[str] = None
    category_verified: bool = False

    @property
    def names(self) -> Tuple[str, ...]:
        return (self.name,) + self.aliases


@dataclass(frozen=True)
class ServiceList:
    id: str
    name: str
    short_name: str
    aliases: Tuple[str, ...]
    document_title: str
    document_issuers: str
    document_date: str
    item_count: int
    categories: Tuple[Category, ...]
    summary: str
    rules: str
    full_list_hint: str
    items: Mapping[str, ServiceItem]
    example_questions: Tuple[str, ...]
    sources: Tuple[Source, ...]
    review: Review

    @property
    def names(self) -> Tuple[str, ...]:
        return (self.name, self.short_name) + self.aliases

    def category(self, category_id: Optional[str]) -> Optional[Category]:
        return next((c for c in self.categories if c.id == category_id), None)


@dataclass(frozen=True)
class LocalEntry:
    """A locality's additions to one national programme (or to the service list: ``aspects`` empty)."""
    aspects: Mapping[str, str]
    sources: Tuple[Source, ...]
    review: Review
    note: Optional[str] = None


@dataclass(frozen=True)
class Locality:
    id: str
    name: str
    short_name: str
    aliases: Tuple[str, ...]
    contact: Optional[str]
    programs: Mapping[str, LocalEntry]
    service_list: Optional[LocalEntry] = None
    file: Optional[Path] = None

    @property
    def names(self) -> Tuple[str, ...]:
        return (self.name, self.short_name) + self.aliases


@dataclass(frozen=True)
class Aspect:
    id: str
    label: str
    button: str
    intent: str
    next: Tuple[str, ...]


@dataclass(frozen=True)
class KnowledgeBase:
    directory: Path
    programs: Mapping[str, Program]
    service_list: ServiceList
    localities: Mapping[str, Locality]
    aspects: Mapping[str, Aspect]  # includes "overview"; ordered as in aspects.yml
    overview_buttons: Tuple[str, ...]
    service_list_intent: str
    service_list_button: str
    templates: Mapping[str, Mapping[str, Any]]
    _program_index: Mapping[str, str] = field(default_factory=dict, repr=False)
    _locality_index: Mapping[str, str] = field(default_factory=dict, repr=False)
    _item_index: Mapping[str, str] = field(default_factory=dict, repr=False)
    _service_list_keys: Tuple[str, ...] = field(default=(), repr=False)

    # -- lookups ----------------------------------------------------------------------------------------
    def program(self, program_id: str) -> Program:
        return self.programs[program_id]

    def find_program(self, text: Optional[str]) -> Optional[Program]:
        """The programme (or group) that ``text`` names: an id, a name or an alias, in any script or width;
        for a longer sentence, the longest name it mentions."""
        pid = _lookup(self._program_index, text)
        return self.programs.get(pid) if pid else None

    def find_locality(self, text: Optional[str]) -> Optional[Locality]:
        lid = _lookup(self._locality_index, text)
        return self.localities.get(lid) if lid else None

    def find_service_item(self, text: Optional[str]) -> Optional[ServiceItem]:
        iid = _lookup(self._item_index, text)
        return self.service_list.items.get(iid) if iid else None

    def mentions_service_list(self, text: Optional[str]) -> bool:
        key = normalize_key(text or "")
        return bool(key) and any(k in key for k in self._service_list_keys)

    def aspect_for_intent(self, intent: Optional[str]) -> Optional[str]:
        return next((a.id for a in self.aspects.values() if a.intent == intent), None)

    def template(self, dotted: str) -> Any:
        section, key = dotted.split(".", 1)
        return self.templates[section][key]


def _lookup(index: Mapping[str, str], text: Optional[str]) -> Optional[str]:
    key = normalize_key(text or "")
    if not key:
        return None
    if key in index:
        return index[key]
    best: Optional[Tuple[int, int, str]] = None  # (-length, position, id)
    for phrase, target in index.items():
        pos = key.find(phrase)
        if pos >= 0:
            cand = (-len(phrase), pos, target)
            if best is None or cand < best:
                best = cand
    return best[2] if best else None


# ---------------------------------------------------------------------------------------------------------
# Reading files

def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    return y


def display_path(path: Path) -> str:
    """Paths in messages: relative to the working directory when inside it (clickable in a terminal)."""
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else str(path)
    except ValueError:
        return str(path)


def knowledge_files(directory: Path) -> List[Path]:
    """The files this loader reads (sorted); the hot-reload watch covers exactly these."""
    directory = Path(directory)
    files = [directory / ASPECTS_FILE, directory / TEMPLATES_FILE, directory / SERVICE_LIST_FILE]
    files += sorted((directory / PROGRAMS_DIR).glob("*.yml"))
    files += sorted((directory / LOCALITIES_DIR).glob("*.yml"))
    return files


def parse_yaml(path: Path, problems: List[Problem], text: Optional[str] = None) -> Any:
    """The round-trip document of ``path`` (or of ``text`` standing for it); syntax errors become problems."""
    name = display_path(path)
    try:
        if text is None:
            text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(Problem(name, 1, "文件不存在"))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(name, 1, f"无法读取文件：{exc}"))
        return None
    try:
        return _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problems.append(Problem(name, line, f"YAML 格式错误：{exc.problem or exc.context}"))
    except YAMLError as exc:
        problems.append(Problem(name, 1, f"YAML 格式错误：{exc}"))
    return None


# Parsing round-trip YAML is slow (pure Python, ~0.1 s a file); a reload after one edit re-parses that file only.
_PARSE_CACHE: "OrderedDict[Tuple[str, str, str], Tuple[Any, List[Problem]]]" = OrderedDict()
_PARSE_CACHE_SIZE = 512
_parse_lock = threading.Lock()


def _parse_cached(path: Path, problems: List[Problem]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return parse_yaml(path, problems)
    # Keyed by content, not mtime: two quick saves of the same size must never hit a stale parse.
    key = (str(path.resolve()), display_path(path), hashlib.sha1(text.encode("utf-8")).hexdigest())
    with _parse_lock:
        hit = _PARSE_CACHE.get(key)
        if hit is not None:
            _PARSE_CACHE.move_to_end(key)
    if hit is None:
        found: List[Problem] = []
        doc = parse_yaml(path, found, text)
        hit = (doc, found)
        with _parse_lock:
            _PARSE_CACHE[key] = hit
            while len(_PARSE_CACHE) > _PARSE_CACHE_SIZE:
                _PARSE_CACHE.popitem(last=False)
    problems.extend(hit[1])
    return hit[0]


@dataclass
class Documents:
    """The parsed documents of one knowledge directory, keyed by role."""
    directory: Path
    aspects: Any = None
    templates: Any = None
    service_list: Any = None
    programs: Dict[Path, Any] = field(default_factory=dict)
    localities: Dict[Path, Any] = field(default_factory=dict)


def read_documents(directory: Path, problems: List[Problem],
                   overrides: Optional[Mapping[Path, str]] = None) -> Documents:
    """Parses every knowledge file; ``overrides`` maps a path to unsaved text that replaces (or adds) that file,
    so an editor can validate a change in the context of the whole knowledge base before writing it."""
    directory = Path(directory)
    overrides = {Path(p).resolve(): t for p, t in (overrides or {}).items()}
    paths = set(p.resolve() for p in knowledge_files(directory)) | set(overrides)

    def load(path: Path) -> Any:
        rp = path.resolve()
        if rp in overrides:
            return parse_yaml(path, problems, overrides[rp])
        return _parse_cached(path, problems)

    docs = Documents(directory)
    docs.aspects = load(directory / ASPECTS_FILE)
    docs.templates = load(directory / TEMPLATES_FILE)
    docs.service_list = load(directory / SERVICE_LIST_FILE)
    for sub, target in ((PROGRAMS_DIR, docs.programs), (LOCALITIES_DIR, docs.localities)):
        folder = (directory / sub).resolve()
        for path in sorted(p for p in paths if p.parent == folder and p.suffix == ".yml"):
            target[path] = load(path)
    return docs


def validate_documents(docs: Documents, problems: List[Problem]) -> None:
    """Schema and cross-reference checks of the parsed documents (appends to ``problems``)."""
    d = docs.directory
    aspect_ids: List[str] = list(ASPECT_IDS)
    if docs.aspects is not None:
        aspect_ids = schema.validate_aspects(FileChecker(display_path(d / ASPECTS_FILE), problems), docs.aspects)
    if docs.templates is not None:
        schema.validate_templates(FileChecker(display_path(d / TEMPLATES_FILE), problems), docs.templates)
    entries: List[schema.Entry] = []
    if docs.service_list is not None:
        name = display_path(d / SERVICE_LIST_FILE)
        schema.validate_service_list(FileChecker(name, problems), docs.service_list)
        entries += schema.entries_of_service_list(name, docs.service_list)
    for path, doc in docs.programs.items():
        if doc is None:
            continue
        name = display_path(path)
        schema.validate_program(FileChecker(name, problems), doc, path.stem, aspect_ids)
        entries += schema.entries_of_program(name, doc)
    for path, doc in docs.localities.items():
        if doc is None:
            continue
        name = display_path(path)
        schema.validate_locality(FileChecker(name, problems), doc, path.stem, aspect_ids)
        entries += schema.entries_of_locality(name, doc)
    if not docs.programs:
        problems.append(Problem(display_path(d / PROGRAMS_DIR), 1, "没有任何项目文件（programs/*.yml）"))
    featured: List[Tuple[str, str, int]] = []
    clarify = docs.templates.get("clarify") if isinstance(docs.templates, CommentedMap) else None
    if isinstance(clarify, CommentedMap) and isinstance(clarify.get("featured_programs"), CommentedSeq):
        seq = clarify["featured_programs"]
        featured = [(v, display_path(d / TEMPLATES_FILE), schema.line_of(seq, i)) for i, v in enumerate(seq)
                    if isinstance(v, str)]
    schema.cross_check(entries, problems, normalize_key, featured)


# ---------------------------------------------------------------------------------------------------------
# Building the model

def _plain(value: Any) -> Any:
    """ruamel.yaml's round-trip containers → plain dicts, lists and strings (frozen where useful)."""
    if isinstance(value, CommentedMap) or isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (CommentedSeq, list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _sources(raw: Any) -> Tuple[Source, ...]:
    return tuple(Source(title=s["title"].strip(), url=(s.get("url") or None), date=_date(s.get("date")),
                        aspects=tuple(s.get("aspects") or ())) for s in (raw or []))


def _date(value: Any) -> Optional[str]:
    return None if value in (None, "") else str(value)


def _review(raw: Mapping[str, Any]) -> Review:
    return Review(status=raw["status"], reviewed_on=_date(raw.get("reviewed_on")),
                  reviewed_by=raw.get("reviewed_by"), unverified_aspects=tuple(raw.get("unverified_aspects") or ()),
                  note=raw.get("note"))


def _strip_aspects(raw: Optional[Mapping[str, str]]) -> Dict[str, str]:
    return {k: v.strip() for k, v in (raw or {}).items()}


def build_knowledge(docs: Documents) -> KnowledgeBase:
    """Turns validated documents into the model (call ``validate_documents`` first)."""
    aspects_doc = _plain(docs.aspects)
    aspects = {aid: Aspect(aid, spec["label"], spec["button"], spec["intent"], tuple(spec.get("next") or ()))
               for aid, spec in aspects_doc["aspects"].items()}
    programs: Dict[str, Program] = {}
    for path, doc in docs.programs.items():
        raw = _plain(doc)
        programs[raw["id"]] = Program(
            id=raw["id"], name=raw["name"].strip(), short_name=raw["short_name"].strip(),
            aliases=tuple(a.strip() for a in raw.get("aliases") or ()), summary=raw["summary"].strip(),
            aspects=_strip_aspects(raw.get("aspects")), related=tuple(raw.get("related") or ()),
            example_questions={k: tuple(v) for k, v in (raw.get("example_questions") or {}).items()},
            sources=_sources(raw.get("sources")), review=_review(raw["review"]), kind=raw.get("kind", "program"),
            members=tuple(raw.get("members") or ()),
            redirect_department=(raw.get("redirect") or {}).get("department"), file=path,
            valid_until=_date(raw.get("valid_until")))
    sl = _plain(docs.service_list)
    items = {}
    for it in sl.get("items") or []:
        items[it["id"]] = ServiceItem(
            id=it["id"], name=it["name"].strip(), aliases=tuple(it.get("aliases") or ()), target=it["target"].strip(),
            content=it["content"].strip(), sources=_sources(it.get("sources")), review=_review(it["review"]),
            program=it.get("program"), category=it.get("category"),
            category_verified=bool(it.get("category_verified", False)))
    service_list = ServiceList(
        id=sl["id"], name=sl["name"], short_name=sl["short_name"], aliases=tuple(sl.get("aliases") or ()),
        document_title=sl["document"]["title"], document_issuers=sl["document"]["issuers"],
        document_date=str(sl["document"]["date"]), item_count=sl["item_count"],
        categories=tuple(Category(c["id"], c["name"]) for c in sl["categories"]), summary=sl["summary"].strip(),
        rules=sl["rules"].strip(), full_list_hint=sl["full_list_hint"].strip(), items=items,
        example_questions=tuple(sl.get("example_questions") or ()), sources=_sources(sl.get("sources")),
        review=_review(sl["review"]))
    localities: Dict[str, Locality] = {}
    for path, doc in docs.localities.items():
        raw = _plain(doc)
        local_programs = {pid: LocalEntry(_strip_aspects(loc.get("aspects")), _sources(loc.get("sources")),
                                          _review(loc["review"])) for pid, loc in (raw.get("programs") or {}).items()}
        sl_local = raw.get("service_list")
        localities[raw["id"]] = Locality(
            id=raw["id"], name=raw["name"], short_name=raw["short_name"], aliases=tuple(raw.get("aliases") or ()),
            contact=(raw.get("contact") or "").strip() or None, programs=local_programs,
            service_list=(LocalEntry({}, _sources(sl_local.get("sources")), _review(sl_local["review"]),
                                     sl_local["note"].strip()) if sl_local else None), file=path)
    templates = _plain(docs.templates)

    program_index: Dict[str, str] = {}
    for p in programs.values():
        for name in (p.id,) + p.names:
            program_index.setdefault(normalize_key(name), p.id)
    locality_index: Dict[str, str] = {}
    for loc in localities.values():
        for name in (loc.id,) + loc.names:
            locality_index.setdefault(normalize_key(name), loc.id)
    item_index: Dict[str, str] = {}
    for item in items.values():
        for name in (item.id,) + item.names:
            item_index.setdefault(normalize_key(name), item.id)
    return KnowledgeBase(
        directory=docs.directory, programs=programs, service_list=service_list, localities=localities,
        aspects=aspects, overview_buttons=tuple(aspects_doc.get("overview_buttons") or ()),
        service_list_intent=aspects_doc["service_list"]["intent"],
        service_list_button=aspects_doc["service_list"]["button"], templates=templates,
        _program_index=program_index, _locality_index=locality_index, _item_index=item_index,
        _service_list_keys=tuple(sorted({normalize_key(n) for n in service_list.names} - {""})))


def load_knowledge(directory: Path, overrides: Optional[Mapping[Path, str]] = None) -> KnowledgeBase:
    """Reads, validates and builds the knowledge base; raises ``KnowledgeError`` listing every problem."""
    problems: List[Problem] = []
    docs = read_documents(Path(directory), problems, overrides)
    validate_documents(docs, problems)
    if problems:
        raise KnowledgeError(problems)
    return build_knowledge(docs)


# ---------------------------------------------------------------------------------------------------------
# Hot reload for long-running processes

class KnowledgeStore:
    """The current knowledge base of a process (the action server), reloaded when a file changes.

    ``get()`` stats the knowledge files at most every ``min_interval`` seconds (cheap: ~25 files); when any
    mtime, size or the set of files changed, it reloads. A knowledge base that fails validation never replaces
    the one in memory: the problems are logged and kept in ``last_problems`` until a good version arrives.
    Each replica has its own store and sees the shared files, so nothing has to be signalled between them.
    """

    def __init__(self, directory: Optional[Path] = None, min_interval: float = 2.0):
        if directory is None:
            from bot.settings import get_settings

            directory = get_settings().knowledge_dir
        self.directory = Path(directory)
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._kb: Optional[KnowledgeBase] = None
        self._signature: Optional[Tuple] = None
        self._bad_signature: Optional[Tuple] = None
        self._checked_at = float("-inf")
        self.last_problems: List[Problem] = []
        self.loaded_at: Optional[float] = None

    def _stat(self) -> Tuple:
        sig = []
        for path in knowledge_files(self.directory):
            try:
                st = path.stat()
                sig.append((str(path), st.st_mtime_ns, st.st_size))
            except FileNotFoundError:
                sig.append((str(path), None, None))
        return tuple(sig)

    def get(self) -> KnowledgeBase:
        now = time.monotonic()
        if self._kb is not None and now - self._checked_at < self.min_interval:
            return self._kb
        with self._lock:
            if self._kb is not None and time.monotonic() - self._checked_at < self.min_interval:
                return self._kb
            signature = self._stat()
            self._checked_at = time.monotonic()
            if self._kb is not None and signature in (self._signature, self._bad_signature):
                return self._kb
            try:
                kb = load_knowledge(self.directory)
            except KnowledgeError as exc:
                self.last_problems = exc.problems
                self._bad_signature = signature
                if self._kb is None:
                    raise
                logger.error("knowledge reload rejected, keeping the version loaded before:\n%s",
                             "\n".join(str(p) for p in exc.problems))
                return self._kb
            if self._kb is not None:
                logger.info("knowledge base reloaded from %s", self.directory)
            self._kb, self._signature, self._bad_signature = kb, signature, None
            self.last_problems = []
            self.loaded_at = time.time()
            return kb

    def reload(self) -> KnowledgeBase:
        """Forces a check now (e.g. on a signal from the console after an edit)."""
        self._checked_at = float("-inf")
        return self.get()


_default_store: Optional[KnowledgeStore] = None


def default_store() -> KnowledgeStore:
    """The process-wide store over ``settings.knowledge_dir`` (created on first use)."""
    global _default_store
    if _default_store is None:
        _default_store = KnowledgeStore()
    return _default_store
