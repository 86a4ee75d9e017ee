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


def load_average() -> List[float]:
    """The machine's 1/5/15-minute load average: other work on the machine skews every figure."""
    import os
    return [round(x, 2) for x in os.getloadavg()]


def measure_target(name: str, base_url: str, procs, levels, rounds: int) -> Dict:
    asyncio.run(load.warm_up(base_url))
    results = []
    load_before = load_average()
    for c in levels:
        r = asyncio.run(load.run_level(base_url, c, name, rounds=rounds))
        print("  " + load.summary_line(r), flush=True)
        results.append(r)
    return {"levels": load.as_dict(results), "memory_mb": targets.memory(procs),
            "load_average_before": load_before, "load_average_after": load_average()}


def training_cost() -> Dict:
    """Full training of Huimin's model from scratch (Rasa's cache disabled), into a scratch folder."""
    import os
    import subprocess
    import sys

    from bot.stack.training import export_knowledge

    export_knowledge()
    with tempfile.TemporaryDirectory(prefix="huimin-train-cost-") as tmp:
        cmd = [sys.executable, "-m", "rasa", "train", "--config", str(ROOT / "config.yml"),
               "--domain", str(ROOT / "bot" / "domain"), "--data", str(ROOT / "data"), str(ROOT / "build" / "data"),
               "--out", tmp, "--fixed-model-name", "cost"]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", RASA_MAX_CACHE_SIZE="0")
        started = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - started
        size = (Path(tmp) / "cost.tar.gz").stat().st_size
    return {"training_seconds": round(seconds, 1), "model_mb": round(size / 1e6, 1), "load_average": load_average()}


def latency_and_throughput(levels, rounds: int, skip_prod: bool, model_file: str = "") -> Dict:
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
    # A given model keeps a long measurement from waiting for a retrain when someone edits the data meanwhile.
    model = Path(model_file).resolve() if model_file else ensure_model()
    out["model"] = {"file": model.name, "model_mb": round(model.stat().st_size / 1e6, 1)}
    url, procs, startup = targets.start_single(model, work / "single")
    try:
        print("huimin single-machine stack:", flush=True)
        out["single"] = measure_target("single", url, procs, levels, rounds)
        out["single"]["startup_seconds"] = round(startup, 1)
        from bench import breakdown
        from bot.settings import get_settings

        s = get_settings()
        out["single"]["breakdown"] = asyncio.run(
            breakdown.measure(url, f"http://127.0.0.1:{s.actions_port}", s.rasa_token))
        print(f"  one message, unqueued (median ms): {out['single']['breakdown']}", flush=True)
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
                targets.drop_prod_databases()
    if "skipped" in out.get("prod", {}):
        print(f"  logs kept for the skipped topology: {work / 'prod' / 'log'}", flush=True)
    else:
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
    dates = result.get("dates", {})
    when = ", ".join(f"{part} {date}" for part, date in dates.items()) or result["date"]
    lines = [f"Measured on {result['machine']['cpu']} ({result['machine']['cores']} cores): {when}.", ""]
    if "nlu" in result:
        lines += ["| NLU pipeline (held-out + SMP2017 OOS) | intent acc. | macro-F1 | OOS precision | OOS recall "
                  "| entity F1 | training s | model MB |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, m in result["nlu"].items():
            if "training_seconds" in m:
                lines.append(f"| {name} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['oos_precision']:.3f} | "
                             f"{m['oos_recall']:.3f} | {m['entity_f1']:.3f} | {m['training_seconds']} "
                             f"| {m['model_mb']} |")
            else:
                lines.append(f"| difference (huimin − stock) | {m['accuracy']:+.3f} | {m['macro_f1']:+.3f} | "
                             f"{m['oos_precision']:+.3f} | {m['oos_recall']:+.3f} | {m['entity_f1']:+.3f} | | |")
        lines.append("")
    if "ratios" in result:
        lines += ["| target | concurrency | msg/s | p50 ms | p95 ms | p99 ms | errors | msg/s vs stock | p95 vs stock "
                  "| msg/s vs single |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in result["ratios"]:
            lines.append(f"| {r['target']} | {r['concurrency']} | {r['throughput']} | {r['p50_ms']} | {r['p95_ms']} | "
                         f"{r['p99_ms']} | {r['errors']} | {r['throughput_vs_stock']} | {r['p95_vs_stock']} | "
                         f"{r['throughput_vs_single']} |")
        lines.append("")
    if "targets" in result:
        lines += ["| target (issue 8) | measured | met |", "|---|---|---|"]
        for t in result["targets"]:
            lines.append(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |")
        lines.append("")
    if "perf" in result:
        lines += ["| system under test | start-up s | load average before → after (1/5/15 min) |", "|---|---|---|"]
        for target, data in result["perf"].items():
            if "startup_seconds" in data:
                lines.append(f"| {target} | {data['startup_seconds']} | {data.get('load_average_before')} → "
                             f"{data.get('load_average_after')} |")
        lines.append("")
        lines += ["| process memory (MB RSS, after the run) | |", "|---|---|"]
        for target, data in result["perf"].items():
            for proc, mb in (data.get("memory_mb") or {}).items():
                lines.append(f"| {target}: {proc} | {mb} |")
        lines.append("")
    bd = result.get("perf", {}).get("single", {}).get("breakdown")
    if bd:
        lines += ["| one knowledge question, single stack, unqueued (median ms) | |", "|---|---|",
                  f"| whole REST round trip | {bd['turn_ms']} |",
                  f"| NLU parse alone (`/model/parse`) | {bd['nlu_parse_ms']} |",
                  f"| custom action alone (replayed to the action server) | {bd['action_ms']} |",
                  f"| the rest: dialogue policies, tracker store, lock store, HTTP | {bd['rest_ms']} |", ""]
    cost = []
    if "model" in result.get("perf", {}):
        cost.append(f"Huimin model {result['perf']['model']['file']}: {result['perf']['model']['model_mb']} MB.")
    if result.get("perf", {}).get("stock", {}).get("training_seconds"):
        cost.append(f"Stock `rasa init` bot trained in {result['perf']['stock']['training_seconds']} s.")
    if "training" in result:
        t = result["training"]
        cost.append(f"Huimin full training from scratch (no cache): {t['training_seconds']} s, "
                    f"model {t['model_mb']} MB "
                    f"(load average {t['load_average']}).")
    if cost:
        lines += [" ".join(cost), ""]
    return "\n".join(lines)


def check_targets(ratios_: List[Dict]) -> List[Dict]:
    """The issue's targets, each with what was measured and whether it was met."""
    by = {(r["target"], r["concurrency"]): r for r in ratios_}
    out = []
    levels = sorted({r["concurrency"] for r in ratios_})
    peak = {t: max((by[(t, c)]["throughput"] for c in levels if (t, c) in by), default=0)
            for t in ("stock", "single", "prod")}
    if peak["stock"] and peak["single"]:
        ratio = round(peak["single"] / peak["stock"], 2)
        out.append({"target": "single stack ≥ 0.8× stock throughput (best level each)",
                    "measured": f"{peak['single']} vs {peak['stock']} msg/s = {ratio}×", "met": ratio >= 0.8})
    if peak["single"] and peak["prod"]:
        ratio = round(peak["prod"] / peak["single"], 2)
        out.append({"target": "production topology ≥ 1.5× single stack throughput (best level each)",
                    "measured": f"{peak['prod']} vs {peak['single']} msg/s = {ratio}×", "met": ratio >= 1.5})
    for t in ("single", "prod"):
        if (t, 10) in by:
            p95 = by[(t, 10)]["p95_ms"]
            out.append({"target": f"{t}: p95 ≤ 300 ms at 10 concurrent", "measured": f"{p95} ms", "met": p95 <= 300})
    errors = {t: sum(by[(t, c)]["errors"] for c in levels if (t, c) in by) for t in ("stock", "single", "prod")}
    out.append({"target": "zero errors at every level (single, prod)",
                "measured": f"single {errors['single']}, prod {errors['prod']} (stock {errors['stock']})",
                "met": errors["single"] == 0 and errors["prod"] == 0})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)), help="concurrency levels, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="conversations per slot at each level")
    parser.add_argument("--skip-nlu", action="store_true")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-prod", action="store_true")
    parser.add_argument("--model", default="",
                        help="Huimin model to serve (default: the current one, trained if needed)")
    parser.add_argument("--train-cost", action="store_true",
                        help="also time a full training of Huimin's model from scratch (minutes)")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    result: Dict = {"date": stamp, "machine": machine()}
    if args.train_cost:
        result["training"] = training_cost()
        print(f"  training from scratch: {result['training']}", flush=True)
    if not args.skip_nlu:
        from bench import nlu_quality
        result["nlu"] = nlu_quality.compare()
        result["nlu_load_average"] = load_average()
    if not args.skip_load:
        levels = [int(x) for x in args.levels.split(",")]
        result["perf"] = latency_and_throughput(levels, args.rounds, args.skip_prod, args.model)
        result["ratios"] = ratios(result["perf"])
        result["targets"] = check_targets(result["ratios"])
        result["charts"] = charts(result["perf"], stamp)
    # Parts skipped in this run keep their figures from the previous one (each with its own date).
    previous = json.loads((RESULTS / "latest.json").read_text()) if (RESULTS / "latest.json").exists() else {}
    for part in ("training", "nlu", "perf", "ratios", "targets", "charts"):
        if part not in result and part in previous:
            result[part] = previous[part]
            result.setdefault("dates", {})[part] = previous.get("dates", {}).get(part, previous.get("date"))
    for part in ("training", "nlu", "perf"):
        if part in result:
            result.setdefault("dates", {}).setdefault(part, stamp)
    (RESULTS / "latest.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    (RESULTS / f"{stamp[:10]}.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    md = markdown(result)
    (RESULTS / "latest.md").write_text(md)
    print("\n" + md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
