"""`python -m bench` (`make bench`): NLU quality, latency/throughput by concurrency and topology, cost.

Writes bench/results/<date>.json, bench/results/latest.json, PNG charts and bench/results/latest.md (the table
README quotes). Every figure is also given as a ratio to the stock baseline measured in this same run.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Dict, List

from bench import load, targets
from bot.settings import ROOT
from bot.stack import processes

RESULTS = ROOT / "bench" / "results"
LEVELS = (1, 10, 50, 200)


def machine() -> Dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os
    return {"cpu": cpu, "cores": str(os.cpu_count()), "python": platform.python_version(),
            "platform": platform.platform()}


def measure_target(name: str, base_url: str, procs, levels, rounds: int) -> Dict:
    asyncio.run(load.warm_up(base_url))
    results = []
    for c in levels:
        r = asyncio.run(load.run_level(base_url, c, name, rounds=rounds))
        print("  " + load.summary_line(r), flush=True)
        results.append(r)
    return {"levels": load.as_dict(results), "memory_mb": targets.memory(procs)}


def latency_and_throughput(levels, rounds: int, skip_prod: bool) -> Dict:
    from bot.stack.training import ensure_model

    out: Dict[str, Dict] = {}
    work = Path(tempfile.mkdtemp(prefix="huimin-bench-"))
    stock_model, stock_train = targets.stock_bot()
    url, procs, startup = targets.start_stock(stock_model, work / "stock")
    try:
        print("stock rasa init bot (baseline):", flush=True)
        out["stock"] = measure_target("stock", url, procs, levels, rounds)
        out["stock"]["startup_seconds"] = round(startup, 1)
        out["stock"]["training_seconds"] = round(stock_train, 1) or None
    finally:
        processes.stop(procs)
    model = ensure_model()
    url, procs, startup = targets.start_single(model, work / "single")
    try:
        print("huimin single-machine stack:", flush=True)
        out["single"] = measure_target("single", url, procs, levels, rounds)
        out["single"]["startup_seconds"] = round(startup, 1)
    finally:
        processes.stop(procs)
    if not skip_prod:
        try:
            url, procs, startup = targets.start_prod(model, work / "prod")
        except Exception as exc:
            out["prod"] = {"skipped": f"production topology unavailable: {exc}"}
            print(f"  production topology skipped: {exc}", flush=True)
        else:
            try:
                print("huimin production topology (2 Rasa + 2 action servers + nginx, PostgreSQL, Redis):",
                      flush=True)
                out["prod"] = measure_target("prod", url, procs, levels, rounds)
                out["prod"]["startup_seconds"] = round(startup, 1)
            finally:
                processes.stop(procs)
    shutil.rmtree(work, ignore_errors=True)
    return out


def ratios(perf: Dict) -> List[Dict]:
    rows = []
    base = {r["concurrency"]: r for r in perf["stock"]["levels"]}
    single = {r["concurrency"]: r for r in perf.get("single", {}).get("levels", [])}
    for target in ("stock", "single", "prod"):
        for r in perf.get(target, {}).get("levels", []):
            b = base.get(r["concurrency"])
            s = single.get(r["concurrency"])
            rows.append({
                "target": target, "concurrency": r["concurrency"], "throughput": r["throughput"],
                "p50_ms": r["p50_ms"], "p95_ms": r["p95_ms"], "p99_ms": r["p99_ms"], "errors": r["errors"],
                "throughput_vs_stock": round(r["throughput"] / b["throughput"], 2) if b and b["throughput"] else None,
                "p95_vs_stock": round(r["p95_ms"] / b["p95_ms"], 2) if b and b["p95_ms"] else None,
                "throughput_vs_single": round(r["throughput"] / s["throughput"], 2) if s and s["throughput"] else None,
            })
    return rows


def charts(perf: Dict, stamp: str) -> List[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, key in zip(axes, ("p50_ms", "p95_ms", "p99_ms")):
        for target in ("stock", "single", "prod"):
            levels = perf.get(target, {}).get("levels")
            if levels:
                ax.plot([r["concurrency"] for r in levels], [r[key] for r in levels], marker="o", label=target)
        ax.set_xscale("log")
        ax.set_xlabel("concurrent conversations")
        ax.set_ylabel(f"{key.split('_')[0]} latency (ms)")
        ax.set_title(key.split("_")[0])
        ax.legend()
    fig.suptitle(f"Latency percentiles by concurrency ({stamp})")
    fig.tight_layout()
    path = RESULTS / "latency.png"
    fig.savefig(path, dpi=100)
    written.append(str(path.relative_to(ROOT)))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.25
    for i, target in enumerate(("stock", "single", "prod")):
        levels = perf.get(target, {}).get("levels")
        if levels:
            xs = [j + i * width for j in range(len(levels))]
            ax.bar(xs, [r["throughput"] for r in levels], width, label=target)
            ax.set_xticks([j + width for j in range(len(levels))])
            ax.set_xticklabels([str(r["concurrency"]) for r in levels])
    ax.set_xlabel("concurrent conversations")
    ax.set_ylabel("messages per second")
    ax.set_title(f"Throughput by topology ({stamp})")
    ax.legend()
    fig.tight_layout()
    path = RESULTS / "throughput.png"
    fig.savefig(path, dpi=100)
    written.append(str(path.relative_to(ROOT)))
    plt.close(fig)
    return written


def markdown(result: Dict) -> str:
    lines = [f"Measured {result['date']} on {result['machine']['cpu']} ({result['machine']['cores']} cores).", ""]
    if "nlu" in result:
        lines += ["| NLU pipeline (held-out + SMP2017 OOS) | intent acc. | macro-F1 | OOS precision | OOS recall | training s | model MB |",
                  "|---|---|---|---|---|---|---|"]
        for name, m in result["nlu"].items():
            if "training_seconds" in m:
                lines.append(f"| {name} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['oos_precision']:.3f} | "
                             f"{m['oos_recall']:.3f} | {m['training_seconds']} | {m['model_mb']} |")
            else:
                lines.append(f"| difference (huimin − stock) | {m['accuracy']:+.3f} | {m['macro_f1']:+.3f} | "
                             f"{m['oos_precision']:+.3f} | {m['oos_recall']:+.3f} | | |")
        lines.append("")
    if "ratios" in result:
        lines += ["| target | concurrency | msg/s | p50 ms | p95 ms | p99 ms | errors | msg/s vs stock | p95 vs stock | msg/s vs single |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in result["ratios"]:
            lines.append(f"| {r['target']} | {r['concurrency']} | {r['throughput']} | {r['p50_ms']} | {r['p95_ms']} | "
                         f"{r['p99_ms']} | {r['errors']} | {r['throughput_vs_stock']} | {r['p95_vs_stock']} | "
                         f"{r['throughput_vs_single']} |")
        lines.append("")
    if "perf" in result:
        lines += ["| process memory (MB RSS, after the run) | |", "|---|---|"]
        for target, data in result["perf"].items():
            for proc, mb in (data.get("memory_mb") or {}).items():
                lines.append(f"| {target}: {proc} | {mb} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)), help="concurrency levels, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="conversations per slot at each level")
    parser.add_argument("--skip-nlu", action="store_true")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-prod", action="store_true")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    result: Dict = {"date": stamp, "machine": machine()}
    if not args.skip_nlu:
        from bench import nlu_quality
        result["nlu"] = nlu_quality.compare()
    if not args.skip_load:
        levels = [int(x) for x in args.levels.split(",")]
        result["perf"] = latency_and_throughput(levels, args.rounds, args.skip_prod)
        result["ratios"] = ratios(result["perf"])
        result["charts"] = charts(result["perf"], stamp)
    (RESULTS / "latest.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    (RESULTS / f"{stamp[:10]}.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    md = markdown(result)
    (RESULTS / "latest.md").write_text(md)
    print("\n" + md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
