"""Rasa's own checks of the training data and the conversation tests in tests/stories/ (every capability's).

``rasa test core --e2e`` feeds each story's user text through the trained model's NLU and the policies; every
wrong intent, entity or next action is a failure. The run collects all failed stories (instead of stopping at
the first, as --fail-on-prediction-errors would) so one run shows every broken flow, annotated by Rasa with
what it predicted instead.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STORIES = ROOT / "tests" / "stories"


def _rasa(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0")
    return subprocess.run([sys.executable, "-m", "rasa", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _readable(output: str, limit: int = 6000) -> str:
    """Rasa's output without progress bars, colour codes and the deprecation noise of its dependencies."""
    lines = []
    for line in re.sub(r"\x1b\[[0-9;]*m", "", output).splitlines():
        if "\r" in line or "it/s]" in line or "Deprecat" in line or "declare_namespace" in line:
            continue
        lines.append(line)
    text = "\n".join(lines)
    return text[-limit:]


@pytest.fixture(scope="module")
def exported():
    from bot.stack.training import export_knowledge

    export_knowledge()


def test_training_data_validates(exported):
    result = _rasa("data", "validate", "--domain", "bot/domain", "--data", "data", "build/data",
                   "--config", "config.yml", "--fail-on-warnings", timeout=900)
    assert result.returncode == 0, "rasa data validate failed:\n" + _readable(result.stdout + result.stderr)


def test_conversation_stories_pass(tmp_path):
    from bot.stack.training import ensure_model

    model = ensure_model()
    out = tmp_path / "results"
    result = _rasa("test", "core", "--model", str(model), "--stories", str(STORIES), "--out", str(out), "--e2e",
                   "--no-plot")
    assert result.returncode == 0, "rasa test core crashed:\n" + _readable(result.stdout + result.stderr)

    failed = out / "failed_test_stories.yml"
    assert failed.exists(), "rasa test core wrote no report:\n" + _readable(result.stdout + result.stderr)
    report = failed.read_text(encoding="utf-8")
    # Rasa writes "# None of the test stories failed - all good!" when there is nothing to report.
    failures = [line.split(":", 1)[1].strip() for line in report.splitlines() if line.strip().startswith("- story:")]
    assert not failures, (
        f"{len(failures)} conversation stor{'y' if len(failures) == 1 else 'ies'} failed: {failures}\n"
        f"Rasa's annotations ('# predicted: …') show what the model did instead:\n\n{report}")

    # Every story in tests/stories/ was actually run (a story Rasa could not read would silently not count).
    written = sum(len(re.findall(r"^\s*- story:", f.read_text(encoding="utf-8"), re.M))
                  for f in STORIES.glob("test_*.yml"))
    tested = json.loads((out / "story_report.json").read_text()).get("conversation_accuracy", {}).get("total", 0)
    assert tested == written, f"{written} stories in tests/stories, but Rasa tested {tested}"
