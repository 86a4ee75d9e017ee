"""Train only when what the model is built from changed.

The fingerprint covers config.yml, the domain, hand-written data and the *generated* training export of the
knowledge base (aliases, example questions, the jieba dictionary) — not the answer texts, which the action
server reads at answer time, so editing an answer never triggers a retrain.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterable, List, Optional

from bot.settings import ROOT

BUILD = ROOT / "build"
MODELS = ROOT / "models"
# bot/nlu: only the modules the trained pipeline runs (evaluation and corpus sampling do not change a model).
TRAINING_INPUTS = ("config.yml", "bot/domain", "bot/nlu/normalizer.py", "bot/nlu/textnorm.py", "bot/nlu/tokenizer.py",
                   "bot/nlu/sound_names.py", "bot/nlu/sounds.py", "bot/nlu/kb_entities.py", "bot/nlu/original_text.py",
                   "bot/nlu/scope_check.py", "data", "build/data", "build/jieba", "build/entities")


def _files(paths: Iterable[Path]) -> List[Path]:
    out: List[Path] = []
    for p in paths:
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts))
    return out


def fingerprint(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for f in _files(root / p for p in TRAINING_INPUTS):
        digest.update(str(f.relative_to(root)).encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def export_knowledge(root: Path = ROOT, knowledge_dir: Optional[Path] = None) -> None:
    """Write the knowledge base's NLU examples and jieba dictionary into build/ (inputs of training)."""
    from bot.knowledge.export import export_training_data
    from bot.knowledge.loader import load_knowledge

    kb = load_knowledge(knowledge_dir or root / "knowledge")
    export_training_data(kb, root / "build")


def model_path(fp: str, models: Path = MODELS) -> Path:
    return models / f"huimin-{fp}.tar.gz"


def ensure_model(force: bool = False, root: Path = ROOT, models: Path = MODELS,
                 knowledge_dir: Optional[Path] = None) -> Path:
    export_knowledge(root, knowledge_dir)
    fp = fingerprint(root)
    target = model_path(fp, models)
    if target.exists() and not force:
        print(f"model up to date: {target.relative_to(root) if target.is_relative_to(root) else target}")
        return target
    models.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "rasa", "train", "--config", str(root / "config.yml"),
           "--domain", str(root / "bot" / "domain"), "--data", str(root / "data"), str(root / "build" / "data"),
           "--out", str(models), "--fixed-model-name", f"huimin-{fp}"]
    print("training:", " ".join(cmd), flush=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run(cmd, check=True, cwd=root, env=env)
    return target


def latest_model(models: Path = MODELS) -> Optional[Path]:
    candidates = sorted(models.glob("huimin-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return candidates[-1] if candidates else None
