"""One training run in a child process: ``python -m bot.editor.train_job --source-root … --workspace … ``.

The workspace mirrors the training inputs of ``--source-root`` (symlinks to config.yml, bot/domain, bot/nlu,
data) with a private ``build/`` exported from ``--knowledge``; the fingerprint, and so the model's name, is the
same as ``python -m bot model`` would compute for the same content. Prints ``MODEL_PATH=…`` on success.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

LINKED = ("config.yml", "bot/domain", "bot/nlu", "data")


def prepare_workspace(source_root: Path, workspace: Path) -> None:
    if workspace.exists():
        shutil.rmtree(workspace)
    (workspace / "bot").mkdir(parents=True)
    for rel in LINKED:
        src = source_root / rel
        if src.exists():
            os.symlink(src.resolve(), workspace / rel)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="train a Huimin model for the knowledge editor")
    parser.add_argument("--source-root", required=True, type=Path)
    parser.add_argument("--workspace", required=True, type=Path)
    parser.add_argument("--models", required=True, type=Path)
    parser.add_argument("--knowledge", required=True, type=Path)
    args = parser.parse_args(argv)

    from bot.stack.training import ensure_model

    prepare_workspace(args.source_root, args.workspace)
    try:
        print("exporting knowledge from", args.knowledge, flush=True)
        target = ensure_model(root=args.workspace, models=args.models, knowledge_dir=args.knowledge)
        if not target.exists():
            print(f"ERROR: training finished without writing {target}", flush=True)
            return 1
        print(f"MODEL_PATH={target.resolve()}", flush=True)
        return 0
    except Exception as exc:  # the parent shows the log; make its last line say what broke
        print(f"ERROR: {type(exc).__name__}: {exc}", flush=True)
        return 1
    finally:
        shutil.rmtree(args.workspace, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
