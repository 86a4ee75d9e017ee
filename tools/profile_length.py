"""Profile a long conversation inside one process (development): the Rasa agent in-process with Huimin's tracker
store and lock store, the action server as a child process, the length test's 200 questions one after another.
Reports the CPU time (``time.process_time``) of this process per turn, the medians of the first and last 20 turns,
and with ``--profile`` a cProfile of each window (pstats files and the top functions). CPU time, not wall clock:
it holds still on a machine other work keeps busy.

    python -m tools.profile_length [--tracker-url URL] [--messages 200] [--profile DIR] [--model PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import List, Optional

WINDOW = 20


def _start_actions(work: Path) -> tuple:
    from bench.targets import _seed, free_port
    from bot.db import migrate
    from bot.settings import get_settings
    from bot.stack import processes

    port = free_port()
    os.environ.update({"HUIMIN_ACTIONS_PORT": str(port), "HUIMIN_ACTIONS_HOST": "127.0.0.1",
                       "HUIMIN_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'huimin.db'}", "HUIMIN_REDIS_URL": ""})
    migrate(os.environ["HUIMIN_DATABASE_URL"])
    _seed()
    settings = get_settings()
    env = processes.stack_env(settings)
    proc = processes.spawn("actions", [sys.executable, "-m", "bot", "actions", "--port", str(port),
                                       "--host", "127.0.0.1"], f"http://127.0.0.1:{port}/health", env, work / "log")
    if not processes.wait_healthy(proc.health_url, 300, proc.popen):
        processes.stop([proc])
        raise SystemExit(f"action server did not start; see {work / 'log'}")
    return proc, port, settings.actions_token


async def _run(questions: List[str], model: Path, tracker_url: str, messages: int, profile_dir: Optional[Path],
               port: int, token: str, actions_pid: int, transcript_file: Optional[Path] = None) -> dict:
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
    from rasa.utils.endpoints import EndpointConfig

    from bench.length import cpu_ms
    from bot.rasa import fixes as rasa_fixes
    from bot.rasa.lock_store import HuiminLockStore
    from bot.rasa.tracker_store import HuiminTrackerStore

    store = HuiminTrackerStore(url=tracker_url)
    action = EndpointConfig(url=f"http://127.0.0.1:{port}/webhook", headers={"X-Huimin-Actions-Token": token})
    agent = Agent.load(str(model), tracker_store=store, lock_store=HuiminLockStore(), action_endpoint=action)
    store.domain = agent.domain
    sender = f"profile-{uuid.uuid4().hex[:8]}"
    # Warm up another conversation: first-call costs (TF graphs, jieba) are not part of a turn.
    for text in questions[:3]:
        await agent.handle_message(UserMessage(text, CollectingOutputChannel(), "warm-" + sender, input_channel="rest"))
    cpu: List[float] = []
    actions_cpu: List[float] = []
    replies: List[int] = []
    transcript: List[str] = []
    profiler = None
    for i in range(messages):
        if profile_dir is not None and i in (0, messages - WINDOW):
            profiler = cProfile.Profile()
            profiler.enable()
        out = CollectingOutputChannel()
        before, actions_before = time.process_time(), cpu_ms([actions_pid])
        await agent.handle_message(UserMessage(questions[i % len(questions)], out, sender, input_channel="rest"))
        cpu.append((time.process_time() - before) * 1000)
        actions_cpu.append(cpu_ms([actions_pid]) - actions_before)
        replies.append(len(out.messages))
        transcript.append(json.dumps([m.get("text") for m in out.messages], ensure_ascii=False))
        if profiler is not None and i in (WINDOW - 1, messages - 1):
            profiler.disable()
            name = "first" if i == WINDOW - 1 else "last"
            profiler.dump_stats(str(profile_dir / f"{name}.pstats"))
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(45)
            (profile_dir / f"{name}.txt").write_text(text.getvalue())
            profiler = None
    tracker = await store.retrieve(sender)
    if transcript_file is not None:
        # What was said and done, to compare two versions: replies, then the stored events without times and ids.
        stored = [{k: v for k, v in e.as_dict().items() if k not in ("timestamp", "message_id")}
                  for e in (tracker.events if tracker else [])]
        transcript_file.write_text("\n".join(transcript + [json.dumps(e, ensure_ascii=False, sort_keys=True)
                                                           for e in stored]) + "\n")
    first, last = cpu[:WINDOW], cpu[-WINDOW:]
    return {"messages": messages, "events": len(tracker.events) if tracker else None,
            "no_reply_turns": sum(1 for r in replies if not r),
            "cpu_first_median_ms": round(statistics.median(first), 1),
            "cpu_last_median_ms": round(statistics.median(last), 1),
            "cpu_first_mean_ms": round(statistics.mean(first), 1), "cpu_last_mean_ms": round(statistics.mean(last), 1),
            "ratio_median": round(statistics.median(last) / statistics.median(first), 2),
            # /proc ticks are 10 ms: means of the window
            "actions_cpu_first_mean_ms": round(statistics.mean(actions_cpu[:WINDOW]), 1),
            "actions_cpu_last_mean_ms": round(statistics.mean(actions_cpu[-WINDOW:]), 1),
            "ted_skipped": rasa_fixes.ted_skipped}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.profile_length", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracker-url", default="", help="tracker database (default: a scratch SQLite file)")
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--profile", default="", help="directory for the cProfile of the first and last 20 turns")
    parser.add_argument("--model", default="", help="model (default: the current one; never trains)")
    parser.add_argument("--questions", default="", help="file of messages, one a line (default: the length test's)")
    parser.add_argument("--transcript", default="", help="file for the replies and stored events (to compare)")
    args = parser.parse_args(argv)
    import logging

    from rasa.utils.log_utils import configure_structlog

    from bot.stack import processes
    from bot.stack.training import fingerprint, latest_model, model_path

    # The Rasa server's log level (INFO): debug records, and whatever Rasa computes only for them, are dropped.
    logging.basicConfig(level=logging.INFO)
    configure_structlog(logging.INFO)

    model = Path(args.model) if args.model else model_path(fingerprint())
    if not model.exists():
        model = latest_model()
        if model is None:
            raise SystemExit("no trained model in models/: `python -m bot model` first")
    work = Path(tempfile.mkdtemp(prefix="huimin-profile-"))
    profile_dir = Path(args.profile) if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    proc = None
    try:
        proc, port, token = _start_actions(work)
        url = args.tracker_url or f"sqlite:///{work / 'tracker.db'}"
        from bench.length import QUESTIONS

        questions = ([q.strip() for q in Path(args.questions).read_text().splitlines() if q.strip()]
                     if args.questions else QUESTIONS)
        out = asyncio.run(_run(questions, model, url, max(args.messages, 2 * WINDOW), profile_dir, port, token,
                              proc.popen.pid, Path(args.transcript) if args.transcript else None))
        out["model"] = model.name
        print(out, flush=True)
    finally:
        if proc is not None:
            processes.stop([proc])
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
