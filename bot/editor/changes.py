"""Field-level comparison of two versions of an entry, in plain text (for the history an editor reads):
which field changed, its label, the value before and after — not a YAML diff."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from bot.editor import yamlio
from bot.editor.fields import LABELS

MAX_CHANGES = 40


def _flatten(value: Any, path: Tuple[str, ...], out: Dict[Tuple[str, ...], str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, path + (str(k),), out)
    elif isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        out[path] = "\n".join("" if v is None else str(v) for v in value)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flatten(v, path + (str(i + 1),), out)
    else:
        out[path] = "" if value is None else str(value)


def _plain(text: Optional[str]) -> Dict[Tuple[str, ...], str]:
    out: Dict[Tuple[str, ...], str] = {}
    if not text:
        return out
    try:
        _flatten(yamlio.to_plain(yamlio.load(text)), (), out)
    except yamlio.YamlError:
        out[("原文",)] = text
    return out


def _label(path: Tuple[str, ...], labels: Dict[str, str]) -> str:
    return " › ".join(labels.get(p, p) for p in path)


def field_changes(before_text: Optional[str], after_text: Optional[str],
                  labels: Optional[Dict[str, str]] = None) -> List[dict]:
    labels = labels or LABELS
    before, after = _plain(before_text), _plain(after_text)
    out = []
    for path in list(before) + [p for p in after if p not in before]:
        b, a = before.get(path), after.get(path)
        if b != a:
            out.append({"field": ".".join(path), "label": _label(path, labels), "before": b, "after": a})
    return out[:MAX_CHANGES]
