"""NLU quality: Huimin's pipeline vs stock Rasa's default Chinese pipeline, trained on the same data in the same
run and evaluated on the held-out set plus SMP2017's test split (out of scope; research-only, read at run time)."""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict

from bot.nlu.evaluate import HELDOUT, SMP2017_ZIP, evaluate_model
from bot.settings import ROOT

PIPELINES = {"huimin": ROOT / "config.yml", "stock": ROOT / "bench" / "stock_config.yml"}


def train_nlu(config: Path, out: Path) -> float:
    """NLU-only training on the same data for every pipeline; returns seconds."""
    from bot.stack.training import export_knowledge

    import shutil

    export_knowledge()
    # `rasa train nlu --nlu` takes one path: gather the hand-written and the generated examples in one folder.
    data = out / f"nlu-data-{config.stem}"
    for i, source in enumerate((ROOT / "data" / "nlu", ROOT / "build" / "data" / "nlu")):
        shutil.copytree(source, data / str(i))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rasa", "train", "nlu", "--config", str(config), "--nlu", str(data),
                    "--out", str(out), "--fixed-model-name", config.stem],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    return round(time.perf_counter() - started, 1)


def compare() -> Dict[str, Dict]:
    results: Dict[str, Dict] = {}
    with tempfile.TemporaryDirectory(prefix="huimin-nlu-bench-") as tmp:
        for name, config in PIPELINES.items():
            seconds = train_nlu(config, Path(tmp))
            model = Path(tmp) / f"{config.stem}.tar.gz"
            summary = evaluate_model(model, HELDOUT, SMP2017_ZIP if SMP2017_ZIP.exists() else None)
            results[name] = {
                "accuracy": summary["in_scope"]["accuracy"], "macro_f1": summary["in_scope"]["macro_f1"],
                "oos_precision": summary["out_of_scope"]["precision"], "oos_recall": summary["out_of_scope"]["recall"],
                "oos_recall_lenient": summary["out_of_scope"].get("recall_lenient"),
                "entity_f1": summary["entities"]["f1"], "n_entity_lines": summary["entities"]["n"],
                "training_seconds": seconds, "model_mb": round(summary["model_bytes"] / 1e6, 1),
                "n_in_scope": summary["in_scope"]["n"], "n_out_of_scope": summary["out_of_scope"]["n"],
            }
            print(f"  NLU {name}: {results[name]}", flush=True)
    h, s = results["huimin"], results["stock"]
    results["difference"] = {k: round(h[k] - s[k], 4) for k in ("accuracy", "macro_f1", "oos_precision", "oos_recall",
                                                          "entity_f1")}
    return results
