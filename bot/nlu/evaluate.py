"""Intent and out-of-scope evaluation of a trained model on the held-out set and the SMP2017 test split.

Used by ``tests/test_nlu_heldout.py`` (with thresholds) and reusable by benchmarks (issue 8) to compare any
model, e.g. stock Rasa's pipeline trained on the same data:

    python -m bot.nlu.evaluate models/huimin-XXXX.tar.gz [--out build/nlu_eval.json] [--smp-split dev]

* In-scope part: held-out lines whose gold intent is not ``out_of_scope``; intent accuracy and macro-F1 over
  the gold intents (``nlu_fallback`` counts as a miss). Gold intents the model does not know yet (another
  capability's data not written) are skipped and listed under ``skipped_intents``.
* Out-of-scope part: held-out ``out_of_scope`` lines plus every utterance of SMP2017-ECDT task 1's test split
  (31 domains, none of them ours), read at run time from ``../shared/datasets/`` — research-only data, never
  copied into the repository. A prediction of ``out_of_scope`` or ``nlu_fallback`` counts as out of scope.
  OOS precision is measured over all evaluated lines. SMP2017's ``chat`` domain contains questions the
  assistant answers by design ("你可以干什么", "你是谁造的"); ``recall_lenient`` also accepts our social
  intents there, ``recall`` (the gate) does not.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from bot.nlu.textnorm import normalize

ROOT = Path(__file__).resolve().parents[2]
HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"
SMP2017_ZIP = ROOT.parent / "shared" / "datasets" / "smp2017_ecdt_task1_train_dev_test.zip"
OOS = "out_of_scope"
FALLBACK = "nlu_fallback"
OOS_PREDICTIONS = {OOS, FALLBACK}
SOCIAL_INTENTS = {"greet", "goodbye", "thank", "bot_challenge", "ask_capabilities", "affirm", "deny"}

Example = Tuple[str, str, str]  # (text, gold intent, source)


def read_nlu_examples(path: Path) -> List[Tuple[str, str]]:
    """(text, intent) pairs of a Rasa YAML NLU file."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    data = RasaYAMLReader().read(str(path))
    return [(m.get("text"), m.get("intent")) for m in data.intent_examples]


def training_texts(dirs: Sequence[Path]) -> Dict[str, str]:
    """Normalised training example → intent, for every NLU YAML file under ``dirs``."""
    out: Dict[str, str] = {}
    for d in dirs:
        for f in sorted(Path(d).rglob("*.yml")) if Path(d).is_dir() else []:
            text = f.read_text(encoding="utf-8")
            if "nlu:" not in text:
                continue
            for example, intent in read_nlu_examples(f):
                out[normalize(example)] = intent
    return out


SMP2017_SPLITS = {"test": "test", "dev": "develop", "train": "train"}


def smp2017_test(zip_path: Path = SMP2017_ZIP) -> List[Example]:
    """Every non-empty line of SMP2017-ECDT task 1's test split, labelled ``smp2017:<domain>``."""
    return smp2017_split(zip_path, "test")


def smp2017_split(zip_path: Path = SMP2017_ZIP, split: str = "test") -> List[Example]:
    """Every non-empty line of one split of SMP2017-ECDT task 1 (``test``, ``dev`` or ``train``), labelled
    ``smp2017:<domain>``."""
    folder = SMP2017_SPLITS[split]
    out: List[Example] = []
    with zipfile.ZipFile(zip_path) as zf:
        for name in sorted(zf.namelist()):
            if f"/{folder}/{folder}_" not in name or not name.endswith(".txt"):
                continue
            domain = name.rsplit(f"{folder}_", 1)[1][:-4]
            for line in zf.read(name).decode("utf-8-sig").splitlines():
                line = line.strip().lstrip("\ufeff")
                if line:
                    out.append((line, OOS, f"smp2017:{domain}"))
    return out


def heldout_examples(path: Path = HELDOUT) -> List[Example]:
    return [(text, intent, "heldout") for text, intent in read_nlu_examples(path)]


def heldout_entities(path: Path = HELDOUT) -> Dict[str, List[Tuple[str, str]]]:
    """Text → gold (entity, value) pairs, for the held-out lines that carry entity annotations."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    data = RasaYAMLReader().read(str(path))
    return {m.get("text"): sorted((e["entity"], str(e["value"])) for e in m.get("entities"))
            for m in data.intent_examples if m.get("entities")}


def score_entities(gold: Dict[str, List[Tuple[str, str]]], predicted: Dict[str, List[Tuple[str, str]]]
                   ) -> Dict[str, Any]:
    """Micro precision/recall/F1 of (entity, value) pairs on the annotated lines (offsets are not compared:
    the prediction is on the normalised text)."""
    tp = fp = fn = 0
    misses = []
    for text, expected in gold.items():
        got = Counter(predicted.get(text, []))
        want = Counter(expected)
        hit = sum((got & want).values())
        tp, fp, fn = tp + hit, fp + sum(got.values()) - hit, fn + sum(want.values()) - hit
        if got != want:
            misses.append({"text": text, "gold": expected, "predicted": sorted(got.elements())})
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"n": len(gold), "precision": round(precision, 4), "recall": round(recall, 4),
            "f1": round(_f1(tp, fp, fn), 4), "errors": misses}


def _f1(tp: int, fp: int, fn: int) -> float:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def score(examples: Sequence[Example], predicted: Sequence[str], known_intents: Iterable[str]) -> Dict[str, Any]:
    known = set(known_intents)
    skipped = Counter(gold for _text, gold, _src in examples if gold not in known)
    rows = [(text, gold, src, pred) for (text, gold, src), pred in zip(examples, predicted) if gold in known]

    in_scope = [r for r in rows if r[1] != OOS]
    oos = [r for r in rows if r[1] == OOS]
    correct = sum(1 for r in in_scope if r[3] == r[1])
    labels = sorted({r[1] for r in in_scope})
    per_intent = {}
    for label in labels:
        tp = sum(1 for r in in_scope if r[1] == label and r[3] == label)
        fn = sum(1 for r in in_scope if r[1] == label and r[3] != label)
        fp = sum(1 for r in rows if r[1] != label and r[3] == label)  # OOS lines predicted in scope count too
        per_intent[label] = {"support": tp + fn, "f1": round(_f1(tp, fp, fn), 4),
                             "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0}
    macro_f1 = sum(v["f1"] for v in per_intent.values()) / len(per_intent) if per_intent else 0.0

    def handled(row, lenient: bool) -> bool:
        return row[3] in OOS_PREDICTIONS or (lenient and row[2] == "smp2017:chat" and row[3] in SOCIAL_INTENTS)

    strict_hits = sum(1 for r in oos if handled(r, False))
    lenient_hits = sum(1 for r in oos if handled(r, True))
    predicted_oos = [r for r in rows if r[3] in OOS_PREDICTIONS]
    oos_precision = (sum(1 for r in predicted_oos if r[1] == OOS) / len(predicted_oos)) if predicted_oos else 0.0

    by_source: Dict[str, List[int]] = defaultdict(lambda: [0, 0])
    for r in oos:
        key = "heldout" if r[2] == "heldout" else "smp2017"
        by_source[key][0] += handled(r, False)
        by_source[key][1] += 1
    false_accepts = Counter(r[3] for r in oos if not handled(r, False))
    return {
        "in_scope": {"n": len(in_scope), "accuracy": round(correct / len(in_scope), 4) if in_scope else 0.0,
                     "macro_f1": round(macro_f1, 4), "per_intent": per_intent,
                     "fallback_rate": round(sum(1 for r in in_scope if r[3] == FALLBACK) / len(in_scope), 4)
                     if in_scope else 0.0},
        "out_of_scope": {"n": len(oos), "recall": round(strict_hits / len(oos), 4) if oos else 0.0,
                         "recall_lenient": round(lenient_hits / len(oos), 4) if oos else 0.0,
                         "precision": round(oos_precision, 4),
                         "recall_by_source": {k: round(v[0] / v[1], 4) for k, v in sorted(by_source.items())},
                         "false_accepts_by_intent": dict(false_accepts.most_common())},
        "skipped_intents": dict(skipped),
        "errors": [{"text": r[0], "gold": r[1], "predicted": r[3], "source": r[2]}
                   for r in rows if (r[1] != OOS and r[3] != r[1]) or (r[1] == OOS and not handled(r, False))],
    }


def evaluate_model(model_path: Path, heldout: Path = HELDOUT, smp_zip: Optional[Path] = SMP2017_ZIP,
                   training_dirs: Sequence[Path] = (ROOT / "data", ROOT / "build" / "data"),
                   smp_split: str = "test") -> Dict[str, Any]:
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # otherwise every parse is logged at debug level
    examples = heldout_examples(heldout) + (smp2017_split(smp_zip, smp_split) if smp_zip else [])
    agent = Agent.load(str(model_path))

    gold_entities = heldout_entities(heldout)
    predicted_entities: Dict[str, List[Tuple[str, str]]] = {}
    gold_types = {entity for pairs in gold_entities.values() for entity, _value in pairs}

    async def run() -> List[str]:
        out = []
        for text, _gold, src in examples:
            parsed = await agent.parse_message(text)
            out.append((parsed.get("intent") or {}).get("name"))
            if src == "heldout" and text in gold_entities:
                predicted_entities[text] = sorted((e["entity"], str(e["value"])) for e in parsed.get("entities", [])
                                                  if e["entity"] in gold_types)
        return out

    predicted = asyncio.run(run()) if not _loop_running() else None
    if predicted is None:  # called from inside an event loop (pytest-asyncio): run in a worker thread
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            predicted = pool.submit(lambda: asyncio.run(run())).result()
    # Intents with training data (an NLU-only model has no domain) or in the domain.
    known = set(training_texts(training_dirs).values()) | set(agent.domain.intents) | {OOS}
    summary = score(examples, predicted, known)
    summary["entities"] = score_entities(gold_entities, predicted_entities)
    summary["model"] = Path(model_path).name
    summary["smp_split"] = smp_split if smp_zip else None
    summary["model_bytes"] = Path(model_path).stat().st_size
    return summary


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


def format_summary(summary: Dict[str, Any]) -> str:
    ins, oos = summary["in_scope"], summary["out_of_scope"]
    lines = [
        f"model {summary.get('model')} ({summary.get('model_bytes', 0) / 1e6:.1f} MB), "
        f"SMP2017 split: {summary.get('smp_split')}",
        f"in-scope: n={ins['n']} accuracy={ins['accuracy']:.3f} macro-F1={ins['macro_f1']:.3f} "
        f"fallback={ins['fallback_rate']:.3f}",
        f"out-of-scope: n={oos['n']} recall={oos['recall']:.3f} (lenient {oos['recall_lenient']:.3f}) "
        f"precision={oos['precision']:.3f} by source={oos['recall_by_source']}",
        f"OOS false accepts by intent: {oos['false_accepts_by_intent']}",
    ]
    ent = summary.get("entities")
    if ent and ent["n"]:
        lines.append(f"entities (entity, value) on {ent['n']} annotated lines: precision={ent['precision']:.3f} "
                     f"recall={ent['recall']:.3f} F1={ent['f1']:.3f}")
    if summary["skipped_intents"]:
        lines.append(f"skipped (intent not in the model yet): {summary['skipped_intents']}")
    weak = {k: v for k, v in ins["per_intent"].items() if v["f1"] < 0.9}
    if weak:
        lines.append(f"intents with F1 < 0.9: {weak}")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate a trained Rasa model on the held-out NLU set + SMP2017.")
    parser.add_argument("model", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="write the JSON summary here")
    parser.add_argument("--errors", action="store_true", help="print every misclassified line")
    parser.add_argument("--smp-split", choices=sorted(SMP2017_SPLITS), default="test",
                        help="SMP2017 split for the out-of-scope part: test (reported; default) or dev/train "
                             "(for choosing data and thresholds)")
    args = parser.parse_args(argv)
    summary = evaluate_model(args.model, smp_split=args.smp_split)
    print(format_summary(summary))
    if args.errors:
        for e in summary["errors"]:
            print(f"  [{e['source']}] {e['text']}  gold={e['gold']} predicted={e['predicted']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
