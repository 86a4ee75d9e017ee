"""The lockout counters under concurrency: many verification attempts at once, exactly five counted.

Both in one process (20 attempts on 20 pooled connections) and across separate OS processes, the way two
replicas of the action server share one database.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from bot.applications.importer import import_csv
from bot.applications.models import VerificationCounter
from bot.applications.numbers import parse_answer
from bot.applications.seed import DEMO_CSV
from bot.applications.verification import MAX_FAILURES, app_key, conversation_key, verify
from bot.db import session_scope

ROOT = Path(__file__).resolve().parent.parent
RIGHT, WRONG = parse_answer("31002X"), parse_answer("999999")  # for MZ2026000101 in the demo file


async def counter(db_url: str, key: str):
    async with session_scope(db_url) as s:
        return (await s.execute(sa.select(VerificationCounter).where(VerificationCounter.key == key))).scalar_one()


async def test_twenty_concurrent_wrong_answers_for_one_number_count_exactly_five(db_url):
    await import_csv(DEMO_CSV, url=db_url)

    results = await asyncio.gather(*[verify("MZ2026000101", WRONG, f"conversation-{i}", url=db_url)
                                     for i in range(20)])

    assert Counter(r.outcome for r in results) == {"failed": 5, "locked": 15}
    row = await counter(db_url, app_key("MZ2026000101"))
    assert row.failures == MAX_FAILURES and row.locked_until is not None
    # Locked: the right answer is refused too, from any conversation.
    assert (await verify("MZ2026000101", RIGHT, "the-applicant", url=db_url)).outcome == "locked"


async def test_twenty_concurrent_attempts_in_one_conversation_count_exactly_five(db_url):
    await import_csv(DEMO_CSV, url=db_url)

    results = await asyncio.gather(*[verify(f"MZ20269900{i:02d}", WRONG, "one-conversation", url=db_url)
                                     for i in range(20)])

    assert Counter(r.outcome for r in results) == {"failed": 5, "locked": 15}
    assert (await counter(db_url, conversation_key("one-conversation"))).failures == MAX_FAILURES
    assert (await verify("MZ2026000101", RIGHT, "one-conversation", url=db_url)).outcome == "locked"
    assert (await verify("MZ2026000101", RIGHT, "another-conversation", url=db_url)).outcome == "ok"


WORKER = """
import asyncio, json, os, sys, time
from bot.applications.numbers import parse_answer
from bot.applications.verification import verify
url, start_file, name = sys.argv[1], sys.argv[2], sys.argv[3]
open(f"{start_file}.{name}.ready", "w").close()
while not os.path.exists(start_file):
    time.sleep(0.01)
async def main():
    results = await asyncio.gather(*[verify("MZ2026000101", parse_answer("999999"), f"{name}-{i}", url=url)
                                     for i in range(5)])
    print(json.dumps([r.outcome for r in results]))
asyncio.run(main())
"""


async def test_replicas_in_separate_processes_count_exactly_five(db_url, tmp_path):
    await import_csv(DEMO_CSV, url=db_url)
    start = tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, db_url, str(start), f"replica{n}"], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for n in range(4)]
    # Every worker has finished importing before any starts, so they really start together.
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("go.*.ready"))) < len(workers):
        assert all(w.poll() is None for w in workers), [w.communicate() for w in workers if w.poll() is not None]
        assert time.monotonic() < deadline, "the workers did not get ready"
        time.sleep(0.05)
    start.touch()
    outcomes = Counter()
    for w in workers:
        out, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
        outcomes.update(json.loads(out.strip().splitlines()[-1]))

    assert outcomes == {"failed": 5, "locked": 15}
    assert (await counter(db_url, app_key("MZ2026000101"))).failures == MAX_FAILURES
