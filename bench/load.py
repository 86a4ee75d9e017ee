"""A load generator: C concurrent conversations, each a realistic scripted mix, against a REST channel.

Closed loop: every conversation sends its messages one after another (a resident waits for the answer, no think
time); conversations run concurrently and new ones start until the level has sent at least ``min_messages``.
Latency is measured per message; throughput is messages answered per second of wall time. Each level is
repeated; the figures reported are the medians of the repetitions, with their range (spread).

Paced (``run_paced``): N residents typing at a human pace, each waiting ``interval`` seconds after an answer
before the next message — the load a deployment sees; capacity is the largest N served with p95 ≤ 1 s.
"""
from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

import aiohttp

# Realistic mixes: mostly knowledge questions, some status lookups and bookings (demo data from the seed).
KNOWLEDGE = ["你好", "低保要带什么材料", "在哪儿办", "高龄津贴多少钱", "谢谢"]
KNOWLEDGE_2 = ["我妈今年82了能领高龄津贴不", "那要什么材料", "多久能批下来", "残疾人两项补贴是什么", "好的谢谢"]
STATUS = ["查一下我的申请进度", "MZ2026000101", "算了", "临时救助怎么申请", "再见"]
BOOKING = ["我想预约助餐", "明天中午", "算了", "助浴是什么服务", "谢谢"]
MIXES = [KNOWLEDGE, KNOWLEDGE_2, KNOWLEDGE, STATUS, BOOKING]
MIN_MESSAGES = 200


@dataclass
class LevelResult:
    target: str
    concurrency: int
    messages: int
    errors: int
    wall_seconds: float
    throughput: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    error_samples: List[str] = field(default_factory=list)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[k]


async def send(session: aiohttp.ClientSession, url: str, sender: str, text: str, errors: List[str]) -> Optional[float]:
    """One message; its latency in ms, or None (and the reason in ``errors``) when it failed."""
    started = time.perf_counter()
    try:
        async with session.post(url, json={"sender": sender, "message": text}) as resp:
            body = await resp.json(content_type=None)
            if resp.status != 200 or not isinstance(body, list):
                errors.append(f"{resp.status}: {str(body)[:100]}")
                return None
    except Exception as exc:  # a refused connection or timeout is an error of the system under test
        errors.append(f"{type(exc).__name__}: {exc}"[:120])
        return None
    return (time.perf_counter() - started) * 1000


async def _conversation(session: aiohttp.ClientSession, url: str, script: List[str], latencies: List[float],
                        errors: List[str]) -> None:
    sender = f"bench-{uuid.uuid4().hex[:12]}"
    for text in script:
        ms = await send(session, url, sender, text, errors)
        if ms is not None:
            latencies.append(ms)


def _result(target: str, concurrency: int, latencies: List[float], errors: List[str], wall: float) -> LevelResult:
    return LevelResult(target=target, concurrency=concurrency, messages=len(latencies), errors=len(errors),
                       wall_seconds=round(wall, 3), throughput=round(len(latencies) / wall, 2) if wall else 0.0,
                       p50_ms=round(percentile(latencies, 50), 1), p95_ms=round(percentile(latencies, 95), 1),
                       p99_ms=round(percentile(latencies, 99), 1), error_samples=errors[:5])


async def run_level(base_url: str, concurrency: int, target: str, min_messages: int = MIN_MESSAGES,
                    mixes: Optional[List[List[str]]] = None) -> LevelResult:
    """``concurrency`` conversations at once, each slot starting a new conversation when its last one ended,
    until at least ``min_messages`` were sent (at least one conversation per slot)."""
    url = base_url.rstrip("/") + "/webhooks/rest/webhook"
    mixes = mixes or MIXES
    latencies: List[float] = []
    errors: List[str] = []
    sent = [0]

    async def slot(i: int, session: aiohttp.ClientSession) -> None:
        n = i
        while True:  # every slot has at least one conversation: the level really is ``concurrency`` at once
            script = mixes[n % len(mixes)]
            sent[0] += len(script)
            await _conversation(session, url, script, latencies, errors)
            n += concurrency
            if sent[0] >= min_messages:
                break

    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(slot(i, session) for i in range(concurrency)))
        wall = time.perf_counter() - started
    return _result(target, concurrency, latencies, errors, wall)


async def run_paced(base_url: str, residents: int, target: str, interval: float = 10.0,
                    min_messages: int = MIN_MESSAGES, seed: int = 16) -> LevelResult:
    """``residents`` conversations, each message ``interval`` s after the previous answer (starts spread over
    the first interval), at least two messages each and ``min_messages`` in all."""
    url = base_url.rstrip("/") + "/webhooks/rest/webhook"
    per_resident = max(2, -(-min_messages // residents))
    rng = random.Random(seed)
    latencies: List[float] = []
    errors: List[str] = []

    async def resident(i: int, delay: float, session: aiohttp.ClientSession) -> None:
        await asyncio.sleep(delay)
        script = MIXES[i % len(MIXES)]
        sender = f"bench-paced-{uuid.uuid4().hex[:12]}"
        for k in range(per_resident):
            ms = await send(session, url, sender, script[k % len(script)], errors)
            if ms is not None:
                latencies.append(ms)
            if k + 1 < per_resident:
                await asyncio.sleep(interval)

    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(resident(i, rng.uniform(0, interval), session) for i in range(residents)))
        wall = time.perf_counter() - started
    return _result(target, residents, latencies, errors, wall)


async def warm_up(base_url: str, n: int = 3) -> None:
    await run_level(base_url, n, "warm-up", min_messages=n * 5)


def combine(reps: List[LevelResult]) -> Dict:
    """Median of the repetitions for each figure, with the range (min, max) as the spread."""
    out: Dict = {"target": reps[0].target, "concurrency": reps[0].concurrency, "repetitions": len(reps),
                 "messages": sum(r.messages for r in reps), "errors": sum(r.errors for r in reps)}
    for key in ("throughput", "p50_ms", "p95_ms", "p99_ms"):
        values = [getattr(r, key) for r in reps]
        out[key] = round(statistics.median(values), 1)
        out[f"{key}_range"] = [round(min(values), 1), round(max(values), 1)]
    out["error_samples"] = [s for r in reps for s in r.error_samples][:5]
    out["runs"] = [asdict(r) for r in reps]
    return out


def summary_line(r: Dict) -> str:
    return (f"{r['target']:8s} c={r['concurrency']:<4d} reps={r['repetitions']} msgs={r['messages']:<5d} "
            f"err={r['errors']:<3d} thr={r['throughput']:7.1f}/s {r['throughput_range']} "
            f"p50={r['p50_ms']:7.1f} p95={r['p95_ms']:7.1f} {r['p95_ms_range']} p99={r['p99_ms']:7.1f} ms")
