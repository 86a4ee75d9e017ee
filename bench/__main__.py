"""`python -m bench` (`make bench`): latency and throughput of the stock `rasa init` bot (baseline), Huimin's
single stack and its production topology in one run, capacity at a human pace, flat-with-length on SQLite and
PostgreSQL, start-up and memory; optionally NLU quality (``--nlu``) and training cost (``--train-cost``).

Writes bench/results/<date>.json, bench/results/latest.json (targets with the measured values), PNG charts and
bench/results/latest.md; `python -m bench.readme` puts the figures into README. Every figure is also given as a
ratio to the stock bot measured in the same run. Refuses to measure on a busy machine (``--allow-busy``
overrides, for development; such results are marked busy and README refuses them).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

from bench import cleanup, load, machine, report, targets
from bot.settings import ROOT

RESULTS = ROOT / "bench" / "results"
LEVELS = (1, 10, 50)
REPETITIONS = 3
HUMAN_PACE_SECONDS = 10.0
CAPACITY_P95_MS = 1000.0


def measure_levels(name: str, url: str, levels, repetitions: int, min_messages: int) -> List[Dict]:
    asyncio.run(load.warm_up(url))
    out = []
    for c in levels:
        reps = [asyncio.run(load.run_level(url, c, name, min_messages=min_messages)) for _ in range(repetitions)]
        combined = load.combine(reps)
        print("  " + load.summary_line(combined), flush=True)
        out.append(combined)
    return out


def capacity(name: str, url: str, levels: List[Dict], min_messages: int) -> Dict:
    """Residents typing one message every 10 s served with p95 ≤ 1 s: estimated from the closed-loop levels
    (70 % of 10 s × the best throughput whose p95 ≤ 1 s), then checked with that many paced residents (30 %
    fewer each time it fails, three tries). A lower bound: a number that passes is not searched upwards."""
    ok = [r["throughput"] for r in levels if r["p95_ms"] <= CAPACITY_P95_MS and not r["errors"]]
    # At 70 % of the closed-loop throughput: at 100 % a queue grows whatever the latency of one message.
    residents = int(max(ok or [min(r["throughput"] for r in levels)]) * HUMAN_PACE_SECONDS * 0.7)
    tries = []
    for _ in range(3):
        residents = max(1, residents)
        r = asyncio.run(load.run_paced(url, residents, name, HUMAN_PACE_SECONDS, min_messages))
        tries.append({"residents": residents, "messages": r.messages, "errors": r.errors, "p50_ms": r.p50_ms,
                      "p95_ms": r.p95_ms, "p99_ms": r.p99_ms})
        print(f"  paced: {residents} residents, one message every {HUMAN_PACE_SECONDS:.0f} s: p95 {r.p95_ms} ms, "
              f"errors {r.errors}", flush=True)
        if r.p95_ms <= CAPACITY_P95_MS and not r.errors:
            return {"residents": residents, "verified": True, "tries": tries}
        residents = int(residents * 0.7)
    return {"residents": None, "verified": False, "tries": tries}


def measure_target(name: str, start, args, work: Path, with_length: bool = False) -> Dict:
    quiet = machine.check_quiet(name, args.allow_busy)
    out: Dict = {"quiet": quiet}
    try:
        url, procs, startup = start(work / name)
    except targets.TargetUnavailable as exc:
        print(f"  {name} skipped: {exc}", flush=True)
        return {"skipped": str(exc), "quiet": quiet}
    try:
        out["startup_seconds"] = round(startup, 1)
        out["levels"] = measure_levels(name, url, args.levels, args.repetitions, args.min_messages)
        out["capacity"] = capacity(name, url, out["levels"], args.min_messages)
        if with_length:
            from bench import length
            pids = [p.popen.pid for p in procs if p.name.startswith(("rasa", "stock"))]
            out["length"] = length.measure(url, pids, args.length_messages)
            print(f"  long conversation: {out['length']}", flush=True)
        out["memory_mb"] = targets.memory(procs)
        if name == "single":
            from bench import breakdown
            from bot.settings import get_settings

            s = get_settings()
            out["breakdown"] = asyncio.run(breakdown.measure(url, f"http://127.0.0.1:{s.actions_port}", s.rasa_token))
            print(f"  one message, unqueued (median ms): {out['breakdown']}", flush=True)
    finally:
        cleanup.stop(procs)
        out["load_average_after"] = machine.load_average()
    return out


def run_perf(args) -> Dict:
    from bot.stack.training import ensure_model

    work = Path(tempfile.mkdtemp(prefix="huimin-bench-"))
    keep_logs = [False]
    cleanup.on_exit(lambda: None if keep_logs[0] else shutil.rmtree(work, ignore_errors=True))
    # A given model keeps a long measurement from waiting for a retrain when someone edits the data meanwhile.
    model = Path(args.model).resolve() if args.model else ensure_model()
    stock_model, stock_train = targets.stock_bot()
    perf: Dict = {"model": {"file": model.name, "model_mb": round(model.stat().st_size / 1e6, 1)}}
    print("stock rasa init bot (baseline):", flush=True)
    perf["stock"] = measure_target("stock", lambda w: targets.start_stock(stock_model, w), args, work)
    perf["stock"]["training_seconds"] = round(stock_train, 1) or None
    print("huimin single-machine stack (SQLite):", flush=True)
    perf["single"] = measure_target("single", lambda w: targets.start_single(model, w), args, work, with_length=True)
    if not args.skip_prod:
        print("huimin production topology (2 Rasa + 2 action servers + nginx, PostgreSQL, Redis):", flush=True)
        perf["prod"] = measure_target("prod", lambda w: targets.start_prod(model, w), args, work, with_length=True)
        if "skipped" in perf["prod"]:
            keep_logs[0] = True
            print(f"  logs kept for the skipped topology: {work / 'prod'}", flush=True)
    return perf


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)), help="concurrency levels, comma-separated")
    parser.add_argument("--repetitions", "--rounds", type=int, default=REPETITIONS,
                        help="repetitions of each level (median and spread are reported)")
    parser.add_argument("--min-messages", type=int, default=load.MIN_MESSAGES, help="messages per level and repetition")
    parser.add_argument("--length-messages", type=int, default=200, help=argparse.SUPPRESS)  # development only
    parser.add_argument("--allow-busy", action="store_true",
                        help="measure even when other work uses the machine (development only; results marked busy)")
    parser.add_argument("--nlu", action="store_true", help="also NLU quality against stock Rasa's pipeline (hours)")
    parser.add_argument("--skip-nlu", action="store_true", help=argparse.SUPPRESS)  # the default now
    parser.add_argument("--skip-residents", action="store_true",
                        help="skip the resident evaluation set (issue 11: useful replies per class, end to end)")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-prod", action="store_true")
    parser.add_argument("--model", default="",
                        help="Huimin model to serve (default: the current one, trained if needed)")
    parser.add_argument("--train-cost", action="store_true",
                        help="also time a full training of Huimin's model from scratch (minutes)")
    args = parser.parse_args(argv)
    args.levels = [int(x) for x in args.levels.split(",")]
    cleanup.install()
    started = time.perf_counter()
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    result: Dict = {"date": stamp, "machine": machine.describe(),
                    "command": " ".join(["python -m bench"] + (sys.argv[1:] if argv is None else argv)),
                    "load_average_start": machine.load_average()}
    try:
        if args.train_cost:
            result["training"] = report.training_cost()
            print(f"  training from scratch: {result['training']}", flush=True)
        if args.nlu:
            from bench import nlu_quality
            result["nlu"] = nlu_quality.compare()
            result["nlu_load_average"] = machine.load_average()
        if not args.skip_residents:
            from bench import residents
            result["residents"] = residents.for_bench(args.model)
        if not args.skip_load:
            result["perf"] = run_perf(args)
            result["ratios"] = report.ratios(result["perf"])
            result["targets"] = report.check_targets(result["perf"], result["ratios"])
    except machine.MachineBusy as exc:
        print(f"\nREFUSED: {exc}", file=sys.stderr, flush=True)
        return 3
    finally:
        cleanup.stop_all()
    result["busy"] = any(t.get("quiet", {}).get("busy") for t in result.get("perf", {}).values() if isinstance(t, dict))
    result["duration_seconds"] = round(time.perf_counter() - started)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if result["busy"]:
        # Development figures never replace the published ones (latest.json, the charts, README).
        text = json.dumps(result, ensure_ascii=False, indent=2)
        (RESULTS / "busy-latest.json").write_text(text)
        (RESULTS / "busy-latest.md").write_text(report.markdown(result))
        print("\n" + report.markdown(result))
        print(f"bench took {result['duration_seconds']} s on a BUSY machine: bench/results/busy-latest.json "
              "(latest.json and README untouched)", flush=True)
        return 0
    if "perf" in result:
        result["charts"] = report.charts(result["perf"], stamp, RESULTS)
    # Parts skipped in this run keep their figures from the previous one (each with its own date).
    previous = json.loads((RESULTS / "latest.json").read_text()) if (RESULTS / "latest.json").exists() else {}
    for part in ("training", "nlu", "residents"):
        if part not in result and part in previous:
            result[part] = previous[part]
            result.setdefault("dates", {})[part] = previous.get("dates", {}).get(part, previous.get("date"))
    for part in ("training", "nlu", "residents", "perf"):
        if part in result:
            result.setdefault("dates", {}).setdefault(part, stamp)
    if "perf" not in result and "perf" in previous:
        for part in ("perf", "ratios", "targets", "charts"):
            if part in previous:
                result[part] = previous[part]
        result.setdefault("dates", {})["perf"] = previous.get("dates", {}).get("perf", previous.get("date"))
        result["busy"] = previous.get("busy", False)
    text = json.dumps(result, ensure_ascii=False, indent=2)
    (RESULTS / "latest.json").write_text(text)
    (RESULTS / f"{stamp[:10]}.json").write_text(text)
    md = report.markdown(result)
    (RESULTS / "latest.md").write_text(md)
    print("\n" + md)
    print(f"bench took {result['duration_seconds']} s; README: python -m bench.readme", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
