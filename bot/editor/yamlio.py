"""Round-trip YAML for the knowledge files: load, merge an edited entry in place, dump, write atomically.

The point is that a saved file differs from the previous one only where the editor changed something:
comments, key order, quoting and block styles of untouched values are kept (ruamel.yaml round-trip), and an
edited value keeps the style of the value it replaces.
"""
from __future__ import annotations

import datetime as dt
import difflib
import io
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import (DoubleQuotedScalarString, FoldedScalarString, LiteralScalarString,
                                      SingleQuotedScalarString)
from ruamel.yaml.util import load_yaml_guess_indent

# House style of knowledge/: two-space mappings, list items indented by two ("  - x").
DEFAULT_SEQUENCE_INDENT = 4
DEFAULT_SEQUENCE_OFFSET = 2


class YamlError(ValueError):
    """The text is not valid YAML; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: Optional[int] = None):
        super().__init__(message)
        self.line = line


def make_yaml(text: str = "") -> YAML:
    seq, offset = DEFAULT_SEQUENCE_INDENT, DEFAULT_SEQUENCE_OFFSET
    if text.strip():
        try:
            _, guessed_seq, guessed_offset = load_yaml_guess_indent(text)
            if guessed_seq is not None and guessed_offset is not None:
                seq, offset = guessed_seq, guessed_offset
        except Exception:  # invalid YAML is reported by load(); the guess is only about style
            pass
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap long Chinese lines
    y.indent(mapping=2, sequence=seq, offset=offset)
    return y


def load(text: str, yaml: Optional[YAML] = None) -> Any:
    try:
        return (yaml or make_yaml(text)).load(text)
    except Exception as exc:  # ruamel raises several unrelated types; all mean "not YAML"
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlError(f"YAML 格式错误：{problem}", line) from None


def dump(data: Any, yaml: YAML) -> str:
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def to_plain(node: Any) -> Any:
    """The entry as JSON-friendly Python (what the form edits)."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [to_plain(v) for v in node]
    if isinstance(node, (dt.date, dt.datetime)):
        return node.isoformat()
    if isinstance(node, str):
        return str(node)
    return node


def _clean_text(value: str) -> str:
    # Trailing blanks on a line would force ruamel out of block style into an unreadable quoted string.
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in value.split("\n"))


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, (dt.date, dt.datetime)):
        return old.isoformat() == str(new)
    if isinstance(old, bool) or isinstance(new, bool):
        return old is new
    if isinstance(old, str) and isinstance(new, str):
        return str(old) == new
    return to_plain(old) == new


def _convert(new: Any, old: Any = None, sibling: Any = None) -> Any:
    """A fresh YAML node for ``new``, styled like the value it replaces (or a sibling of the same shape)."""
    model = old if old is not None else sibling
    if isinstance(new, str):
        if isinstance(model, (dt.date, dt.datetime)):
            try:
                return dt.date.fromisoformat(new)
            except ValueError:
                return new
        text = _clean_text(new)
        if isinstance(model, str) and str(model).endswith("\n") and text:
            text = text.rstrip("\n") + "\n"
        elif text.endswith("\n"):
            text = text.rstrip("\n")
        if "\n" in text.strip("\n") or isinstance(model, (LiteralScalarString, FoldedScalarString)):
            return LiteralScalarString(text)
        if isinstance(model, SingleQuotedScalarString):
            return SingleQuotedScalarString(text)
        if isinstance(model, DoubleQuotedScalarString):
            return DoubleQuotedScalarString(text)
        return text
    if isinstance(new, dict):
        node = CommentedMap()
        model_map = model if isinstance(model, dict) else None
        for k, v in new.items():
            node[k] = _convert(v, None, model_map.get(k) if model_map else None)
        if model_map is not None and getattr(model_map, "fa", None) is not None and model_map.fa.flow_style():
            node.fa.set_flow_style()
        return node
    if isinstance(new, list):
        node = CommentedSeq()
        model_item = model[0] if isinstance(model, list) and len(model) else None
        for v in new:
            node.append(_convert(v, None, model_item))
        if isinstance(model, CommentedSeq) and model.fa.flow_style():
            node.fa.set_flow_style()
        return node
    return new


def merge(node: Any, new: Any) -> Any:
    """Update ``node`` in place to equal ``new``; returns the node to store (a new one if types differ)."""
    if isinstance(node, CommentedMap) and isinstance(new, dict):
        for key in [k for k in node.keys() if k not in new]:
            del node[key]
        existing = list(node.keys())
        for position, (key, value) in enumerate(new.items()):
            if key in node:
                old = node[key]
                if isinstance(old, (CommentedMap, CommentedSeq)):
                    replaced = merge(old, value)
                    if replaced is not old:
                        node[key] = replaced
                elif not _same(old, value):
                    node[key] = _convert(value, old)
            else:
                sibling = next((node[k] for k in existing if isinstance(node[k], type(value))), None)
                node.insert(min(position, len(node)), key, _convert(value, None, sibling))
        return node
    if isinstance(node, CommentedSeq) and isinstance(new, list):
        if all(not isinstance(v, (dict, list)) for v in list(node) + list(new)):
            _merge_scalar_list(node, new)
        else:
            for i, value in enumerate(new):
                if i < len(node):
                    old = node[i]
                    if isinstance(old, (CommentedMap, CommentedSeq)):
                        replaced = merge(old, value)
                        if replaced is not old:
                            node[i] = replaced
                    elif not _same(old, value):
                        node[i] = _convert(value, old)
                else:
                    node.append(_convert(value, None, node[0] if len(node) else None))
            del node[len(new):]
        return node
    if _same(node, new):
        return node
    return _convert(new, node)


def _merge_scalar_list(node: CommentedSeq, new: list) -> None:
    # Edit by matching runs so that a removed alias does not look like every later alias changed
    # (comments attached to the remaining items stay with them).
    old_plain = [to_plain(v) for v in node]
    ops = difflib.SequenceMatcher(a=old_plain, b=new, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(ops):
        if tag == "equal":
            continue
        model = node[i1] if i1 < len(node) else (node[0] if len(node) else None)
        del node[i1:i2]
        for offset, value in enumerate(new[j1:j2]):
            node.insert(i1 + offset, _convert(value, None, model))


def write_atomic(path: Path, text: str) -> None:
    """Readers (the action servers' reload) see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def unified_diff(before: str, after: str, name: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                        fromfile=f"a/{name}", tofile=f"b/{name}"))
