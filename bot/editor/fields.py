"""The form model of an entry: one field per value an editor can change, and mapping problems back to fields.

Fields are derived from the entry itself (plus the aspect list for programmes), so the editor works for every
kind of entry without a second schema to keep in step with ``bot/knowledge``'s.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from ruamel.yaml.comments import CommentedMap, CommentedSeq

# Labels for the editor's form (editor-facing, not resident-facing); unknown keys show their own name.
LABELS: Dict[str, str] = {
    "id": "编号（id）", "name": "名称", "short_name": "简称", "aliases": "别名", "summary": "概述",
    "aspects": "各方面的回答", "example_questions": "例句", "sources": "来源", "related": "相关项目",
    "review": "审核", "title": "标题", "url": "网址", "date": "日期", "description": "介绍", "for_whom": "服务对象",
    "price_note": "费用说明", "prepare": "准备事项", "modes": "服务方式", "duration_minutes": "时长（分钟）",
    "eligibility": "谁能申请", "benefits": "能得到什么", "amount": "金额", "materials": "要带的材料",
    "apply": "在哪儿办、怎么办", "duration": "要多久", "handler": "谁来办", "overview": "概述类问题",
    "target": "对象", "content": "内容", "category": "类别", "program": "对应项目", "note": "备注",
    "address": "地址", "phone": "电话", "hours": "开放时间", "city": "城市", "district": "区县",
    "situations": "情形（居民说到这些情况、没说项目名时，推荐这一项）", "why": "为什么可能适合（给居民看的一句话）",
    "when": "提到哪些情况（都提到了才推荐）",
}

# A situation is a reason residents read and the concepts (``knowledge/understanding.yml``) that must all be in
# their message; the page offers the concepts as choices (``choices: concepts``), never free text.
SITUATION_COLUMNS = [{"key": "why", "label": LABELS["why"], "type": "line"},
                     {"key": "when", "label": LABELS["when"], "type": "list", "choices": "concepts"}]

# Keys the form does not edit directly (review has its own button; ids are fixed once created).
READ_ONLY = {"review"}


def _kind_of(value: Any, key: str) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "text" if ("\n" in value or len(value) > 40) else "line"
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return "list"
        if all(isinstance(v, dict) for v in value):
            return "records"
        return "yaml"
    if isinstance(value, dict):
        return "group"
    return "line"


def build_fields(data: Dict[str, Any], aspects: Sequence[Tuple[str, str]] = (), is_program: bool = False,
                 aspect_keys: Sequence[str] = ()) -> List[dict]:
    """Field descriptors in the entry's order; programmes also get an (empty) field for every missing aspect."""
    fields: List[dict] = []
    data = dict(data)
    if is_program:
        data.setdefault("aspects", {})
        data.setdefault("example_questions", {})
        data.setdefault("aliases", [])
        data.setdefault("sources", [])
        data.setdefault("situations", [])
    labels = dict(LABELS)
    labels.update(dict(aspects))
    for key, value in data.items():
        if key in READ_ONLY:
            continue
        if is_program and key == "aspects":
            names = list(value.keys()) + [a for a in aspect_keys if a not in value]
            fields.append({"path": ["aspects"], "label": labels["aspects"], "type": "group", "children": [
                {"path": ["aspects", a], "label": labels.get(a, a), "type": "text", "aspect": a} for a in names]})
            continue
        if is_program and key == "example_questions" and isinstance(value, dict):
            names = list(value.keys()) + [a for a in ("overview",) + tuple(aspect_keys) if a not in value]
            fields.append({"path": ["example_questions"], "label": labels["example_questions"], "type": "group",
                           "children": [{"path": ["example_questions", a], "label": labels.get(a, a), "type": "list"}
                                        for a in names]})
            continue
        if key == "situations":
            fields.append({"path": ["situations"], "label": labels["situations"], "type": "records",
                           "columns": [dict(c) for c in SITUATION_COLUMNS]})
            continue
        f = _field([key], value, labels)
        if key == "id":
            f["readonly"] = True  # the file name and every reference depend on it; new entries set it once
        fields.append(f)
    return fields


def _field(path: List[Any], value: Any, labels: Dict[str, str]) -> dict:
    key = str(path[-1])
    kind = _kind_of(value, key)
    field = {"path": path, "label": labels.get(key, key), "type": kind}
    if kind == "group":
        field["children"] = [_field(path + [k], v, labels) for k, v in value.items()]
    elif kind == "records":
        columns: List[str] = []
        for item in value:
            for k in item:
                if k not in columns:
                    columns.append(k)
        if key == "sources":
            for k in ("title", "url", "date"):
                if k not in columns:
                    columns.append(k)
        field["columns"] = [{"key": c, "label": labels.get(c, c),
                             "type": _column_type([item.get(c) for item in value])} for c in columns]
    return field


def _column_type(values: List[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, list) for v in present):
        return "list"
    if present and all(isinstance(v, bool) for v in present):
        return "bool"
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "number"
    if present and any(isinstance(v, dict) for v in present):
        return "yaml"
    return "line"


def prune_empty(data: Any, original: Any) -> Any:
    """Drop values the form added empty (a missing aspect nobody filled in), keep what the file had."""
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            orig = original.get(k) if isinstance(original, dict) else None
            if orig is None and (v in ("", None, [], {}) or v == {} or _all_empty(v)):
                continue
            out[k] = prune_empty(v, orig)
        return out
    if isinstance(data, list):
        return [prune_empty(v, original[i] if isinstance(original, list) and i < len(original) else None)
                for i, v in enumerate(data)]
    return data


def _all_empty(v: Any) -> bool:
    if isinstance(v, dict):
        return all(_all_empty(x) for x in v.values())
    if isinstance(v, list):
        return all(_all_empty(x) for x in v)
    return v in ("", None)


def field_at_line(node: Any, line: int, path: Optional[List[Any]] = None) -> List[Any]:
    """The deepest key path whose lines contain ``line`` (0-based) in the loaded YAML ``node``."""
    path = path or []
    if isinstance(node, CommentedMap):
        keys = list(node.keys())
        starts = []
        for k in keys:
            try:
                starts.append((node.lc.key(k)[0], k))
            except (KeyError, TypeError, AttributeError):
                continue
        best = None
        for i, (start, k) in enumerate(starts):
            end = starts[i + 1][0] if i + 1 < len(starts) else None
            if start <= line and (end is None or line < end):
                best = k
        if best is not None:
            return field_at_line(node[best], line, path + [best])
        return path
    if isinstance(node, CommentedSeq):
        starts = []
        for i in range(len(node)):
            try:
                starts.append((node.lc.item(i)[0], i))
            except (KeyError, TypeError, AttributeError):
                continue
        best = None
        for j, (start, i) in enumerate(starts):
            end = starts[j + 1][0] if j + 1 < len(starts) else None
            if start <= line and (end is None or line < end):
                best = i
        if best is not None:
            return field_at_line(node[best], line, path + [best])
    return path


def path_key(path: Sequence[Any]) -> str:
    return ".".join(str(p) for p in path)
