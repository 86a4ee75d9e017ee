"""The knowledge editor's operations (no HTTP): list, read, preview, save, history, restore, review, create.

Every write goes through one path (``_commit``): under a lock on the knowledge directory it re-reads the file,
checks the version the editor started from (optimistic locking), applies the change with round-trip YAML,
validates the whole knowledge base with the same code as ``python -m bot kb check``, writes the file
atomically, and records the change (who, when, before/after, diff) in ``editor_revisions``.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import sqlalchemy as sa
from ruamel.yaml.comments import CommentedMap

from bot.clock import iso_utc as _utc
from bot.clock import utcnow as _now
from bot.db import session_scope
from bot.editor import entry_files, fields, kb, review as review_rules, yamlio
from bot.editor.changes import field_changes
from bot.editor.models import Revision
from bot.settings import get_settings

TEMPLATES = Path(__file__).parent / "templates"
REVIEW_STATUSES = ("verified", "unverified")


class EditorError(Exception):
    status = 400
    error = "bad_request"

    def __init__(self, message: str, **extra: Any):
        super().__init__(message)
        self.message, self.extra = message, extra


class NotFound(EditorError):
    status, error = 404, "not_found"


class Invalid(EditorError):
    """The change would break the knowledge base; ``problems`` say where (field paths when known)."""
    status, error = 422, "invalid"


class Forbidden(EditorError):
    """Allowed to nobody in this role right now (e.g. reviewing one's own change under two-person review)."""
    status, error = 403, "two_person_review"


class Conflict(EditorError):
    """Someone else saved the entry since the editor loaded it."""
    status, error = 409, "conflict"


@dataclass
class Problem:
    message: str
    file: Optional[str] = None
    line: Optional[int] = None
    field: Optional[str] = None     # dotted path inside the entry, e.g. "aspects.materials"
    existing: bool = False          # the problem was already there before this change

    def to_json(self) -> dict:
        return {"message": self.message, "file": self.file, "line": self.line, "field": self.field,
                "existing": self.existing}


# The file name and every reference (related programmes, localities, bookings) depend on the id.
_ID_FIXED = Problem("已有条目的编号不能改（文件名和其他条目的引用都依赖它）；要换编号请新建条目", field="id")


@dataclass
class CommitResult:
    entry: dict
    revision: Optional[dict]
    needs_retraining: bool
    warnings: List[dict] = field(default_factory=list)
    unchanged: bool = False
    review_reset: List[str] = field(default_factory=list)   # review blocks set back to unverified

    def to_json(self) -> dict:
        return {"entry": self.entry, "revision": self.revision, "needs_retraining": self.needs_retraining,
                "warnings": self.warnings, "unchanged": self.unchanged, "review_reset": self.review_reset}



def _today() -> str:
    try:
        from zoneinfo import ZoneInfo
        return dt.datetime.now(ZoneInfo(get_settings().timezone)).date().isoformat()
    except Exception:
        return dt.date.today().isoformat()



# One thread at a time per process, and one process at a time per directory (flock on the directory itself,
# which also works when several consoles share the knowledge volume on one host).
_thread_lock = threading.Lock()


class _DirLock:
    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        _thread_lock.acquire()
        try:
            self.fd = os.open(str(self.path), os.O_RDONLY)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            _thread_lock.release()
            raise
        return self

    def __exit__(self, *exc):
        try:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
        finally:
            _thread_lock.release()


class EditorService:
    def __init__(self, knowledge_dir: Optional[Path] = None, db_url: Optional[str] = None):
        self.knowledge_dir = Path(knowledge_dir or get_settings().knowledge_dir).resolve()
        self.db_url = db_url
        self._baseline: Tuple[Any, Any] = (None, None)

    # --- reading ------------------------------------------------------------------------------------------

    def list_entries(self, status: Optional[str] = None, q: Optional[str] = None,
                     kind: Optional[str] = None) -> List[dict]:
        needle = (q or "").strip().lower()
        summaries = [entry_files.summarize(entry) for entry in entry_files.all_entries(self.knowledge_dir)]
        # Two entries called the same (two 高龄津贴 today) must not look like one: flag them, whatever the filter.
        names: Dict[str, int] = {}
        for s in summaries:
            names[s.name] = names.get(s.name, 0) + 1
        out = []
        for s in summaries:
            if kind and s.kind != kind:
                continue
            if status and s.status != status:
                continue
            if needle and not any(needle in t.lower() for t in [s.id, s.name] + s.aliases):
                continue
            out.append({**s.to_json(), "same_name": names[s.name] > 1})
        return out

    def _find(self, kind: str, entry_id: str) -> entry_files.Located:
        if kind not in entry_files.KINDS:
            raise NotFound(f"没有这种条目：{kind}")
        entry = entry_files.find(self.knowledge_dir, kind, entry_id)
        if entry is None:
            raise NotFound(f"找不到条目 {kind}:{entry_id}（可能已被删除或改了编号）")
        return entry

    def get_entry(self, kind: str, entry_id: str) -> dict:
        return self._form_model(self._find(kind, entry_id))

    def _form_model(self, entry: entry_files.Located) -> dict:
        text = entry.entry_text()
        data = yamlio.to_plain(entry.node) if entry.node is not None else None
        summary = entry_files.summarize(entry)
        is_program = entry.kind == "program"
        aspect_list = kb.aspect_labels(self.knowledge_dir)
        return {
            "kind": entry.kind, "kind_label": entry_files.KINDS[entry.kind].label, "id": entry.id, "file": entry.file,
            "version": entry_files.version_of(text), "data": data, "raw": text,
            "whole_file": entry.whole_file, "summary": summary.to_json(),
            "review": (data or {}).get("review") if isinstance(data, dict) else None,
            "fields": fields.build_fields(data or {}, aspect_list, is_program, [a for a, _ in aspect_list])
            if isinstance(data, dict) else [],
            "aspects": [{"key": a, "label": label} for a, label in aspect_list],
            "broken": entry.node is None,
        }

    def new_entry(self, kind: str, entry_id: str = "", name: str = "") -> dict:
        """The form for a new entry from its kind's template (nothing is written until it is saved)."""
        k = entry_files.KINDS.get(kind)
        if k is None or k.items or not (TEMPLATES / f"{kind}.yml").exists():
            raise NotFound(f"不能新建这种条目：{kind}")
        text = (TEMPLATES / f"{kind}.yml").read_text(encoding="utf-8")
        y = yamlio.make_yaml(text)
        doc = yamlio.load(text, y)
        if entry_id:
            doc["id"] = entry_id
        if name:
            doc["name"] = name
        if "review" in doc:
            doc["review"]["reviewed_on"] = _today()
        text = yamlio.dump(doc, y)
        entry = entry_files.Located(kind, str(doc.get("id") or ""), f"{k.new_dir}/{doc.get('id') or 'new'}.yml",
                                (), doc, doc, y, text)
        model = self._form_model(entry)
        model["version"] = None
        model["new"] = True
        return model

    # --- preview ------------------------------------------------------------------------------------------

    def preview(self, kind: str, entry_id: str, data: Dict[str, Any], locality: Optional[str] = None,
                new: bool = False) -> dict:
        """How Huimin would answer each aspect with the unsaved ``data``, plus the problems saving would hit."""
        try:
            relpath, new_text, entry = self._apply_data(kind, entry_id, data, new)
        except Invalid as exc:
            return {"answers": [], "problems": exc.extra.get("problems", []), "needs_retraining": None}
        if not new:
            # Show what residents would get after saving: changed answer text is 待核实 until reviewed.
            before_file = self._find(kind, entry_id).text
            new_text, reset = review_rules.reset_changed_reviews(before_file, new_text)
            if reset:
                entry = _relocated(entry, new_text)
        problems, ev, _ = self._check_change(relpath, new_text, entry, with_export=False)
        original = None if new else yamlio.to_plain(self._find(kind, entry_id).node)
        needs = kb.needs_retraining(original, yamlio.to_plain(entry.node))
        answers = kb.render_previews(ev.kb, kind, str(data.get("id") or entry_id), locality)
        if ev.kb is None:
            answers = [{"aspect": None, "label": "暂时无法预览", "buttons": [],
                        "text": "知识库检查没有通过，请先按提示改好标红的地方。"}]
        return {"answers": answers, "problems": [p.to_json() for p in problems if not p.existing],
                "warnings": [p.to_json() for p in problems if p.existing], "needs_retraining": needs}

    # --- writing ------------------------------------------------------------------------------------------

    def _apply_data(self, kind: str, entry_id: str, data: Dict[str, Any], new: bool = False
                    ) -> Tuple[str, str, entry_files.Located]:
        """(file, new file text, located entry) after merging ``data`` into the current file."""
        if not isinstance(data, dict):
            raise Invalid("表单内容不对", problems=[Problem("表单内容应该是一个对象").to_json()])
        if new:
            k = entry_files.KINDS.get(kind)
            if k is None or k.items:
                raise NotFound(f"不能新建这种条目：{kind}")
            new_id = str(data.get("id") or "").strip()
            if not new_id or not all(c.isalnum() and c.isascii() or c == "_" for c in new_id):
                raise Invalid("编号不对",
                              problems=[Problem("编号只能用英文小写字母、数字和下划线", field="id").to_json()])
            relpath = f"{k.new_dir}/{new_id}.yml"
            template = (TEMPLATES / f"{kind}.yml").read_text(encoding="utf-8")
            y = yamlio.make_yaml(template)
            doc = yamlio.load(template, y)
            clean = fields.prune_empty(data, None)
            clean.setdefault("review", yamlio.to_plain(doc.get("review")) if doc.get("review") else None)
            if clean.get("review") is None:
                clean.pop("review")
            doc = yamlio.merge(doc, clean)
            text = yamlio.dump(doc, y)
            return relpath, text, entry_files.Located(kind, new_id, relpath, (), doc, doc, y, text)
        entry = self._find(kind, entry_id)
        if entry.node is None:
            raise Invalid("这个文件现在不是有效的 YAML，请在“原文”里修好", problems=[])
        if "id" in data and str(data.get("id")) != entry.id:
            raise Invalid("编号不能改", problems=[_ID_FIXED.to_json()])
        text, doc, y = entry_files.load_file(self.knowledge_dir, entry.file)
        node = entry_files.locate_in(doc, entry)
        original = yamlio.to_plain(node)
        clean = fields.prune_empty(data, original)
        # The review block is changed only by "mark reviewed": whatever review a (possibly stale) form carries,
        # the file's own stays — a form loaded while the entry was 已核实 must not bring that back.
        clean.pop("review", None)
        if "review" in original:
            clean["review"] = original["review"]
        merged = yamlio.merge(node, clean)
        if merged is not node:
            raise Invalid("表单内容不对", problems=[Problem("条目应该是一组字段").to_json()])
        new_text = yamlio.dump(doc, y)
        located = entry_files.Located(kind, entry.id, entry.file, entry.list_path, node, doc, y, new_text)
        return entry.file, new_text, located

    def _apply_raw(self, entry: entry_files.Located, raw: str) -> str:
        raw = raw.replace("\r\n", "\n")
        if entry.whole_file:
            try:
                yamlio.load(raw)
            except yamlio.YamlError as exc:
                raise Invalid(str(exc), problems=[Problem(str(exc), entry.file, exc.line, "raw").to_json()])
            return raw if raw.endswith("\n") else raw + "\n"
        try:
            item = yamlio.load(raw)
        except yamlio.YamlError as exc:
            raise Invalid(str(exc), problems=[Problem(str(exc), None, exc.line, "raw").to_json()])
        if not isinstance(item, CommentedMap):
            raise Invalid("原文应该是一组字段", problems=[Problem("原文应该是一组字段", field="raw").to_json()])
        text, doc, y = entry_files.load_file(self.knowledge_dir, entry.file)
        yamlio.merge(entry_files.locate_in(doc, entry), yamlio.to_plain(item))
        return yamlio.dump(doc, y)

    def _signature(self) -> tuple:
        out = []
        for p in self.knowledge_dir.rglob("*"):
            if p.is_file() and not p.name.startswith("."):
                st = p.stat()
                out.append((p.as_posix(), st.st_mtime_ns, st.st_size))
        return tuple(sorted(out))

    def _baseline_for(self) -> Tuple[List[Problem], Optional[Dict[str, bytes]], List[Any]]:
        """Problems, training export and extra checkers' problems of the knowledge base as it is now
        (cached until a file changes)."""
        sig = self._signature()
        if self._baseline[0] != sig:
            ev = kb.evaluate(self.knowledge_dir)
            extras = kb.extra_problems(self.knowledge_dir)
            self._baseline = (sig, ([Problem(p.message, p.file, p.line) for p in ev.problems], ev.export, extras))
        return self._baseline[1]

    def _check_change(self, relpath: str, new_text: str, entry: entry_files.Located, with_export: bool = True):
        """(problems mapped to fields, the evaluation, needs_retraining) of replacing ``relpath``."""
        before, export_before, extras = self._baseline_for()
        ev = kb.evaluate(self.knowledge_dir, relpath, new_text, with_export=with_export, extras_baseline=extras)
        seen = {(p.file, p.message) for p in before}
        out = []
        doc = None
        for p in ev.problems:
            problem = Problem(p.message, p.file, p.line, existing=(p.file, p.message) in seen)
            if p.file == relpath:
                problem.field = self._field_from_checker(p.field, entry)
                if problem.field is None and p.line:
                    if doc is None:
                        try:
                            doc = yamlio.load(new_text)
                        except yamlio.YamlError:
                            doc = False
                    if doc:
                        path = fields.field_at_line(doc, p.line - 1)
                        prefix = self._item_prefix(doc, entry)
                        if prefix is None:
                            problem.field = fields.path_key(path) or None
                        elif path[:len(prefix)] == prefix:
                            problem.field = fields.path_key(path[len(prefix):]) or None
            out.append(problem)
        needs = None if ev.export is None or export_before is None else ev.export != export_before
        return out, ev, needs

    @staticmethod
    def _field_from_checker(field: str, entry: entry_files.Located) -> Optional[str]:
        """The checker's path ("aspects.materials", "items[3].name") as a path inside the entry."""
        if not field:
            return None
        if entry.whole_file:
            return field
        m = re.match(r"^(\w+)\[(\d+)\]\.?(.*)$", field)
        if m and entry.list_path and m.group(1) == entry.list_path[-1] and entry.doc is not None:
            container = entry_files.resolve(entry.doc, entry.list_path)
            index = int(m.group(2)) - 1
            if 0 <= index < len(container) and str(container[index].get("id")) == entry.id:
                return m.group(3) or None
        return None

    @staticmethod
    def _item_prefix(doc: Any, entry: entry_files.Located) -> Optional[List[Any]]:
        if entry.whole_file:
            return None
        container = entry_files.resolve(doc, entry.list_path)
        for i, item in enumerate(container):
            if isinstance(item, CommentedMap) and str(item.get("id")) == entry.id:
                return list(entry.list_path) + [i]
        return list(entry.list_path) + [-1]

    def _commit_sync(self, kind: str, entry_id: str, base_version: Optional[str],
                     change: Callable[[entry_files.Located], Tuple[str, str, entry_files.Located]],
                     new: bool = False, guard_review: bool = False) -> dict:
        """Under the directory lock: check the version, validate, write. Returns what history needs."""
        with _DirLock(self.knowledge_dir):
            if new:
                before_entry = None
                before_text, before_file = None, ""
            else:
                before_entry = self._find(kind, entry_id)
                before_text = before_entry.entry_text()
                before_file = before_entry.text
                current = entry_files.version_of(before_text)
                if base_version is not None and base_version != current:
                    raise Conflict("这个条目在您打开之后已经被别人改过了", current_version=current,
                                   current_text=before_text)
            relpath, new_file_text, located = change(before_entry)
            if new and (self.knowledge_dir / relpath).exists():
                raise Invalid("这个编号已经有了",
                              problems=[Problem("这个编号已经有了，请换一个", field="id").to_json()])
            if not new and new_file_text == before_file:
                return {"unchanged": True, "entry": before_entry}
            reset: List[str] = []
            if guard_review and not new:
                if review_rules.verified_by_hand(before_file, new_file_text):
                    raise Invalid("审核状态请用“标记为已审核”来改", problems=[Problem(
                        "审核状态不能在这里改成已核实，请保存后用“标记为已审核”（会记下审核人和日期）",
                        field="raw").to_json()])  # the form never sends the review block; raw YAML can
                new_file_text, reset = review_rules.reset_changed_reviews(before_file, new_file_text)
                if reset:
                    located = _relocated(located, new_file_text)
            problems, ev, needs_retraining = self._check_change(relpath, new_file_text, located)
            blocking = [p for p in problems if not p.existing]
            if blocking:
                raise Invalid("保存前检查发现问题，请按提示修改", problems=[p.to_json() for p in blocking])
            needs_retraining = bool(needs_retraining) if needs_retraining is not None else True
            yamlio.write_atomic(self.knowledge_dir / relpath, new_file_text)
            after = entry_files.find(self.knowledge_dir, kind, located.id)
            if after is None:  # should not happen: the validated file was just written
                raise NotFound(f"保存后找不到条目 {kind}:{located.id}")
            return {"unchanged": False, "entry": after, "before_text": before_text, "before_file": before_file,
                    "relpath": relpath, "needs_retraining": needs_retraining, "review_reset": reset,
                    "warnings": [p.to_json() for p in problems if p.existing]}

    async def _commit(self, kind: str, entry_id: str, base_version: Optional[str], user: str, action: str,
                      change, new: bool = False, restored_from: Optional[int] = None,
                      note: Optional[str] = None) -> CommitResult:
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(None, self._commit_sync, kind, entry_id, base_version, change, new,
                                                action in ("save", "raw"))
        except Conflict as exc:
            exc.extra["their_change"] = await self._their_change(kind, entry_id, base_version,
                                                                 exc.extra["current_text"])
            raise
        entry: entry_files.Located = result["entry"]
        if result["unchanged"]:
            return CommitResult(self._form_model(entry), None, False, unchanged=True)
        after_text = entry.entry_text()
        diff = yamlio.unified_diff(result["before_file"], entry.text, result["relpath"])
        async with session_scope(self.db_url) as s:
            rev = Revision(entry_key=entry.key, kind=kind, entry_id=entry.id, file=result["relpath"], action=action,
                           user_name=user, created_at=_now(), before_text=result["before_text"],
                           after_text=after_text,
                           before_version=(entry_files.version_of(result["before_text"])
                                        if result["before_text"] else None),
                           after_version=entry_files.version_of(after_text), file_before=result["before_file"] or None,
                           file_after=entry.text, diff=diff,
                           needs_retraining=result["needs_retraining"], restored_from=restored_from,
                           note=note or ("回答内容有改动，已改回待核实" if result["review_reset"] else None))
            s.add(rev)
            await s.flush()
            rev_json = self._revision_json(rev, full=False)
        return CommitResult(self._form_model(entry), rev_json, result["needs_retraining"], result["warnings"],
                            review_reset=result["review_reset"])

    async def _their_change(self, kind: str, entry_id: str, base_version: Optional[str], current_text: str) -> dict:
        """What the other editor changed: the diff from the version this editor loaded to the current one."""
        key = f"{kind}:{entry_id}"
        async with session_scope(self.db_url) as s:
            revs = (await s.execute(sa.select(Revision).where(Revision.entry_key == key)
                                    .order_by(Revision.id))).scalars().all()
        base_text, start = None, None
        for i, r in enumerate(revs):
            if r.after_version == base_version:  # the latest time the entry looked like what this editor saw
                base_text, start = r.after_text, i + 1
            elif r.before_version == base_version and base_text is None:
                base_text, start = r.before_text, i
        later = [{"user": r.user_name, "at": _utc(r.created_at), "action": r.action}
                 for r in (revs[start:] if start is not None else [])]
        diff = yamlio.unified_diff(base_text, current_text, f"{key}") if base_text is not None else None
        return {"diff": diff, "changes": later, "current_text": current_text}

    async def save(self, kind: str, entry_id: str, data: Dict[str, Any], version: Optional[str], user: str
                   ) -> CommitResult:
        if version is None:
            raise EditorError("缺少版本号（version），请重新打开条目后再保存")
        return await self._commit(kind, entry_id, version, user, "save",
                                  lambda _entry: self._apply_data(kind, entry_id, data))

    async def save_raw(self, kind: str, entry_id: str, raw: str, version: Optional[str], user: str
                       ) -> CommitResult:
        if version is None:
            raise EditorError("缺少版本号（version），请重新打开条目后再保存")

        def change(entry):
            text = self._apply_raw(entry, raw)
            doc = yamlio.load(text)
            located = entry_files.Located(kind, entry.id, entry.file, entry.list_path,
                                          entry_files.locate_in(doc, entry), doc, None, text)
            if not entry.whole_file and located.node is None:
                raise Invalid("原文里不能改编号", problems=[Problem("原文里不能改编号", field="id").to_json()])
            if entry.whole_file and isinstance(doc, CommentedMap) and doc.get("id") is not None \
                    and str(doc["id"]) != entry.id:
                raise Invalid("编号不能改", problems=[Problem(_ID_FIXED.message, field="raw").to_json()])
            return entry.file, text, located
        return await self._commit(kind, entry_id, version, user, "raw", change)

    async def create(self, kind: str, data: Dict[str, Any], user: str) -> CommitResult:
        new_id = str((data or {}).get("id") or "")
        return await self._commit(kind, new_id, None, user, "create",
                                  lambda _entry: self._apply_data(kind, new_id, data, new=True), new=True)

    async def mark_reviewed(self, kind: str, entry_id: str, user: str, version: Optional[str] = None,
                            status: str = "verified", note: Optional[str] = None) -> CommitResult:
        if status not in REVIEW_STATUSES:
            raise EditorError(f"审核状态只能是 {' / '.join(REVIEW_STATUSES)}")
        if status == "verified":
            async with session_scope(self.db_url) as s:
                changes = (await s.execute(sa.select(Revision.action, Revision.user_name)
                                           .where(Revision.entry_key == f"{kind}:{entry_id}")
                                           .order_by(Revision.id))).all()
            problem = review_rules.reviewer_problem(user, [(a, u) for a, u in changes])
            if problem:
                raise Forbidden(problem)

        def change(entry):
            text, doc, y = entry_files.load_file(self.knowledge_dir, entry.file)
            node = entry_files.locate_in(doc, entry)
            review = node.get("review")
            if not isinstance(review, CommentedMap):
                review = CommentedMap()
                node["review"] = review
            review["status"] = status
            review["reviewed_on"] = yamlio._convert(_today(), review.get("reviewed_on"))
            review["reviewed_by"] = user
            if note:
                review["note"] = note
            new_text = yamlio.dump(doc, y)
            return entry.file, new_text, entry_files.Located(kind, entry.id, entry.file, entry.list_path, node, doc, y,
                                                          new_text)
        return await self._commit(kind, entry_id, version, user, "review", change, note=note)

    # --- history ------------------------------------------------------------------------------------------

    @staticmethod
    def _revision_json(r: Revision, full: bool = True) -> dict:
        out = {"id": r.id, "changes": field_changes(r.before_text, r.after_text), "entry": r.entry_key,
               "kind": r.kind, "entry_id": r.entry_id, "file": r.file,
               "action": r.action, "user": r.user_name, "at": _utc(r.created_at), "diff": r.diff,
               "needs_retraining": bool(r.needs_retraining), "restored_from": r.restored_from, "note": r.note,
               "before_version": r.before_version, "after_version": r.after_version}
        if full:
            out.update(before_text=r.before_text, after_text=r.after_text)
        return out

    async def history(self, kind: str, entry_id: str, limit: int = 200) -> List[dict]:
        async with session_scope(self.db_url) as s:
            rows = (await s.execute(sa.select(Revision).where(Revision.entry_key == f"{kind}:{entry_id}")
                                    .order_by(Revision.id.desc()).limit(limit))).scalars().all()
            return [self._revision_json(r, full=False) for r in rows]

    async def recent(self, limit: int = 50) -> List[dict]:
        async with session_scope(self.db_url) as s:
            rows = (await s.execute(sa.select(Revision).order_by(Revision.id.desc()).limit(limit))).scalars().all()
            return [self._revision_json(r, full=False) for r in rows]

    async def revision(self, revision_id: int) -> dict:
        async with session_scope(self.db_url) as s:
            r = await s.get(Revision, revision_id)
            if r is None:
                raise NotFound(f"没有第 {revision_id} 号修改记录")
            return self._revision_json(r)

    async def restore(self, kind: str, entry_id: str, revision_id: int, user: str, version: Optional[str] = None,
                      side: str = "after") -> CommitResult:
        """Bring the entry back to how it was after (or, with side="before", before) an earlier change."""
        rev = await self.revision(revision_id)
        if rev["entry"] != f"{kind}:{entry_id}":
            raise EditorError("这条修改记录不属于这个条目")
        text = rev["after_text"] if side == "after" else rev["before_text"]
        if text is None:
            raise EditorError("这个版本之前条目还不存在，不能恢复成“不存在”")

        def change(entry):
            if entry.whole_file:
                new_text = text
                doc = yamlio.load(new_text)
                return entry.file, new_text, entry_files.Located(kind, str(doc.get("id", entry.id)), entry.file, (),
                                                             doc, doc, None, new_text)
            file_text, doc, y = entry_files.load_file(self.knowledge_dir, entry.file)
            node = entry_files.locate_in(doc, entry)
            yamlio.merge(node, yamlio.to_plain(yamlio.load(text)))
            new_text = yamlio.dump(doc, y)
            return entry.file, new_text, entry_files.Located(kind, entry.id, entry.file, entry.list_path, node, doc, y,
                                                         new_text)
        return await self._commit(kind, entry_id, version, user, "restore", change, restored_from=revision_id,
                                  note=f"恢复到第 {revision_id} 号修改{'之后' if side == 'after' else '之前'}的版本")


def _relocated(entry: entry_files.Located, file_text: str) -> entry_files.Located:
    """The same entry in another text of its file."""
    y = yamlio.make_yaml(file_text)
    doc = yamlio.load(file_text, y)
    return entry_files.Located(entry.kind, entry.id, entry.file, entry.list_path, entry_files.locate_in(doc, entry),
                               doc, y, file_text)


def default_service() -> EditorService:
    return EditorService()
