"""A candidate knowledge directory: the live one with one file replaced by unsaved content.

Validation, preview and the retraining check all run the knowledge base's own code (the code behind
``python -m bot kb check`` and the action server's answers) on such a directory, so the editor can never
disagree with them. It is a real copy (a few dozen small files): the loader resolves paths, so symlinks
would lead it back to the live files.
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Dict, Iterator, Optional


@contextlib.contextmanager
def candidate_dir(knowledge_dir: Path, replacements: Optional[Dict[str, Optional[str]]] = None) -> Iterator[Path]:
    """Yield a directory mirroring ``knowledge_dir`` with ``replacements`` (relative path → text, or None to
    leave a file out) applied."""
    replacements = dict(replacements or {})
    tmp = Path(tempfile.mkdtemp(prefix="huimin-kb-candidate-"))
    root = tmp / "knowledge"
    try:
        for src in knowledge_dir.rglob("*"):
            if "__pycache__" in src.parts or src.name.startswith("."):
                continue
            relpath = src.relative_to(knowledge_dir).as_posix()
            dst = root / relpath
            if src.is_dir():
                dst.mkdir(parents=True, exist_ok=True)
                continue
            if relpath in replacements:
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        for relpath, text in replacements.items():
            if text is None:
                continue
            dst = root / relpath
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(text, encoding="utf-8")
        yield root
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
