"""What a benchmark run's figures mean: ratios to the stock bot of the same run, the issue's targets with the
measured values, the charts and the markdown table (bench/results/latest.md, and README through bench.readme)."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Dict, List

from bench import machine
from bot.settings import ROOT

TARGETS = ("stock", "single", "prod")


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
    return {"training_seconds": round(seconds, 1), "model_mb": round(size / 1e6, 1),
            "load_average": machine.load_average()}


def ratios(perf: Dict) -> List[Dict]:
    rows = []
    base = {r["concurrency"]: r for r in perf.get("stock", {}).get("levels", [])}
    for target in TARGETS:
        for r in perf.get(target, {}).get("levels", []):
            b = base.get(r["concurrency"])
            rows.append({
                "target": target, "concurrency": r["concurrency"], "throughput": r["throughput"],
                "throughput_range": r["throughput_range"], "p50_ms": r["p50_ms"], "p95_ms": r["p95_ms"],
                "p95_ms_range": r["p95_ms_range"], "p99_ms": r["p99_ms"], "errors": r["errors"],
                "messages": r["messages"], "repetitions": r["repetitions"],
                "throughput_vs_stock": round(r["throughput"] / b["throughput"], 2) if b and b["throughput"] else None,
                "p95_vs_stock": round(r["p95_ms"] / b["p95_ms"], 2) if b and b["p95_ms"] else None,
            })
    return rows


def check_targets(perf: Dict, ratios_: List[Dict]) -> List[Dict]:
    """Issue 16's targets, each with what was measured and whether it was met (None: not measured)."""
    by = {(r["target"], r["concurrency"]): r for r in ratios_}
    out: List[Dict] = []

    def add(target: str, measured: str, met) -> None:
        out.append({"target": target, "measured": measured, "met": met})

    for c in (10, 50):
        r = by.get(("single", c))
        add(f"single stack ≥ 1.5× stock throughput at {c} concurrent",
            f"{r['throughput']} vs {by[('stock', c)]['throughput']} msg/s = {r['throughput_vs_stock']}×"
            if r and r["throughput_vs_stock"] else "not measured",
            (r["throughput_vs_stock"] >= 1.5) if r and r["throughput_vs_stock"] else None)
    r = by.get(("prod", 50))
    add("production topology ≥ 2.5× stock throughput at 50 concurrent",
        f"{r['throughput']} vs {by[('stock', 50)]['throughput']} msg/s = {r['throughput_vs_stock']}×"
        if r and r["throughput_vs_stock"] else perf.get("prod", {}).get("skipped", "not measured"),
        (r["throughput_vs_stock"] >= 2.5) if r and r["throughput_vs_stock"] else None)
    r = by.get(("single", 10))
    add("single stack: p95 ≤ 300 ms at 10 concurrent", f"{r['p95_ms']} ms (range {r['p95_ms_range']})" if r else
        "not measured", (r["p95_ms"] <= 300) if r else None)
    errors = {t: sum(x["errors"] for x in ratios_ if x["target"] == t) for t in TARGETS}
    add("zero errors (every level, every system)", ", ".join(f"{t} {n}" for t, n in errors.items()),
        all(n == 0 for n in errors.values()))
    caps = {t: perf.get(t, {}).get("capacity", {}).get("residents") for t in TARGETS}
    add("capacity reported: residents at one message per 10 s with p95 ≤ 1 s",
        ", ".join(f"{t} {n if n is not None else 'not found'}" for t, n in caps.items()),
        all(n is not None for t, n in caps.items() if t in perf and "skipped" not in perf[t]))
    for t, db in (("single", "SQLite"), ("prod", "PostgreSQL, 2 replicas")):
        ln = perf.get(t, {}).get("length")
        add(f"flat with length ({db}): median of messages 181–200 ≤ 1.3× messages 1–20",
            f"{ln['last_median_ms']} vs {ln['first_median_ms']} ms = {ln['ratio']}× (Rasa CPU a turn "
            f"{ln['cpu_last_ms']} vs {ln['cpu_first_ms']} ms = {ln['cpu_ratio']}×)" if ln else "not measured",
            (ln["ratio"] is not None and ln["ratio"] <= 1.3 and not ln["errors"]) if ln else None)
    for t in ("single", "prod"):
        s = perf.get(t, {}).get("startup_seconds")
        add(f"{t}: start-up with the model ≤ 30 s", f"{s} s" if s is not None else "not measured",
            (s <= 30) if s is not None else None)
    mem = {t: {p: mb for p, mb in (perf.get(t, {}).get("memory_mb") or {}).items() if "rasa" in p} for t in TARGETS}
    add("memory per Rasa replica reported (MB RSS)",
        "; ".join(f"{t}: " + ", ".join(f"{p} {mb}" for p, mb in m.items()) for t, m in mem.items() if m),
        any(mem.values()))
    return out


def charts(perf: Dict, stamp: str, results: Path) -> List[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, key in zip(axes, ("p50_ms", "p95_ms", "p99_ms")):
        for target in TARGETS:
            levels = perf.get(target, {}).get("levels")
            if levels:
                ax.plot([r["concurrency"] for r in levels], [r[key] for r in levels], marker="o", label=target)
        ax.set_xscale("log")
        ax.set_xlabel("concurrent conversations")
        ax.set_ylabel(f"{key.split('_')[0]} latency (ms)")
        ax.set_title(key.split("_")[0])
        ax.legend()
    fig.suptitle(f"Latency percentiles by concurrency, median of repetitions ({stamp})")
    fig.tight_layout()
    path = results / "latency.png"
    fig.savefig(path, dpi=100)
    written.append(str(path.relative_to(ROOT)))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.25
    for i, target in enumerate(TARGETS):
        levels = perf.get(target, {}).get("levels")
        if levels:
            xs = [j + i * width for j in range(len(levels))]
            lo = [r["throughput"] - r["throughput_range"][0] for r in levels]
            hi = [r["throughput_range"][1] - r["throughput"] for r in levels]
            ax.bar(xs, [r["throughput"] for r in levels], width, yerr=[lo, hi], capsize=3, label=target)
            ax.set_xticks([j + width for j in range(len(levels))])
            ax.set_xticklabels([str(r["concurrency"]) for r in levels])
    ax.set_xlabel("concurrent conversations")
    ax.set_ylabel("messages per second (median, range)")
    ax.set_title(f"Throughput by topology ({stamp})")
    ax.legend()
    fig.tight_layout()
    path = results / "throughput.png"
    fig.savefig(path, dpi=100)
    written.append(str(path.relative_to(ROOT)))
    plt.close(fig)
    return written


def _range(r: List) -> str:
    return f"{r[0]}–{r[1]}"


def markdown(result: Dict) -> str:
    m = result["machine"]
    dates = result.get("dates", {})
    when = ", ".join(f"{part} {date}" for part, date in dates.items()) or result["date"]
    lines = [f"Measured on {m['cpu']} ({m['cores']} cores{', ' + m['memory'] if m.get('memory') else ''}): {when}; "
             f"`{result.get('command', 'python -m bench')}`, {result.get('duration_seconds', '?')} s.", ""]
    if result.get("busy"):
        lines += ["**Measured on a busy machine (--allow-busy): these figures are for development only.**", ""]
    if "ratios" in result:
        lines += ["| system | concurrency | msg/s (range) | p50 ms | p95 ms (range) | p99 ms | errors | "
                  "msg/s vs stock | p95 vs stock |", "|---|---|---|---|---|---|---|---|---|"]
        for r in result["ratios"]:
            lines.append(f"| {r['target']} | {r['concurrency']} | {r['throughput']} "
                         f"({_range(r['throughput_range'])}) | {r['p50_ms']} | {r['p95_ms']} "
                         f"({_range(r['p95_ms_range'])}) | {r['p99_ms']} | {r['errors']} | "
                         f"{r['throughput_vs_stock']} | {r['p95_vs_stock']} |")
        reps = {r["repetitions"] for r in result["ratios"]}
        msgs = {r["messages"] // max(1, r["repetitions"]) for r in result["ratios"]}
        lines += ["", f"Each level: {'/'.join(map(str, sorted(reps)))} repetitions of ≥ {min(msgs)} messages "
                      "(closed loop, no think time); median of the repetitions, range in brackets.", ""]
    if "targets" in result:
        lines += ["| target (issue 16) | measured | met |", "|---|---|---|"]
        for t in result["targets"]:
            met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
            lines.append(f"| {t['target']} | {t['measured']} | {met} |")
        lines.append("")
    perf = result.get("perf", {})
    if perf:
        lines += ["| system under test | start-up s | capacity (residents at 1 msg / 10 s, p95 ≤ 1 s) | "
                  "CPU busy before | load average before → after |", "|---|---|---|---|---|"]
        for target in ("stock", "single", "prod"):
            data = perf.get(target)
            if not data:
                continue
            if "skipped" in data:
                lines.append(f"| {target} | skipped: {data['skipped']} | | | |")
                continue
            q = data.get("quiet", {})
            cap = data.get("capacity", {})
            lines.append(f"| {target} | {data.get('startup_seconds')} | {cap.get('residents') or 'not found'} | "
                         f"{q.get('cpu_busy_before', 0):.0%} | {q.get('load_average_before')} → "
                         f"{data.get('load_average_after')} |")
        lines += ["", "| process memory (MB RSS, after the run) | |", "|---|---|"]
        for target, data in perf.items():
            for proc, mb in (data.get("memory_mb") or {}).items() if isinstance(data, dict) else ():
                lines.append(f"| {target}: {proc} | {mb} |")
        lines.append("")
        bd = perf.get("single", {}).get("breakdown")
        if bd:
            lines += ["| one knowledge question, single stack, unqueued (median ms) | |", "|---|---|",
                      f"| whole REST round trip | {bd['turn_ms']} |",
                      f"| NLU parse alone (`/model/parse`) | {bd['nlu_parse_ms']} |",
                      f"| custom action alone (replayed to the action server) | {bd['action_ms']} |",
                      f"| the rest: dialogue policies, tracker store, lock store, HTTP | {bd['rest_ms']} |", ""]
        if "model" in perf:
            lines += [f"Huimin model {perf['model']['file']}: {perf['model']['model_mb']} MB.", ""]
    if "residents" in result:
        from bench.residents import table_markdown
        lines += ["Resident evaluation set (tests/nlu/residents/, useful replies per class, graded end to end; "
                  "dev is the tuning split):", "", table_markdown(result["residents"]), ""]
    if "nlu" in result:
        lines += ["| NLU pipeline (held-out + SMP2017 OOS) | intent acc. | macro-F1 | OOS precision | OOS recall | "
                  "entity F1 | training s | model MB |", "|---|---|---|---|---|---|---|---|"]
        for name, n in result["nlu"].items():
            if "training_seconds" in n:
                lines.append(f"| {name} | {n['accuracy']:.3f} | {n['macro_f1']:.3f} | {n['oos_precision']:.3f} | "
                             f"{n['oos_recall']:.3f} | {n['entity_f1']:.3f} | {n['training_seconds']} | "
                             f"{n['model_mb']} |")
            else:
                lines.append(f"| difference (huimin − stock) | {n['accuracy']:+.3f} | {n['macro_f1']:+.3f} | "
                             f"{n['oos_precision']:+.3f} | {n['oos_recall']:+.3f} | {n['entity_f1']:+.3f} | | |")
        lines.append("")
    if "training" in result:
        t = result["training"]
        lines += [f"Huimin full training from scratch (no cache): {t['training_seconds']} s, model {t['model_mb']} MB "
                  f"(load average {t['load_average']}).", ""]
    return "\n".join(lines)
