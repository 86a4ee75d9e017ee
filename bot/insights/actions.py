"""Acting on a group of messages: teach Huimin through the editor's own save path (history, validation and
locking apply), mark the group out of scope (Huimin's own training file for that), or file a task.

A situation (``situations`` of a programme or bookable service: a reason residents read and the concepts of
``knowledge/understanding.yml`` that must all be in a message) works without retraining: the second reading
(``bot.understanding``) reads the files live. The editor picks the concepts; the page suggests those found in
the group's messages, and the answer says for which of the messages the second reading now recommends the entry.

Masked text (``138****8001``) is never added to training data: a masked number teaches nothing and reads
badly as an example.
"""
from __future__ import annotations

import asyncio
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, List

from bot.editor.service import EditorService
from bot.insights import second_reading
from bot.insights.service import Insights, InsightsError
from bot.nlu.textnorm import normalize
from bot.understanding.lexicon import concepts_in, load_lexicon

OUT_OF_SCOPE_FILE = Path("data") / "nlu" / "out_of_scope_editor.yml"
HEADER = ("# Written by the editor's insights page (/editor/insights): residents' questions an editor marked as\n"
          "# out of Huimin's scope. Edit it there or here; the next training run uses it.\n")


SITUATION_KINDS = ("program", "service")


def concepts_found(knowledge_dir: Path, texts: List[str]) -> Dict[str, int]:
    """Concept id → how many of ``texts`` mention it (the second reading's own matching)."""
    lex = load_lexicon(Path(knowledge_dir))
    found: Dict[str, int] = {}
    for t in texts:
        for cid in concepts_in(normalize(t).lower(), lex):
            found[cid] = found.get(cid, 0) + 1
    return found


def _situation(body: Dict[str, Any], knowledge_dir: Path) -> Dict[str, Any]:
    why, when = body.get("why"), body.get("when")
    if not isinstance(why, str) or not why.strip() or "*" in why or len(why.strip()) > 200:
        raise InsightsError("请写一句给居民看的理由（200 字以内）：为什么这一项可能适合他")
    lex = load_lexicon(Path(knowledge_dir))
    if not isinstance(when, list) or not when or not all(isinstance(c, str) for c in when):
        raise InsightsError("请选至少一个情况（居民的话里都提到了，才推荐这一项）")
    unknown = [c for c in when if c not in lex.concepts and c not in lex.ages]
    if unknown:
        raise InsightsError(f"词表里没有这些情况：{'、'.join(unknown)}")
    return {"why": " ".join(why.split()), "when": list(dict.fromkeys(when))}


def _clean(texts: Any, allowed: List[str]) -> List[str]:
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise InsightsError("texts 应该是一组文字")
    out = []
    for t in texts:
        t = " ".join(t.split())
        if t not in allowed:
            raise InsightsError(f"“{t[:30]}”不是这一组里的问题")
        if "*" in t:
            continue  # masked personal data is not training material
        if t not in out:
            out.append(t)
    if not out:
        raise InsightsError("没有可以用的问题（含隐藏号码的问题不能当训练例句）")
    return out


def _entry(value: Any) -> tuple:
    if not isinstance(value, str) or ":" not in value:
        raise InsightsError("entry 应该像 program:dibao")
    kind, entry_id = value.split(":", 1)
    return kind, entry_id


async def _edit_entry(editor: EditorService, entry: str, user: str, change) -> dict:
    kind, entry_id = _entry(entry)
    loop = asyncio.get_running_loop()
    model = await loop.run_in_executor(None, editor.get_entry, kind, entry_id)
    data = model["data"] or {}
    added = change(data, model)
    result = await editor.save(kind, entry_id, data, model["version"], user)
    return {"entry": entry, "added": added, "revision": result.revision and result.revision["id"],
            "needs_retraining": result.needs_retraining}


def _append(lst: List[str], texts: List[str]) -> List[str]:
    added = [t for t in texts if t not in lst]
    lst.extend(added)
    return added


async def act(insights: Insights, editor: EditorService, training_root: Path, group_id: int, body: Dict[str, Any],
              user: str) -> dict:
    action = body.get("action")
    group = await insights.group(group_id)
    allowed = [" ".join(t.split()) for t in group["texts"]]
    detail: Dict[str, Any]
    if action == "examples":
        texts = _clean(body.get("texts"), allowed)
        aspect = body.get("aspect")

        def change(data, model):
            keys = [a["key"] for a in model.get("aspects") or []] + ["overview"]
            if model["kind"] != "program" or aspect not in keys:
                raise InsightsError("请选一个项目和它的一个方面")
            eq = data.setdefault("example_questions", {})
            return _append(eq.setdefault(aspect, []), texts)
        detail = {**await _edit_entry(editor, body.get("entry"), user, change), "aspect": aspect}
    elif action == "alias":
        alias = body.get("alias")
        if not isinstance(alias, str) or not alias.strip() or "*" in alias or len(alias) > 40:
            raise InsightsError("请填一个别名（40 字以内，不能含隐藏的号码）")
        alias = alias.strip()

        def change(data, model):
            return _append(data.setdefault("aliases", []), [alias])
        detail = await _edit_entry(editor, body.get("entry"), user, change)
    elif action == "situation":
        texts = _clean(body.get("texts"), allowed)
        situation = _situation(body, editor.knowledge_dir)

        def change(data, model):
            if model["kind"] not in SITUATION_KINDS:
                raise InsightsError("情形只能加在项目或可预约服务上")
            current = data.get("situations") or []
            if situation in current:
                return []
            data["situations"] = current + [situation]
            return [situation]
        detail = await _edit_entry(editor, body.get("entry"), user, change)
        # Which of the chosen messages the second reading now answers with this entry (read from the saved files).
        kind, entry_id = _entry(body.get("entry"))
        fits = await asyncio.get_running_loop().run_in_executor(
            None, second_reading.recommending, editor.knowledge_dir, texts, kind, entry_id)
        detail.update(situation=situation, texts=texts, fits=fits)
    elif action == "out_of_scope":
        texts = _clean(body.get("texts"), allowed)
        detail = {"file": str(OUT_OF_SCOPE_FILE), "added": add_out_of_scope(training_root, texts)}
    elif action == "task":
        title = body.get("title") if isinstance(body.get("title"), str) and body.get("title").strip() else None
        title = (title or f"需要新内容：{group['label'][:60]}").strip()
        note = body.get("note") if isinstance(body.get("note"), str) else None
        task = await insights.add_task(group_id, title, note, user)
        detail = {"task": task["id"], "title": task["title"]}
    else:
        raise InsightsError("action 只能是 examples、alias、situation、out_of_scope 或 task")
    return await insights.record_action(group_id, action, detail, user)


def read_out_of_scope(path: Path) -> List[str]:
    if not path.exists():
        return []
    return [line.strip()[2:].strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("    - ")]


def add_out_of_scope(training_root: Path, texts: List[str]) -> List[str]:
    """Append to ``data/nlu/out_of_scope_editor.yml`` (created on first use), atomically, under a file lock."""
    path = Path(training_root) / OUT_OF_SCOPE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    # The lock is on the directory: a lock file next to the data would become training input.
    fd = os.open(str(path.parent), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        current = read_out_of_scope(path)
        added = [t for t in texts if t not in current]
        if added:
            lines = [HEADER.rstrip("\n"), 'version: "3.1"', "nlu:", "- intent: out_of_scope", "  examples: |"]
            # One line per example inside a literal block: no quoting needed, a newline would end the example.
            lines += [f"    - {t}" for t in current + [" ".join(a.split()) for a in added]]
            fd_tmp, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=".oos-", suffix=".yml")
            with os.fdopen(fd_tmp, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
            os.replace(tmp, path)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    return added
