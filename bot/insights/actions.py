"""Acting on a group of messages: teach Huimin through the editor's own save path (history, validation and
locking apply), mark the group out of scope (Huimin's own training file for that), or file a task.

Masked text (``138****8001``) is never added to training data: a masked number teaches nothing and reads
badly as an example.
"""
from __future__ import annotations

import dataclasses
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, List

from bot.editor.service import EditorService
from bot.insights.service import Insights, InsightsError

OUT_OF_SCOPE_FILE = Path("data") / "nlu" / "out_of_scope_editor.yml"
HEADER = ("# Written by the editor's insights page (/editor/insights): residents' questions an editor marked as\n"
          "# out of Huimin's scope. Edit it there or here; the next training run uses it.\n")


def situations_supported() -> bool:
    """Situations are a programme field only once the knowledge schema has them."""
    from bot.knowledge.loader import Program

    return any(f.name == "situations" for f in dataclasses.fields(Program))


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
    import asyncio

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
        if not situations_supported():
            raise InsightsError("知识库还没有“情形”这一栏，暂时不能添加", 409, "unsupported")
        texts = _clean(body.get("texts"), allowed)

        def change(data, model):
            if model["kind"] != "program":
                raise InsightsError("情形只能加在项目上")
            return _append(data.setdefault("situations", []), texts)
        detail = await _edit_entry(editor, body.get("entry"), user, change)
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
