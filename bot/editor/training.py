"""Retraining from the editor: one background training run at a time, its progress and log kept in the
database (so any console replica can show it), and on success the new model loaded into the running Rasa
server through its HTTP API (``PUT /model``) — conversations live in the tracker store and carry on.

The run itself is ``bot.stack.training.ensure_model`` in a child process (see ``bot/editor/train_job.py``),
in a private workspace that mirrors the repository's training inputs, so it never rewrites the shared
``build/`` while other processes read it. If anything fails, the running model is left alone and the error
and the end of the log are stored for the editor to read.
"""
from __future__ import annotations

import asyncio
import codecs
import datetime as dt
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import aiohttp
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.clock import as_utc as _utc
from bot.clock import utcnow as _now
from bot.db import session_scope
from bot.editor.models import TrainingJob
from bot.settings import ROOT, get_settings

log = logging.getLogger(__name__)

LOG_LIMIT = 60_000          # characters of log kept per run (the end of it)
STALE_AFTER = dt.timedelta(minutes=3)  # a "running" job not heard from for this long died with its console


class TrainingBusy(Exception):
    def __init__(self, job: dict):
        super().__init__("a training run is already in progress")
        self.job = job


@dataclass
class TrainingConfig:
    source_root: Path      # where config.yml, bot/domain, bot/nlu and data/ are read from
    models_dir: Path       # where the trained model is written (the Rasa server must be able to read it)
    knowledge_dir: Path
    workspace: Path        # private build/ for the run
    rasa_url: str
    rasa_token: str
    # Every Rasa replica's own address (HUIMIN_RASA_REPLICA_URLS): PUT /model through a balancer would reach
    # only one of them. Empty: rasa_url is the only server.
    replica_urls: tuple = ()

    @classmethod
    def from_env(cls, settings=None) -> "TrainingConfig":
        """Paths from the environment (HUIMIN_TRAINING_ROOT, HUIMIN_MODELS_DIR, HUIMIN_TRAINING_WORKSPACE: tests
        and unusual deployments), the knowledge directory and Rasa's address from the settings."""
        s = settings or get_settings()
        return cls(
            source_root=Path(os.environ.get("HUIMIN_TRAINING_ROOT") or ROOT),
            models_dir=Path(os.environ.get("HUIMIN_MODELS_DIR") or ROOT / "models"),
            knowledge_dir=Path(s.knowledge_dir),
            workspace=Path(os.environ.get("HUIMIN_TRAINING_WORKSPACE") or ROOT / "var" / "editor" / "training"),
            rasa_url=s.rasa_url.rstrip("/"), rasa_token=s.rasa_token,
            replica_urls=tuple(u.strip().rstrip("/") for u in os.environ.get("HUIMIN_RASA_REPLICA_URLS", "").split(",")
                               if u.strip()))



def job_json(j: TrainingJob, with_log: bool = True) -> dict:
    out = {"id": j.id, "status": j.status, "started_by": j.started_by,
           "created_at": _utc(j.created_at).isoformat(), "updated_at": _utc(j.updated_at).isoformat(),
           "finished_at": _utc(j.finished_at).isoformat() if j.finished_at else None,
           "stage": j.stage, "progress": j.progress, "model": j.model_path, "previous_model": j.previous_model,
           "error": j.error}
    if with_log:
        out["log"] = j.log
    return out


# Rasa's training output → (stage label, rough percentage). Components are trained in the graph's order.
_STAGES = [
    (re.compile(r"exporting knowledge"), "导出知识库训练数据", 5),
    (re.compile(r"model up to date"), "模型已是最新", 90),
    (re.compile(r"training: "), "准备训练", 8),
    (re.compile(r"Starting to train component '?(\w*Tokenizer)"), "分词", 15),
    (re.compile(r"Starting to train component '?(\w*Featurizer)"), "提取特征", 25),
    (re.compile(r"Starting to train component '?DIETClassifier"), "训练意图识别（DIET）", 35),
    (re.compile(r"Starting to train component '?(\w*Policy)"), "训练对话策略", 70),
    (re.compile(r"Your Rasa model is trained and saved"), "训练完成", 90),
    (re.compile(r"loading the new model"), "加载新模型", 95),
]
_EPOCHS = re.compile(r"Epochs:\s+(\d+)%")
_SEGMENT = re.compile(r"(\r\n|\r|\n)")


def parse_progress(line: str, stage: str, progress: int) -> tuple:
    for pattern, label, pct in _STAGES:
        if pattern.search(line):
            return label, max(progress, pct)
    m = _EPOCHS.search(line)
    if m:
        pct = int(m.group(1))
        if stage.startswith("训练意图识别"):
            return stage, max(progress, 35 + pct * 30 // 100)
        if stage.startswith("训练对话策略"):
            return stage, max(progress, 70 + pct * 18 // 100)
    return stage, progress


class Trainer:
    """Starts and watches training runs. One instance per console process; the database is the truth."""

    def __init__(self, db_url: Optional[str] = None, config: Optional[TrainingConfig] = None):
        self.db_url = db_url
        self.config = config or TrainingConfig.from_env()
        self._tasks: Dict[int, asyncio.Task] = {}
        # Called with the model path once a run's model is served (e.g. the insights page replays messages).
        self.on_model_loaded: list = []

    async def _fail_stale(self) -> None:
        async with session_scope(self.db_url) as s:
            for j in (await s.execute(sa.select(TrainingJob).where(TrainingJob.status == "running"))).scalars():
                if j.id in self._tasks:
                    continue
                if _now() - _utc(j.updated_at) > STALE_AFTER:
                    j.status, j.active, j.finished_at = "failed", None, _now()
                    j.error = "训练进程中断了（控制台重启或进程退出），正在使用的模型没有变化。"

    async def start(self, user: str) -> dict:
        await self._fail_stale()
        now = _now()
        try:
            async with session_scope(self.db_url) as s:
                job = TrainingJob(status="running", active=1, started_by=user, created_at=now, updated_at=now,
                                  stage="排队", progress=0, log="")
                s.add(job)
                await s.flush()
                job_id = job.id
        except IntegrityError:
            raise TrainingBusy(await self.current())
        self._tasks[job_id] = asyncio.get_running_loop().create_task(self._run(job_id))
        return await self.get(job_id)

    async def current(self) -> Optional[dict]:
        async with session_scope(self.db_url) as s:
            j = (await s.execute(sa.select(TrainingJob).where(TrainingJob.active == 1))).scalars().first()
            return job_json(j) if j else None

    async def get(self, job_id: int) -> Optional[dict]:
        async with session_scope(self.db_url) as s:
            j = await s.get(TrainingJob, job_id)
            return job_json(j) if j else None

    async def recent(self, limit: int = 10) -> List[dict]:
        await self._fail_stale()
        async with session_scope(self.db_url) as s:
            rows = (await s.execute(sa.select(TrainingJob).order_by(TrainingJob.id.desc()).limit(limit))).scalars()
            return [job_json(j, with_log=False) for j in rows]

    async def wait(self, job_id: int) -> None:
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.shield(task)

    async def close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            try:
                await task
            except BaseException:
                pass

    async def _update(self, job_id: int, **values) -> None:
        values["updated_at"] = _now()
        async with session_scope(self.db_url) as s:
            await s.execute(sa.update(TrainingJob).where(TrainingJob.id == job_id).values(**values))

    async def _run(self, job_id: int) -> None:
        cfg = self.config
        logbuf: List[str] = []
        state = {"stage": "准备", "progress": 1, "bar": ""}

        def text() -> str:
            joined = "".join(logbuf) + (state["bar"] + "\n" if state["bar"] else "")
            return joined[-LOG_LIMIT:]

        async def add(line: str) -> None:
            logbuf.append(line if line.endswith("\n") else line + "\n")
            state["stage"], state["progress"] = parse_progress(line, state["stage"], state["progress"])

        try:
            previous = await self._served_model()
            await self._update(job_id, stage=state["stage"], progress=1, previous_model=previous)
            workspace = cfg.workspace / f"job-{job_id}"
            cmd = [sys.executable, "-m", "bot.editor.train_job", "--source-root", str(cfg.source_root),
                   "--workspace", str(workspace), "--models", str(cfg.models_dir),
                   "--knowledge", str(cfg.knowledge_dir)]
            env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
            # Rasa's training cache lives in the working directory by default; the workspace is thrown away
            # after each run, so share the cache ``python -m bot model`` fills: unchanged parts (the dialogue
            # policies, when only knowledge changed) are not trained again.
            env.setdefault("RASA_CACHE_DIRECTORY", str(cfg.source_root / ".rasa" / "cache"))
            proc = await asyncio.create_subprocess_exec(*cmd, cwd=str(ROOT), env=env, stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.STDOUT)
            model_path: Optional[str] = None
            last_flush = 0.0
            loop = asyncio.get_running_loop()
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            pending = ""
            assert proc.stdout is not None
            while True:
                chunk = await proc.stdout.read(8192)
                pending += decoder.decode(chunk, final=not chunk)
                # Progress bars redraw their line with "\r" and print "\n" only at the end: a "\r" segment
                # updates the progress and the bar shown under the log; a "\n" line goes into the log.
                *segments, pending = _SEGMENT.split(pending)
                for segment, sep in zip(segments[0::2], segments[1::2]):
                    if sep == "\r":
                        state["bar"] = segment
                        state["stage"], state["progress"] = parse_progress(segment, state["stage"],
                                                                           state["progress"])
                        continue
                    state["bar"] = ""
                    if segment.startswith("MODEL_PATH="):
                        model_path = segment.split("=", 1)[1].strip()
                    await add(segment)
                if not chunk:
                    if pending:
                        await add(pending)
                    break
                if loop.time() - last_flush > 1.5:
                    last_flush = loop.time()
                    await self._update(job_id, stage=state["stage"], progress=state["progress"], log=text())
            code = await proc.wait()
            if code != 0 or not model_path:
                raise RuntimeError(f"训练没有成功（退出码 {code}）。正在使用的模型没有变化。请看日志末尾的错误信息。")
            await add("loading the new model into the Rasa server")
            await self._update(job_id, stage=state["stage"], progress=state["progress"], log=text())
            await self._load_model(model_path)
            await add(f"the Rasa server now serves {model_path}")
            await self._update(job_id, status="succeeded", active=None, finished_at=_now(), stage="完成",
                               progress=100, log=text(), model_path=model_path)
            for callback in self.on_model_loaded:
                try:
                    await callback(model_path)
                except Exception:  # a listener's failure must not turn a good run into a failed one
                    log.exception("after-training callback failed")
        except asyncio.CancelledError:
            await self._update(job_id, status="failed", active=None, finished_at=_now(), log=text(),
                               error="训练被中止（控制台正在关闭），正在使用的模型没有变化。")
            raise
        except Exception as exc:  # every failure is the editor's to read, the server keeps its model
            log.warning("training run %s failed: %s", job_id, exc)
            await add(f"ERROR: {exc}")
            await self._update(job_id, status="failed", active=None, finished_at=_now(), log=text(),
                               error=str(exc) or type(exc).__name__)
        finally:
            self._tasks.pop(job_id, None)

    async def _served_model(self, base_url: Optional[str] = None) -> Optional[str]:
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                async with http.get(f"{base_url or self.config.rasa_url}/status",
                                    params={"token": self.config.rasa_token}) as resp:
                    if resp.status == 200:
                        return (await resp.json()).get("model_file")
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return None
        return None

    async def _load_model(self, model_path: str) -> None:
        for base_url in self.config.replica_urls or (self.config.rasa_url,):
            await self._load_model_into(base_url, model_path)

    async def _load_model_into(self, base_url: str, model_path: str) -> None:
        """``PUT /model``: Rasa swaps the agent in place; the tracker store keeps every conversation."""
        url = f"{base_url}/model"
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http:
                async with http.put(url, params={"token": self.config.rasa_token},
                                    json={"model_file": str(model_path)}) as resp:
                    if resp.status not in (200, 204):
                        body = (await resp.text())[:500]
                        raise RuntimeError(f"新模型训练好了，但 Rasa 服务器没能加载（HTTP {resp.status}：{body}）。"
                                           "正在使用的模型没有变化。")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise RuntimeError(f"新模型训练好了，但连不上 Rasa 服务器（{type(exc).__name__}），请稍后再加载。"
                               "正在使用的模型没有变化。")
        served = await self._served_model(base_url)
        if served and Path(served).name != Path(model_path).name:
            raise RuntimeError(f"Rasa 服务器报告的模型是 {served}，不是刚训练的 {model_path}。")
