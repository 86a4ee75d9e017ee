"""Flat with length: one conversation of 200 knowledge questions in one session; the median turn of messages
181–200 against messages 1–20 (target ≤ 1.3×). Besides wall-clock latency, the CPU time the Rasa process(es)
spent per turn is read from /proc, which a busy machine disturbs far less than latency."""
from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from typing import Dict, List, Optional

import aiohttp

from bench.load import send

# Knowledge questions about programmes and follow-ups of a resident who keeps asking (one of them usually falls
# back: residents' conversations have those too, and each leaves a rewind in the history). No service question:
# 助浴是什么服务 opens the booking form, which then stays active — a different conversation (measured in the
# closing note of issue 16: the form's validation rebuilds a tracker from every event on every turn).
QUESTIONS = ["低保要带什么材料", "高龄津贴多少钱", "残疾人两项补贴是什么", "临时救助怎么申请", "特困供养在哪儿办",
             "在哪儿办", "多久能批下来", "那要什么材料", "高龄津贴在哪儿申请", "谢谢"]
MESSAGES = 200
WINDOW = 20


def cpu_ms(pids: List[int]) -> float:
    """User + system CPU time of the processes and their direct children (Sanic workers), in ms."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    seen = set()
    for pid in pids:
        family = [pid]
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                family += [int(c) for c in f.read().split()]
        except OSError:
            pass
        for p in family:
            if p in seen:
                continue
            seen.add(p)
            try:
                with open(f"/proc/{p}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except OSError:
                continue
    return total * 1000 / tick


async def long_conversation(base_url: str, rasa_pids: List[int], messages: int = MESSAGES) -> Dict:
    url = base_url.rstrip("/") + "/webhooks/rest/webhook"
    sender = f"bench-long-{uuid.uuid4().hex[:10]}"
    latency: List[float] = []
    cpu: List[float] = []
    errors: List[str] = []
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for i in range(messages):
            before = cpu_ms(rasa_pids)
            ms = await send(session, url, sender, QUESTIONS[i % len(QUESTIONS)], errors)
            cpu.append(cpu_ms(rasa_pids) - before)
            latency.append(ms if ms is not None else float("nan"))
    first, last = latency[:WINDOW], latency[-WINDOW:]
    out = {"messages": messages, "errors": len(errors), "error_samples": errors[:3],
           "first_median_ms": round(statistics.median(first), 1), "last_median_ms": round(statistics.median(last), 1),
           # CPU ticks are 10 ms: the mean of 20 turns, not the median, resolves a turn's few ms.
           "cpu_first_ms": round(sum(cpu[:WINDOW]) / WINDOW, 1), "cpu_last_ms": round(sum(cpu[-WINDOW:]) / WINDOW, 1)}
    out["ratio"] = round(out["last_median_ms"] / out["first_median_ms"], 2) if out["first_median_ms"] else None
    out["cpu_ratio"] = round(out["cpu_last_ms"] / out["cpu_first_ms"], 2) if out["cpu_first_ms"] else None
    return out


def measure(base_url: str, rasa_pids: List[int], messages: int = MESSAGES) -> Dict:
    started = time.perf_counter()
    out = asyncio.run(long_conversation(base_url, rasa_pids, max(messages, 2 * WINDOW)))
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m bench.length``: the length test alone (development), on the single stack (SQLite) and/or the
    production topology (PostgreSQL, 2 replicas), started and stopped as ``make bench`` does; nothing is written
    to bench/results. For before/after comparisons on a shared machine, read the CPU figures."""
    import argparse

    from bench import machine, targets

    parser = argparse.ArgumentParser(prog="python -m bench.length", description=main.__doc__)
    parser.add_argument("--systems", default="single,prod", help="single, prod or both, comma-separated")
    parser.add_argument("--messages", type=int, default=MESSAGES)
    parser.add_argument("--model", default="", help="model (default: the current one, trained if needed)")
    args = parser.parse_args(argv)
    for name, url, procs, before in targets.each_system(args.systems, args.model, "huimin-length-"):
        pids = [p.popen.pid for p in procs if p.name.startswith(("rasa", "stock"))]
        out = measure(url, pids, args.messages)
        print(f"{name}: {out} (load average {before} -> {machine.load_average()})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
