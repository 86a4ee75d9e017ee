"""Checks that what residents read is fit to be read: no internal path or editor's note in any text an answer
is built from, source links that open, and publisher names that match the site a source is on.

Works on raw ruamel.yaml documents so every problem carries its line. ``text_problems`` is shared with the
operational files (services, offices, application statuses) checked in ``bot/knowledge/operational.py``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, List, Sequence
from urllib.parse import urlparse

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.knowledge.resident_text import internal_markers, working_link
from bot.knowledge.schema import FileChecker, Problem, line_of, value_line

PUBLISHERS_FILE = "publishers.yml"

# Keys whose values residents never read (ids, training phrases, references, the editors' own review note).
NOT_SHOWN = frozenset({"id", "kind", "aliases", "example_questions", "related", "members", "url", "date",
                       "review", "situations", "program", "category", "category_verified", "location", "demo",
                       "valid_until", "hours", "modes", "duration_minutes", "timezone", "closed_dates",
                       "open_dates", "minutes_per_ticket", "highlight_after_minutes", "home_service_area",
                       "services", "open_days", "closed_on_public_holidays", "calendar", "phone_source",
                       "hours_source", "featured_programs", "aspects_of_source"})


def text_problems(fc: FileChecker, node: Any, path: str = "", skip: Iterable[str] = NOT_SHOWN) -> None:
    """Every string a resident may read under ``node``: no internal path or editor's note."""
    skip = frozenset(skip)
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            if key in skip:
                continue
            if key == "sources" and isinstance(value, CommentedSeq):
                for i, src in enumerate(value):
                    if isinstance(src, CommentedMap) and isinstance(src.get("title"), str):
                        _one(fc, src["title"], value_line(src, "title"), f"{path}sources[{i + 1}].title")
                continue
            if isinstance(value, str):
                _one(fc, value, value_line(node, key), f"{path}{key}")
            else:
                text_problems(fc, value, f"{path}{key}.", skip)
    elif isinstance(node, CommentedSeq):
        for i, value in enumerate(node):
            if isinstance(value, str):
                _one(fc, value, line_of(node, i), f"{path.rstrip('.')}[{i + 1}]")
            else:
                text_problems(fc, value, f"{path.rstrip('.')}[{i + 1}].", skip)


def _one(fc: FileChecker, text: str, line: int, field: str) -> None:
    for marker in internal_markers(text):
        fc.add(line, f"{field} 里有居民不该看到的内部路径或编辑备注“{marker}”：请改成给居民看的话"
                     f"（来源写标题和网址，备注写到 review.note 或 # 注释里）", field)


def source_problems(fc: FileChecker, node: Any, publishers: Sequence[tuple], path: str = "") -> None:
    """Every ``sources`` list under ``node``: links that open, and the right publisher for the site."""
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            if key == "sources" and isinstance(value, CommentedSeq):
                for i, src in enumerate(value):
                    if isinstance(src, CommentedMap):
                        _source(fc, src, publishers, f"{path}sources[{i + 1}].")
            elif isinstance(value, (CommentedMap, CommentedSeq)):
                source_problems(fc, value, publishers, f"{path}{key}.")
    elif isinstance(node, CommentedSeq):
        for i, value in enumerate(node):
            source_problems(fc, value, publishers, f"{path.rstrip('.')}[{i + 1}].")


def _source(fc: FileChecker, src: CommentedMap, publishers: Sequence[tuple], prefix: str) -> None:
    url = src.get("url")
    title = src.get("title") if isinstance(src.get("title"), str) else ""
    if isinstance(url, str) and url.strip():
        if not working_link(url):
            fc.add(value_line(src, "url"), f"{prefix}url “{url}” 不是能打开的链接（有“....”之类的缩略）："
                                          f"找到完整网址，或者删掉 url 只留标题", f"{prefix}url")
            return
        host = (urlparse(url.strip()).hostname or "").lower()
        for domain, name in publishers:
            if host == domain or host.endswith("." + domain):
                if name not in title:
                    fc.add(value_line(src, "title"),
                           f"{prefix}title “{title}” 的发布者不对：{domain} 是{name}的网站，标题应写“{name}”",
                           f"{prefix}title")
                break


def load_publishers(knowledge_dir: Path, problems: List[Problem]) -> List[tuple]:
    """(domain, publisher name) pairs from ``knowledge/publishers.yml``."""
    path = Path(knowledge_dir) / PUBLISHERS_FILE
    if not path.exists():
        return []
    fc = FileChecker(str(path), problems)
    try:
        doc = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except Exception as exc:  # reported, not raised: kb check lists every problem
        fc.add(1, f"不是合法的 YAML：{exc}")
        return []
    out = []
    seq = doc.get("publishers") if isinstance(doc, CommentedMap) else None
    if not isinstance(seq, CommentedSeq):
        fc.add(1, "publishers.yml 应有 publishers 列表（domain、name）")
        return []
    for i, entry in enumerate(seq):
        if not (isinstance(entry, CommentedMap) and isinstance(entry.get("domain"), str)
                and isinstance(entry.get("name"), str)):
            fc.add(line_of(seq, i), "每一项要写 domain（网站域名）和 name（发布者）")
            continue
        out.append((entry["domain"].strip().lower(), entry["name"].strip()))
    return out


def check_documents(docs: Any, problems: List[Problem], display) -> None:
    """Resident text and sources of the documents ``kb check`` has read (programmes, localities, list, templates)."""
    publishers = load_publishers(docs.directory, problems)
    named: List[tuple] = []
    if docs.service_list is not None:
        named.append((docs.directory / "elderly_service_list.yml", docs.service_list))
    named += [(p, d) for p, d in docs.programs.items() if d is not None]
    named += [(p, d) for p, d in docs.localities.items() if d is not None]
    if docs.templates is not None:
        named.append((docs.directory / "answer_templates.yml", docs.templates))
    for path, doc in named:
        fc = FileChecker(display(path), problems)
        text_problems(fc, doc)
        source_problems(fc, doc, publishers)
