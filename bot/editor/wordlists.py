"""The editors' word lists for understanding residents (``knowledge/understanding.yml`` and ``places.yml``) as a
form: one list of phrases per field, saved through the same discipline as an entry (directory lock, optimistic
version, ``lexicon.check`` before writing, atomic write, a row in ``editor_revisions`` per changed file, which is
also what publishes the change to replicas with their own copy of ``knowledge/``).

No retraining: the second reading re-reads these files by modification time (``lexicon.load_lexicon``).
``replies`` and ``combinations`` are sourced answer text, not word lists, and are left as they are.
"""
from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import sqlalchemy as sa
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.clock import iso_utc as _utc
from bot.clock import utcnow as _now
from bot.db import session_scope
from bot.editor import kb, yamlio
from bot.editor.changes import field_changes
from bot.editor.entry_files import version_of
from bot.editor.models import Revision
from bot.editor.service import Conflict, Invalid, Problem, _DirLock
from bot.knowledge.schema import line_of
from bot.understanding import lexicon

KIND = "wordlists"
FILES = {"understanding": lexicon.LEXICON_FILE, "places": lexicon.PLACES_FILE}
CONCEPT_ID = re.compile(r"^[a-z][a-z0-9_]*$")
WIDTH = 100  # flow lists of phrases are re-wrapped at this width once the file is saved from the editor

# (group title, [(list key, short label)]) — the page's layout; explanations come from the file's own comments.
GROUPS: List[Tuple[str, List[Tuple[str, str]]]] = [
    ("找真人 / 难过着急 / 危险", [
        ("human", "想找真人"), ("human_reported", "说起跟工作人员谈过（不是要找人）"),
        ("asks_if_bot", "问是不是机器人"), ("distress", "难过、着急、生气"),
        ("danger", "眼下有危险"), ("danger_if_now", "正在发生才算危险"), ("aftermath", "出事以后怎么办")]),
    ("追问、预约、一起领", [
        ("follow_up", "追问（那……呢）"), ("booking", "想预约"), ("together", "能不能一起领"),
        ("together_with_last", "跟上一个项目一起领"), ("asking_words", "紧跟在“提到”的词后面就算在问"),
        ("status", "查申请进度")]),
]
PLACE_LISTS = [("provinces", "省、自治区、直辖市"), ("cities", "市、州、盟")]


def _header_explanations(text: str) -> Dict[str, str]:
    """``key：explanation`` from the comment block at the top of the file, plus the comment right above each
    top-level key (what the file already tells a reader about each list)."""
    lines = text.splitlines()
    out: Dict[str, str] = {}
    header: List[str] = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line.lstrip("#").strip())
    joined = ""
    for part in header:
        joined += ("\n" if re.match(r"^[a-z_]+：", part) else "") + part
    for chunk in joined.split("\n"):
        for m in re.finditer(r"([a-z_]+)：(.*?)(?=(?:[。；]\s*[a-z_]+：)|$)", chunk):
            out[m.group(1)] = m.group(2).strip().rstrip("。") + "。"
    for i, line in enumerate(lines):
        m = re.match(r"^([a-z_]+):", line)
        if not m or m.group(1) in out:
            continue
        above: List[str] = []
        j = i - 1
        while j >= 0 and lines[j].startswith("#"):
            above.insert(0, lines[j].lstrip("#").strip())
            j -= 1
        if above:
            out[m.group(1)] = "".join(above)
    return out


def _phrases(values: Any) -> List[str]:
    return [str(v) for v in (values or []) if isinstance(v, (str, int))]


def _clean_lines(values: Any) -> List[str]:
    """What the editor typed: one phrase a line, blanks and repeats dropped, spaces at either end trimmed."""
    if isinstance(values, str):
        values = values.split("\n")
    out: List[str] = []
    for v in values or []:
        s = str(v).strip()
        if s and s not in out:
            out.append(s)
    return out


class WordLists:
    def __init__(self, knowledge_dir: Path, db_url: Optional[str] = None):
        self.knowledge_dir = Path(knowledge_dir).resolve()
        self.db_url = db_url

    # --- reading ------------------------------------------------------------------------------------------

    def _texts(self) -> Dict[str, str]:
        out = {}
        for key, name in FILES.items():
            path = self.knowledge_dir / name
            out[key] = path.read_text(encoding="utf-8") if path.exists() else ""
        return out

    @staticmethod
    def _version(texts: Dict[str, str]) -> str:
        return version_of(texts["understanding"] + "\0" + texts["places"])

    def get(self) -> dict:
        texts = self._texts()
        try:
            doc = yamlio.load(texts["understanding"]) or {}
            places = yamlio.load(texts["places"]) if texts["places"].strip() else {}
        except yamlio.YamlError as exc:  # a hand edit broke the file: say so rather than fail with a 500
            raise Invalid(f"词表文件现在打不开，请技术人员先修好：{exc}", problems=[]) from None
        notes = _header_explanations(texts["understanding"])
        place_note = " ".join(line.lstrip("#").strip() for line in texts["places"].splitlines()
                              if line.startswith("#"))
        aspects = [("overview", "概况")] + kb.aspect_labels(self.knowledge_dir)
        aspect_label = dict(aspects)
        groups: List[dict] = []
        concepts = doc.get("concepts") or {}
        groups.append({"id": "concepts", "title": "情况", "note": notes.get("concepts", ""), "lists": [
            {"key": f"concepts.{cid}", "label": str(cid), "phrases": _phrases(v), "removable": True}
            for cid, v in concepts.items()]})
        aspect_lists = []
        for key, what in (("aspect_cues", "问法"), ("aspect_mentions", "提到")):
            for aid, values in (doc.get(key) or {}).items():
                aspect_lists.append({"key": f"{key}.{aid}", "label": f"{aspect_label.get(aid, aid)}（{what}）",
                                     "phrases": _phrases(values)})
        groups.append({"id": "aspects", "title": "问的是哪方面", "note": notes.get("aspect_cues", ""),
                       "lists": aspect_lists})
        for i, (title, keys) in enumerate(GROUPS):
            groups.append({"id": f"cues{i}", "title": title, "note": "", "lists": [
                {"key": key, "label": f"{label}（{key}）", "note": notes.get(key, ""),
                 "phrases": _phrases(doc.get(key))} for key, label in keys]})
        referrals = [{"topic": str(r.get("topic") or ""), "office": str(r.get("office") or ""),
                      "cues": _phrases(r.get("cues")), "civil_affairs": r.get("civil_affairs") is True}
                     for r in (doc.get("referrals") or []) if isinstance(r, dict)]
        groups.append({"id": "places", "title": "地名", "note": place_note, "lists": [
            {"key": f"places.{key}", "label": label, "phrases": _phrases((places or {}).get(key))}
            for key, label in PLACE_LISTS]})
        return {"version": self._version(texts), "groups": groups, "referrals": referrals,
                "referrals_note": notes.get("referrals", "")}

    # --- writing ------------------------------------------------------------------------------------------

    def _apply(self, texts: Dict[str, str], lists: Dict[str, Any], referrals: Optional[List[dict]]
               ) -> Tuple[Dict[str, str], Dict[str, Any], List[Problem]]:
        """The files' new texts with the form merged in, the new docs, and the form's own problems."""
        problems: List[Problem] = []
        y = yamlio.make_yaml(texts["understanding"])
        y.width = WIDTH
        doc = yamlio.load(texts["understanding"], y)
        py = yamlio.make_yaml(texts["places"])
        py.width = WIDTH
        places = yamlio.load(texts["places"], py) if texts["places"].strip() else CommentedMap()
        if not isinstance(doc, CommentedMap) or not isinstance(places, CommentedMap):
            raise Invalid("词表文件现在不是有效的格式，请找技术人员看一下", problems=[])
        concepts_new: Dict[str, List[str]] = {}
        for key, raw in lists.items():
            phrases = _clean_lines(raw)
            head, _, rest = key.partition(".")
            if head == "concepts":
                if not CONCEPT_ID.match(rest):
                    problems.append(Problem("情况名只能用英文小写字母、数字和下划线（比如 lives_alone）", field=key))
                    continue
                concepts_new[rest] = phrases
                target = None
            elif head in ("aspect_cues", "aspect_mentions"):
                if rest not in lexicon.ASPECT_IDS:
                    problems.append(Problem(f"没有这个方面：{rest}", field=key))
                    continue
                target = doc.get(head)
                if not isinstance(target, CommentedMap):
                    target = doc[head] = CommentedMap()
                self._set_list(target, rest, phrases)
            elif head == "places":
                if rest not in dict(PLACE_LISTS):
                    problems.append(Problem(f"没有这个地名表：{rest}", field=key))
                    continue
                self._set_list(places, rest, phrases)
            elif key in lexicon.CUE_LISTS:
                self._set_list(doc, key, phrases)
            else:
                problems.append(Problem(f"不认识的词表：{key}", field=key))
                continue
            if not phrases:
                problems.append(Problem("这一栏不能空着：至少写一个说法（一行一个）", field=key))
        if concepts_new or any(k.startswith("concepts.") for k in lists):
            node = doc.get("concepts")
            if not isinstance(node, CommentedMap):
                node = doc["concepts"] = CommentedMap()
            for cid in [c for c in node if c not in concepts_new]:
                del node[cid]
            for cid, phrases in concepts_new.items():
                self._set_list(node, cid, phrases)
        if referrals is not None:
            rows = []
            for i, r in enumerate(referrals):
                r = r if isinstance(r, dict) else {}
                row = {"topic": str(r.get("topic") or "").strip(), "cues": _clean_lines(r.get("cues")),
                       "office": str(r.get("office") or "").strip()}
                for name, label in (("topic", "话题"), ("office", "该找的部门")):
                    if not row[name]:
                        problems.append(Problem(f"请写上{label}", field=f"referrals.{i}.{name}"))
                if not row["cues"]:
                    problems.append(Problem("至少写一个居民会说的话（一行一个）", field=f"referrals.{i}.cues"))
                if r.get("civil_affairs") is True:
                    row["civil_affairs"] = True
                rows.append(row)
            old = doc.get("referrals")
            if isinstance(old, CommentedSeq):
                yamlio.merge(old, rows)
            else:
                doc["referrals"] = yamlio._convert(rows)
        docs = {"understanding": doc, "places": places}
        out = {}
        for key, node, yaml in (("understanding", doc, y), ("places", places, py)):
            # A file whose lists did not change keeps its text: no re-wrapping, no history row, no publishing.
            unchanged = texts[key].strip() and yamlio.to_plain(yamlio.load(texts[key])) == yamlio.to_plain(node)
            out[key] = texts[key] if unchanged else yamlio.dump(node, yaml)
        return out, docs, problems

    @staticmethod
    def _set_list(node: CommentedMap, key: str, phrases: List[str]) -> None:
        old = node.get(key)
        if isinstance(old, CommentedSeq):
            yamlio.merge(old, phrases)
        else:
            seq = CommentedSeq(phrases)
            seq.fa.set_flow_style()
            node[key] = seq

    def _check(self, texts: Dict[str, str]) -> List[Tuple[str, Any]]:
        """``lexicon.check`` of the knowledge base with these two files: (file, problem) pairs."""
        with tempfile.TemporaryDirectory(prefix="wordlists-") as tmp:
            root = Path(tmp)
            for key, name in FILES.items():
                (root / name).write_text(texts[key], encoding="utf-8")
            for _, sub in lexicon.SITUATION_DIRS:
                if (self.knowledge_dir / sub).is_dir():
                    (root / sub).symlink_to(self.knowledge_dir / sub, target_is_directory=True)
            out = []
            for p in lexicon.check(root):
                try:
                    rel = Path(p.file).relative_to(root).as_posix()
                except ValueError:
                    rel = p.file
                out.append((rel, p))
            shutil.rmtree(root, ignore_errors=True)
            return out

    @staticmethod
    def _field_at(doc: Any, file_key: str, line: int) -> Optional[str]:
        """The form field whose part of the file holds ``line`` (problems come with lines, the page with fields)."""
        starts: List[Tuple[int, str]] = []
        if file_key == "places":
            starts = [(line_of(doc, k), f"places.{k}") for k in doc if k in dict(PLACE_LISTS)]
        else:
            for key in doc:
                starts.append((line_of(doc, key), str(key)))
                value = doc[key]
                if key in ("concepts", "aspect_cues", "aspect_mentions") and isinstance(value, CommentedMap):
                    starts += [(line_of(value, k), f"{key}.{k}") for k in value]
                elif key == "referrals" and isinstance(value, CommentedSeq):
                    starts += [(line_of(value, i), f"referrals.{i}.cues") for i in range(len(value))]
        best = None
        for start, name in sorted(starts):
            if start <= line:
                best = name
        return best

    def _problems(self, before: Dict[str, str], after: Dict[str, str], docs: Dict[str, Any]) -> List[Problem]:
        seen = {(f, p.message) for f, p in self._check(before)}
        out = []
        for rel, p in self._check(after):
            if (rel, p.message) in seen:
                continue
            file_key = next((k for k, name in FILES.items() if name == rel), None)
            if file_key is None:
                # An entry's situations name a concept this change removed: the concept's list is the place.
                missing = re.search(r"情况名 (\S+) 在", p.message)
                field = f"concepts.{missing.group(1).split('、')[0]}" if missing else "concepts"
                out.append(Problem(f"{rel} 还在用这个情况：{p.message}", rel, p.line, field))
            else:
                out.append(Problem(p.message, rel, p.line, self._field_at(docs[file_key], file_key, p.line)))
        return out

    def _save_sync(self, lists: Dict[str, Any], referrals: Optional[List[dict]], version: str) -> dict:
        with _DirLock(self.knowledge_dir):
            before = self._texts()
            current = self._version(before)
            if version != current:
                raise Conflict("词表在您打开之后已经被别人改过了，请重新打开再改", current_version=current,
                               current_text="")
            after, docs, problems = self._apply(before, lists, referrals)
            if not problems:
                problems = self._problems(before, after, docs)
            if problems:
                raise Invalid("保存前检查发现问题，请按提示修改", problems=[p.to_json() for p in problems])
            changed = [k for k in FILES if after[k] != before[k]]
            for key in changed:
                yamlio.write_atomic(self.knowledge_dir / FILES[key], after[key])
            return {"before": before, "after": after, "changed": changed}

    async def save(self, lists: Dict[str, Any], referrals: Optional[List[dict]], version: str, user: str) -> dict:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, self._save_sync, lists, referrals, version)
        revisions = []
        if result["changed"]:
            async with session_scope(self.db_url) as s:
                for key in result["changed"]:
                    name = FILES[key]
                    b, a = result["before"][key], result["after"][key]
                    rev = Revision(entry_key=f"{KIND}:{key}", kind=KIND, entry_id=key, file=name, action="save",
                                   user_name=user, created_at=_now(), before_text=b, after_text=a,
                                   before_version=version_of(b), after_version=version_of(a), file_before=b or None,
                                   file_after=a, diff=yamlio.unified_diff(b, a, name), needs_retraining=False,
                                   note="听懂居民的词表")
                    s.add(rev)
                    await s.flush()
                    revisions.append({"id": rev.id, "file": name, "user": user, "at": _utc(rev.created_at),
                                      "changes": field_changes(b, a)})
        model = await loop.run_in_executor(None, self.get)
        return {"wordlists": model, "revisions": revisions, "unchanged": not result["changed"]}

    async def history(self, limit: int = 20) -> List[dict]:
        async with session_scope(self.db_url) as s:
            rows = (await s.execute(sa.select(Revision).where(Revision.kind == KIND)
                                    .order_by(Revision.id.desc()).limit(limit))).scalars().all()
            return [{"id": r.id, "file": r.file, "user": r.user_name, "at": _utc(r.created_at), "diff": r.diff,
                     "changes": field_changes(r.before_text, r.after_text)} for r in rows]
