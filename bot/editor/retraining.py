"""Does the model the Rasa server is serving still match the knowledge base?

The model's file name carries the fingerprint of its training inputs (``bot/stack/training.py``). The editor
computes the fingerprint the knowledge base would give now — same inputs, with a fresh export of the
knowledge directory — and compares: different means aliases, example questions or entries changed since the
served model was trained, so the editor shows the "needs retraining" banner.
"""
from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path
from typing import Optional

import aiohttp
import sqlalchemy as sa

from bot.db import session_scope
from bot.editor.models import Revision, TrainingJob
from bot.editor.train_job import prepare_workspace
from bot.settings import Settings

MODEL_NAME = re.compile(r"huimin-([0-9a-f]+)\.tar\.gz$")


def current_fingerprint(source_root: Path, knowledge_dir: Path) -> str:
    from bot.stack.training import export_knowledge, fingerprint

    with tempfile.TemporaryDirectory(prefix="huimin-fp-") as tmp:
        ws = Path(tmp) / "ws"
        prepare_workspace(source_root, ws)
        export_knowledge(ws, knowledge_dir)
        return fingerprint(ws)


async def served_model(settings: Settings) -> Optional[str]:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            async with http.get(f"{settings.rasa_url.rstrip('/')}/status", params={"token": settings.rasa_token}) as r:
                if r.status == 200:
                    return (await r.json()).get("model_file")
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        return None
    return None


async def status(settings: Settings, db_url: Optional[str]) -> dict:
    from bot.editor.training import TrainingConfig

    cfg = TrainingConfig.from_env(settings)
    loop = asyncio.get_running_loop()
    try:
        fp = await loop.run_in_executor(None, current_fingerprint, cfg.source_root, Path(settings.knowledge_dir))
        fp_error = None
    except Exception as exc:  # a broken knowledge file: kb check / the editor says which
        fp, fp_error = None, f"知识库现在无法导出训练数据：{exc}"
    served = await served_model(settings)
    m = MODEL_NAME.search(served or "")
    served_fp = m.group(1) if m else None
    async with session_scope(db_url) as s:
        last_ok = (await s.execute(sa.select(TrainingJob.created_at).where(TrainingJob.status == "succeeded")
                                   .order_by(TrainingJob.id.desc()).limit(1))).scalar()
        q = sa.select(Revision).where(Revision.needs_retraining.is_(True)).order_by(Revision.id.desc()).limit(50)
        if last_ok is not None:
            q = q.where(Revision.created_at > last_ok)
        pending = [{"id": r.id, "entry": r.entry_key, "user": r.user_name, "at": r.created_at.isoformat(),
                    "action": r.action} for r in (await s.execute(q)).scalars()]
    if fp is None or served_fp is None:
        needs = bool(pending) if fp is None or served is None else None
    else:
        needs = fp != served_fp
    if served is None:
        reason = "连不上 Rasa 服务器，无法确认它用的模型。"
    elif fp_error:
        reason = fp_error
    elif needs:
        reason = "别名、例句或条目有变化，要重新训练，居民说的新说法才能被听懂。回答文字的修改已经生效，不需要训练。"
    else:
        reason = "正在使用的模型和知识库一致，不需要重新训练。"
    return {"needs_retraining": needs, "reason": reason, "served_model": served, "served_fingerprint": served_fp,
            "knowledge_fingerprint": fp, "pending_changes": pending}
