"""A load generator: C concurrent conversations, each a realistic scripted mix, against a REST channel.

Every conversation sends its messages one after another (a resident waits for the answer); conversations run
concurrently. Latency is measured per message; throughput is messages answered per second of wall time.
"""
from __future__ import annotations

import asyncio
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


async def _conversation(session: aiohttp.ClientSession, url: str, script: List[str], latencies: List[float],
                        errors: List[str]) -> None:
    sender = f"bench-{uuid.uuid4().hex[:12]}"
    for text in script:
        started = time.perf_counter()
        try:
            async with session.post(url, json={"sender": sender, "message": text}) as resp:
                body = await resp.json(content_type=None)
                if resp.status != 200 or not isinstance(body, list):
                    errors.append(f"{resp.status}: {str(body)[:100]}")
                    continue
        except Exception as exc:  # a refused connection or timeout is an error of the system under test
            errors.append(f"{type(exc).__name__}: {exc}"[:120])
            continue
        latencies.append((time.perf_counter() - started) * 1000)


async def run_level(base_url: str, concurrency: int, target: str, rounds: int = 1,
                    mixes: Optional[List[List[str]]] = None) -> LevelResult:
    """``concurrency`` conversations at once, ``rounds`` times; returns the measured figures."""
    url = base_url.rstrip("/") + "/webhooks/rest/webhook"
    mixes = mixes or MIXES
    latencies: List[float] = []
    errors: List[str] = []
    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        started = time.perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*(_conversation(session, url, mixes[i % len(mixes)], latencies, errors)
                                   for i in range(concurrency)))
        wall = time.perf_counter() - started
    return LevelResult(target=target, concurrency=concurrency, messages=len(latencies), errors=len(errors),
                       wall_seconds=round(wall, 3), throughput=round(len(latencies) / wall, 2) if wall else 0.0,
                       p50_ms=round(percentile(latencies, 50), 1), p95_ms=round(percentile(latencies, 95), 1),
                       p99_ms=round(percentile(latencies, 99), 1), error_samples=errors[:5])


async def warm_up(base_url: str, n: int = 3) -> None:
    await run_level(base_url, n, "warm-up")


def as_dict(results: List[LevelResult]) -> List[Dict]:
    return [asdict(r) for r in results]


def summary_line(r: LevelResult) -> str:
    return (f"{r.target:12s} c={r.concurrency:<4d} msgs={r.messages:<5d} err={r.errors:<4d} "
            f"thr={r.throughput:8.2f}/s p50={r.p50_ms:8.1f} p95={r.p95_ms:8.1f} p99={r.p99_ms:8.1f} ms")


