"""The knowledge base's schema: what each YAML file must contain, checked on the raw ruamel.yaml documents so
every problem carries the line it is on (``file:line: message``).

Validation is split in two: ``validate_*`` checks one document on its own; ``cross_check`` checks what only the
whole knowledge base can tell (unique ids, aliases and example questions, references between entries).
Messages are Chinese because content editors read them next to the field they typed.
"""
from __future__ import annotations

import datetime as dt
import re
import string
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from ruamel.yaml.comments import CommentedMap, CommentedSeq

# The aspect ids are part of the intent contract (ask_<aspect>); aspects.yml gives their labels and buttons.
ASPECT_IDS: Tuple[str, ...] = ("eligibility", "benefits", "amount", "materials", "apply", "duration", "handler")
QUESTION_KEYS: Tuple[str, ...] = ("overview",) + ASPECT_IDS
REVIEW_STATUSES = ("verified", "unverified")
KINDS = ("program", "group")

_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Placeholders each template may use; the renderer fills exactly these (a typo would otherwise crash an answer).
TEMPLATE_FIELDS: Dict[str, Set[str]] = {
    "answer.heading": {"program_name", "aspect_label"},
    "answer.locality_block": {"locality_name", "text"},
    "answer.national_block": {"text"},
    "answer.member_block": {"member_name", "text"},
    "answer.amount_notice": set(),
    "answer.no_local_amount": {"locality_name"},
    "answer.redirect_notice": {"program_name", "department"},
    "answer.missing_aspect": {"program_name", "aspect_label"},
    "answer.missing_aspect_local": {"program_name", "aspect_label", "locality_name", "contact"},
    "footer.line": {"sources", "status"},
    "footer.source_separator": set(),
    "footer.source_link": {"title", "url"},
    "footer.status_verified": {"reviewed_on"},
    "footer.status_unverified": set(),
    "footer.status_mixed": set(),
    "overview.text": {"program_name", "short_name", "summary"},
    "overview.text_short": {"program_name", "summary"},
    "overview.local_hint": {"locality_name"},
    "overview.question": set(),
    "clarify.program_for_aspect": {"aspect_label"},
    "clarify.program": set(),
    "buttons.related": {"short_name"},
    "buttons.locality": {"locality_name"},
    "service_list.items_heading": set(),
    "service_list.item_line": {"name", "category"},
    "service_list.item_line_plain": {"name"},
    "service_list.item": {"name", "category", "target", "content"},
    "service_list.item_plain": {"name", "target", "content"},
    "service_list.item_program_button": {"program_name"},
    "service_list.overview_button": set(),
    "service_list.local_note": {"locality_name", "text"},
    "contact.default": set(),
    "contact.local": {"locality_name", "contact"},
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the knowledge base. ``field`` is the dotted path inside the entry (for the editor)."""
    file: str
    line: int
    message: str
    field: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


# ---------------------------------------------------------------------------------------------------------
# Line numbers from ruamel.yaml (0-based inside, 1-based in messages)

def line_of(node: Any, key: Any = None) -> int:
    """1-based line of ``node`` itself, or of ``key`` (a mapping key or a sequence index) inside it."""
    try:
        if key is None:
            return node.lc.line + 1
        if isinstance(node, CommentedMap):
            return node.lc.key(key)[0] + 1
        if isinstance(node, CommentedSeq):
            return node.lc.item(key)[0] + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        pass
    try:
        return node.lc.line + 1
    except AttributeError:
        return 1


def value_line(node: Any, key: Any) -> int:
    """1-based line of the value stored under ``key`` (its first line for block scalars)."""
    try:
        if isinstance(node, CommentedMap):
            return node.lc.value(key)[0] + 1
    except (AttributeError, KeyError, TypeError):
        pass
    return line_of(node, key)


class FileChecker:
    """Collects problems of one file."""

    def __init__(self, file: str, problems: List[Problem]):
        self.file = file
        self.problems = problems

    def add(self, line: int, message: str, field: str = "") -> None:
        self.problems.append(Problem(self.file, line, message, field))

    # -- small typed getters; each reports its own problem and returns None on failure ------------------
    def mapping(self, doc: Any, what: str) -> Optional[CommentedMap]:
        if not isinstance(doc, CommentedMap):
            self.add(line_of(doc) if doc is not None else 1, f"{what}应该是一个“键: 值”的映射")
            return None
        return doc

    def known_keys(self, node: CommentedMap, allowed: Iterable[str], prefix: str = "") -> None:
        allowed = set(allowed)
        for key in node:
            if key not in allowed:
                self.add(line_of(node, key), f"未知字段 {prefix}{key}（允许的字段：{', '.join(sorted(allowed))}）",
                         f"{prefix}{key}")

    def required_text(self, node: CommentedMap, key: str, prefix: str = "", required: bool = True) -> Optional[str]:
        if key not in node or node[key] is None:
            if required:
                self.add(line_of(node), f"缺少必填字段 {prefix}{key}", f"{prefix}{key}")
            return None
        value = node[key]
        if not isinstance(value, str) or not value.strip():
            self.add(value_line(node, key), f"{prefix}{key} 应该是非空文字", f"{prefix}{key}")
            return None
        return value

    def ident(self, node: CommentedMap, key: str, prefix: str = "") -> Optional[str]:
        value = self.required_text(node, key, prefix)
        if value is not None and not _ID_RE.match(value):
            self.add(value_line(node, key), f"{prefix}{key} “{value}” 只能用小写英文字母、数字和下划线，且以字母开头",
                     f"{prefix}{key}")
            return None
        return value

    def text_list(self, node: CommentedMap, key: str, prefix: str = "", required: bool = True,
                  non_empty: bool = False) -> List[Tuple[str, int]]:
        """A list of non-empty strings, as (text, line) pairs."""
        if key not in node or node[key] is None:
            if required:
                self.add(line_of(node), f"缺少必填字段 {prefix}{key}", f"{prefix}{key}")
            return []
        seq = node[key]
        if not isinstance(seq, CommentedSeq):
            self.add(value_line(node, key), f"{prefix}{key} 应该是一个列表", f"{prefix}{key}")
            return []
        if non_empty and not seq:
            self.add(value_line(node, key), f"{prefix}{key} 不能为空", f"{prefix}{key}")
        out: List[Tuple[str, int]] = []
        seen: Dict[str, int] = {}
        for i, item in enumerate(seq):
            line = line_of(seq, i)
            if not isinstance(item, str) or not item.strip():
                self.add(line, f"{prefix}{key} 第 {i + 1} 项应该是非空文字", f"{prefix}{key}")
                continue
            if item in seen:
                self.add(line, f"{prefix}{key} 里“{item}”重复了（第 {seen[item]} 行已有）", f"{prefix}{key}")
                continue
            seen[item] = line
            out.append((item, line))
        return out

    def date(self, node: CommentedMap, key: str, prefix: str = "", required: bool = False) -> Optional[str]:
        if key not in node or node[key] is None:
            if required:
                self.add(line_of(node), f"缺少必填字段 {prefix}{key}", f"{prefix}{key}")
            return None
        value = node[key]
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, dt.date):
            return value.isoformat()
        text = str(value).strip()
        ok = bool(_DATE_RE.match(text))
        if ok:
            try:
                dt.date.fromisoformat(text)
            except ValueError:
                ok = False
        if not ok:
            self.add(value_line(node, key), f"{prefix}{key} “{text}” 不是有效日期，应写成 YYYY-MM-DD，例如 2025-01-01",
                     f"{prefix}{key}")
            return None
        return text


# ---------------------------------------------------------------------------------------------------------
# Shared pieces: sources and review

def check_sources(fc: FileChecker, node: CommentedMap, prefix: str = "", aspect_ids: Sequence[str] = ASPECT_IDS,
                  required: bool = True) -> None:
    key = "sources"
    if key not in node or node[key] is None or (isinstance(node[key], CommentedSeq) and not node[key]):
        if required:
            line = value_line(node, key) if key in node else line_of(node)
            fc.add(line, f"{prefix}sources 至少要有一条来源（标题、网址、日期）", f"{prefix}sources")
        return
    seq = node[key]
    if not isinstance(seq, CommentedSeq):
        fc.add(value_line(node, key), f"{prefix}sources 应该是一个列表", f"{prefix}sources")
        return
    for i, src in enumerate(seq):
        p = f"{prefix}sources[{i + 1}]."
        if not isinstance(src, CommentedMap):
            fc.add(line_of(seq, i), f"{prefix}sources 第 {i + 1} 条应该包含 title、url、date", f"{prefix}sources")
            continue
        fc.known_keys(src, ("title", "url", "date", "aspects"), p)
        fc.required_text(src, "title", p)
        url = fc.required_text(src, "url", p, required=False)
        if url is not None and not re.match(r"^https?://\S+$", url.strip()):
            fc.add(value_line(src, "url"), f"{p}url “{url}” 应该以 http:// 或 https:// 开头", f"{p}url")
        fc.date(src, "date", p)
        for aspect, line in fc.text_list(src, "aspects", p, required=False):
            if aspect not in aspect_ids:
                fc.add(line, f"{p}aspects 里的“{aspect}”不是已知的方面（{', '.join(aspect_ids)}）", f"{p}aspects")


def check_review(fc: FileChecker, node: CommentedMap, prefix: str = "",
                 aspect_ids: Sequence[str] = ASPECT_IDS) -> None:
    key = "review"
    if key not in node or node[key] is None:
        fc.add(line_of(node), f"缺少必填字段 {prefix}review（status: verified 或 unverified）", f"{prefix}review")
        return
    review = node[key]
    p = f"{prefix}review."
    if not isinstance(review, CommentedMap):
        fc.add(value_line(node, key), f"{prefix}review 应该包含 status、reviewed_on、reviewed_by", f"{prefix}review")
        return
    fc.known_keys(review, ("status", "reviewed_on", "reviewed_by", "unverified_aspects", "note"), p)
    status = review.get("status")
    if status not in REVIEW_STATUSES:
        line = value_line(review, "status") if "status" in review else line_of(review)
        fc.add(line, f"{p}status 应该是 verified（已核实）或 unverified（待核实），现在是“{status}”", f"{p}status")
    verified = status == "verified"
    fc.date(review, "reviewed_on", p, required=verified)
    fc.required_text(review, "reviewed_by", p, required=verified)
    for aspect, line in fc.text_list(review, "unverified_aspects", p, required=False):
        if aspect not in aspect_ids:
            fc.add(line, f"{p}unverified_aspects 里的“{aspect}”不是已知的方面", f"{p}unverified_aspects")
    fc.required_text(review, "note", p, required=False)


def check_aspect_texts(fc: FileChecker, node: CommentedMap, aspect_ids: Sequence[str], prefix: str = "",
                       required: bool = True) -> None:
    key = "aspects"
    if key not in node or node[key] is None:
        if required:
            fc.add(line_of(node), f"缺少必填字段 {prefix}aspects（至少写一个方面的回答）", f"{prefix}aspects")
        return
    aspects = node[key]
    if not isinstance(aspects, CommentedMap) or not aspects:
        fc.add(value_line(node, key), f"{prefix}aspects 应该是“方面: 回答”的映射，且不能为空", f"{prefix}aspects")
        return
    for aspect in aspects:
        if aspect not in aspect_ids:
            fc.add(line_of(aspects, aspect),
                   f"{prefix}aspects 里的“{aspect}”不是已知的方面（允许：{', '.join(aspect_ids)}）",
                   f"{prefix}aspects.{aspect}")
            continue
        fc.required_text(aspects, aspect, f"{prefix}aspects.")


# ---------------------------------------------------------------------------------------------------------
# One document at a time

PROGRAM_KEYS = ("id", "kind", "name", "short_name", "aliases", "summary", "aspects", "members", "redirect",
                "related", "example_questions", "sources", "review", "situations")
# An entry with an end date (a policy run for a fixed period): see check_valid_until.
PROGRAM_KEYS = PROGRAM_KEYS + ("valid_until",)


def validate_program(fc: FileChecker, doc: Any, stem: str, aspect_ids: Sequence[str] = ASPECT_IDS) -> None:
    doc = fc.mapping(doc, "项目文件")
    if doc is None:
        return
    fc.known_keys(doc, PROGRAM_KEYS)
    pid = fc.ident(doc, "id")
    if pid is not None and pid != stem:
        fc.add(value_line(doc, "id"), f"id “{pid}” 应该和文件名 {stem}.yml 一致", "id")
    kind = doc.get("kind", "program")
    if kind not in KINDS:
        fc.add(value_line(doc, "kind"), f"kind 应该是 program 或 group，现在是“{kind}”", "kind")
    fc.required_text(doc, "name")
    fc.required_text(doc, "short_name")
    fc.text_list(doc, "aliases")
    fc.required_text(doc, "summary")
    if kind == "group":
        fc.text_list(doc, "members", non_empty=True)
        check_aspect_texts(fc, doc, aspect_ids, required=False)
    else:
        if "members" in doc:
            fc.add(line_of(doc, "members"), "只有 kind: group 的条目才能写 members", "members")
        check_aspect_texts(fc, doc, aspect_ids)
    if "redirect" in doc:
        red = doc["redirect"]
        if not isinstance(red, CommentedMap):
            fc.add(value_line(doc, "redirect"), "redirect 应该写 department（负责办理的部门）", "redirect")
        else:
            fc.known_keys(red, ("department",), "redirect.")
            fc.required_text(red, "department", "redirect.")
    fc.text_list(doc, "related", required=False)
    check_example_questions(fc, doc, ("overview",) + tuple(aspect_ids))
    check_sources(fc, doc, aspect_ids=aspect_ids)
    check_review(fc, doc, aspect_ids=aspect_ids)
    check_valid_until(fc, doc)


def check_valid_until(fc: FileChecker, doc: CommentedMap) -> None:
    """``valid_until``: the last day the entry's policy runs (YYYY-MM-DD). Past it the answers show the entry as
    待核实 and the editor lists it as unverified, until an editor updates the entry."""
    fc.date(doc, "valid_until")


def check_example_questions(fc: FileChecker, doc: CommentedMap, keys: Sequence[str]) -> None:
    key = "example_questions"
    if key not in doc or doc[key] is None:
        fc.add(line_of(doc), "缺少必填字段 example_questions（按方面写居民的问法）", key)
        return
    eq = doc[key]
    if not isinstance(eq, CommentedMap) or not eq:
        fc.add(value_line(doc, key), "example_questions 应该是“方面: [问法, …]”的映射，且不能为空", key)
        return
    for aspect in eq:
        if aspect not in keys:
            fc.add(line_of(eq, aspect), f"example_questions 里的“{aspect}”不是已知的方面（允许：{', '.join(keys)}）",
                   f"{key}.{aspect}")
            continue
        fc.text_list(eq, aspect, f"{key}.", non_empty=True)


def validate_service_list(fc: FileChecker, doc: Any) -> None:
    doc = fc.mapping(doc, "清单文件")
    if doc is None:
        return
    fc.known_keys(doc, ("id", "name", "short_name", "aliases", "document", "item_count", "categories", "summary",
                        "rules", "full_list_hint", "items", "example_questions", "sources", "review"))
    fc.ident(doc, "id")
    for key in ("name", "short_name", "summary", "rules", "full_list_hint"):
        fc.required_text(doc, key)
    fc.text_list(doc, "aliases")
    if not isinstance(doc.get("document"), CommentedMap):
        fc.add(value_line(doc, "document") if "document" in doc else line_of(doc),
               "document 应该写文件的 title、issuers、date", "document")
    else:
        d = doc["document"]
        fc.known_keys(d, ("title", "issuers", "date"), "document.")
        fc.required_text(d, "title", "document.")
        fc.required_text(d, "issuers", "document.")
        fc.date(d, "date", "document.", required=True)
    count = doc.get("item_count")
    if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
        fc.add(value_line(doc, "item_count") if "item_count" in doc else line_of(doc),
               "item_count 应该是清单的项目总数（正整数）", "item_count")
        count = None
    categories: Set[str] = set()
    cats = doc.get("categories")
    if not isinstance(cats, CommentedSeq) or not cats:
        fc.add(value_line(doc, "categories") if "categories" in doc else line_of(doc),
               "categories 应该列出清单的大类（id、name）", "categories")
    else:
        for i, cat in enumerate(cats):
            if not isinstance(cat, CommentedMap):
                fc.add(line_of(cats, i), "categories 每一项要写 id 和 name", "categories")
                continue
            fc.known_keys(cat, ("id", "name"), "categories.")
            cid = fc.ident(cat, "id", "categories.")
            fc.required_text(cat, "name", "categories.")
            if cid:
                categories.add(cid)
    items = doc.get("items")
    if not isinstance(items, CommentedSeq):
        fc.add(value_line(doc, "items") if "items" in doc else line_of(doc), "items 应该是清单项目的列表", "items")
    else:
        if count is not None and len(items) > count:
            fc.add(value_line(doc, "items"), f"items 有 {len(items)} 项，超过了 item_count {count}", "items")
        for i, item in enumerate(items):
            p = f"items[{i + 1}]."
            if not isinstance(item, CommentedMap):
                fc.add(line_of(items, i), f"items 第 {i + 1} 项应该是映射", "items")
                continue
            fc.known_keys(item, ("id", "name", "aliases", "program", "category", "category_verified", "target",
                                 "content", "sources", "review"), p)
            fc.ident(item, "id", p)
            fc.required_text(item, "name", p)
            fc.text_list(item, "aliases", p, required=False)
            fc.required_text(item, "program", p, required=False)
            fc.required_text(item, "target", p)
            fc.required_text(item, "content", p)
            cat = item.get("category")
            if cat is not None and cat not in categories:
                fc.add(value_line(item, "category"), f"{p}category “{cat}” 不在 categories 里", f"{p}category")
            if "category_verified" in item and not isinstance(item["category_verified"], bool):
                fc.add(value_line(item, "category_verified"), f"{p}category_verified 应该是 true 或 false",
                       f"{p}category_verified")
            check_sources(fc, item, p)
            check_review(fc, item, p)
    eq_key = "example_questions"
    fc.text_list(doc, eq_key, non_empty=True)
    check_sources(fc, doc)
    check_review(fc, doc)


def validate_locality(fc: FileChecker, doc: Any, stem: str, aspect_ids: Sequence[str] = ASPECT_IDS) -> None:
    doc = fc.mapping(doc, "地方文件")
    if doc is None:
        return
    fc.known_keys(doc, ("id", "name", "short_name", "aliases", "contact", "programs", "service_list"))
    lid = fc.ident(doc, "id")
    if lid is not None and lid != stem:
        fc.add(value_line(doc, "id"), f"id “{lid}” 应该和文件名 {stem}.yml 一致", "id")
    fc.required_text(doc, "name")
    fc.required_text(doc, "short_name")
    fc.text_list(doc, "aliases")
    fc.required_text(doc, "contact", required=False)
    progs = doc.get("programs")
    if progs is not None:
        if not isinstance(progs, CommentedMap):
            fc.add(value_line(doc, "programs"), "programs 应该是“项目id: 地方信息”的映射", "programs")
        else:
            for pid, local in progs.items():
                p = f"programs.{pid}."
                if not isinstance(local, CommentedMap):
                    fc.add(line_of(progs, pid), f"programs.{pid} 应该包含 aspects、sources、review", f"programs.{pid}")
                    continue
                fc.known_keys(local, ("aspects", "sources", "review"), p)
                check_aspect_texts(fc, local, aspect_ids, p)
                check_sources(fc, local, p, aspect_ids)
                check_review(fc, local, p, aspect_ids)
    if "service_list" in doc:
        sl = doc["service_list"]
        if not isinstance(sl, CommentedMap):
            fc.add(value_line(doc, "service_list"), "service_list 应该包含 note、sources、review", "service_list")
        else:
            fc.known_keys(sl, ("note", "sources", "review"), "service_list.")
            fc.required_text(sl, "note", "service_list.")
            check_sources(fc, sl, "service_list.")
            check_review(fc, sl, "service_list.")


def validate_aspects(fc: FileChecker, doc: Any) -> List[str]:
    """Returns the aspect ids (without overview) declared in aspects.yml."""
    doc = fc.mapping(doc, "aspects.yml")
    if doc is None:
        return list(ASPECT_IDS)
    fc.known_keys(doc, ("aspects", "overview_buttons", "service_list"))
    aspects = doc.get("aspects")
    if not isinstance(aspects, CommentedMap):
        fc.add(line_of(doc), "aspects.yml 缺少 aspects 映射", "aspects")
        return list(ASPECT_IDS)
    for required in QUESTION_KEYS:
        if required not in aspects:
            fc.add(line_of(aspects), f"aspects 缺少“{required}”（意图 ask_{required} 需要它）", f"aspects.{required}")
    for aid, spec in aspects.items():
        p = f"aspects.{aid}."
        if aid not in QUESTION_KEYS:
            fc.add(line_of(aspects, aid), f"“{aid}”不是约定的方面（{', '.join(QUESTION_KEYS)}）", f"aspects.{aid}")
            continue
        if not isinstance(spec, CommentedMap):
            fc.add(line_of(aspects, aid), f"aspects.{aid} 应该包含 label、button、intent、next", f"aspects.{aid}")
            continue
        fc.known_keys(spec, ("label", "button", "intent", "next"), p)
        fc.required_text(spec, "label", p)
        fc.required_text(spec, "button", p)
        intent = fc.required_text(spec, "intent", p)
        if intent is not None and intent != f"ask_{aid}":
            fc.add(value_line(spec, "intent"), f"{p}intent 应该是 ask_{aid}", f"{p}intent")
        for nxt, line in fc.text_list(spec, "next", p, non_empty=True):
            if nxt not in QUESTION_KEYS or nxt == "overview":
                fc.add(line, f"{p}next 里的“{nxt}”不是已知的方面", f"{p}next")
    for nxt, line in fc.text_list(doc, "overview_buttons", non_empty=True):
        if nxt not in ASPECT_IDS:
            fc.add(line, f"overview_buttons 里的“{nxt}”不是已知的方面", "overview_buttons")
    sl = doc.get("service_list")
    if not isinstance(sl, CommentedMap):
        fc.add(line_of(doc), "aspects.yml 缺少 service_list（intent、button）", "service_list")
    else:
        fc.required_text(sl, "intent", "service_list.")
        fc.required_text(sl, "button", "service_list.")
    return [a for a in aspects if a in ASPECT_IDS]


def _placeholders(template: str) -> Optional[Set[str]]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError:
        return None


def validate_templates(fc: FileChecker, doc: Any) -> None:
    doc = fc.mapping(doc, "answer_templates.yml")
    if doc is None:
        return
    for dotted, allowed in TEMPLATE_FIELDS.items():
        section, key = dotted.split(".")
        node = doc.get(section)
        if not isinstance(node, CommentedMap):
            if section in doc:
                fc.add(line_of(doc, section), f"{section} 应该是映射", section)
            else:
                fc.add(line_of(doc), f"缺少模板 {dotted}", dotted)
            continue
        if key not in node or not isinstance(node[key], str):
            fc.add(line_of(node), f"缺少模板 {dotted}（应该是文字）", dotted)
            continue
        names = _placeholders(node[key])
        line = value_line(node, key)
        if names is None:
            fc.add(line, f"模板 {dotted} 的花括号不配对", dotted)
            continue
        unknown = names - allowed
        if unknown:
            hint = "、".join("{" + n + "}" for n in sorted(allowed)) or "无"
            fc.add(line, f"模板 {dotted} 用了未知的变量 {'、'.join('{' + n + '}' for n in sorted(unknown))}"
                         f"（可用：{hint}）", dotted)
    clarify = doc.get("clarify")
    if isinstance(clarify, CommentedMap):
        fc.text_list(clarify, "featured_programs", "clarify.", non_empty=True)


# ---------------------------------------------------------------------------------------------------------
# Bookable services (knowledge/services/*.yml): the facts they state carry sources and a review, like programmes.
# The catalogue (bot/booking/catalogue.py) checks the booking fields; this checks only the sourcing.

SERVICE_CLAIMS: Tuple[str, ...] = ("description", "for_whom", "price_note", "prepare")


def validate_service_facts(fc: FileChecker, doc: Any) -> None:
    """Sources and review of one service; every claim is backed by a source or listed as unverified."""
    if not isinstance(doc, CommentedMap):
        return
    check_sources(fc, doc, aspect_ids=SERVICE_CLAIMS)
    check_review(fc, doc, aspect_ids=SERVICE_CLAIMS)
    sources = doc.get("sources") if isinstance(doc.get("sources"), CommentedSeq) else []
    review = doc.get("review") if isinstance(doc.get("review"), CommentedMap) else None
    if not sources or review is None:
        return
    backed: Set[str] = set()
    for src in sources:
        if isinstance(src, CommentedMap):
            aspects = src.get("aspects")
            if not aspects:
                backed.update(SERVICE_CLAIMS)  # a source without aspects backs the whole entry
            elif isinstance(aspects, CommentedSeq):
                backed.update(a for a in aspects if isinstance(a, str))
    unverified = set(review.get("unverified_aspects") or []) if isinstance(
        review.get("unverified_aspects"), CommentedSeq) else set()
    for claim in SERVICE_CLAIMS:
        if claim in doc and claim not in backed and claim not in unverified:
            fc.add(value_line(doc, claim),
                   f"{claim} 没有来源支持：在 sources 里写明支持它的来源（aspects），"
                   f"或者把它列进 review.unverified_aspects（待核实）", claim)


# ---------------------------------------------------------------------------------------------------------
# Across files

@dataclass
class Entry:
    """What cross-checking needs to know about one entry (programme, group, item, locality, service list)."""
    id: str
    kind: str  # program | group | service_list | item | locality
    file: str
    line: int
    names: List[Tuple[str, int]]  # (name or alias, line)
    related: List[Tuple[str, int]]
    members: List[Tuple[str, int]]
    program: Optional[Tuple[str, int]] = None  # an item's or a locality overlay's programme
    examples: List[Tuple[str, int]] = None  # type: ignore[assignment]


def entries_of_program(file: str, doc: Any) -> List[Entry]:
    if not isinstance(doc, CommentedMap) or not isinstance(doc.get("id"), str):
        return []
    names = _names(doc)
    return [Entry(doc["id"], "group" if doc.get("kind") == "group" else "program", file, value_line(doc, "id"),
                  names, _seq(doc, "related"), _seq(doc, "members"), examples=_examples(doc.get("example_questions")))]


def entries_of_service_list(file: str, doc: Any) -> List[Entry]:
    if not isinstance(doc, CommentedMap) or not isinstance(doc.get("id"), str):
        return []
    out = [Entry(doc["id"], "service_list", file, value_line(doc, "id"), _names(doc), [], [],
                 examples=_examples(doc.get("example_questions")))]
    items = doc.get("items")
    if isinstance(items, CommentedSeq):
        for item in items:
            if isinstance(item, CommentedMap) and isinstance(item.get("id"), str):
                prog = item.get("program")
                out.append(Entry(item["id"], "item", file, value_line(item, "id"), _names(item), [], [],
                                 (prog, value_line(item, "program")) if isinstance(prog, str) else None, examples=[]))
    return out


def entries_of_locality(file: str, doc: Any) -> List[Entry]:
    if not isinstance(doc, CommentedMap) or not isinstance(doc.get("id"), str):
        return []
    entry = Entry(doc["id"], "locality", file, value_line(doc, "id"), _names(doc), [], [], examples=[])
    progs = doc.get("programs")
    # An overlay's programme keys are references, checked like `related`.
    if isinstance(progs, CommentedMap):
        entry.related = [(pid, line_of(progs, pid)) for pid in progs if isinstance(pid, str)]
    return [entry]


def _names(doc: CommentedMap) -> List[Tuple[str, int]]:
    out = []
    for key in ("name", "short_name"):
        if isinstance(doc.get(key), str) and doc[key].strip():
            out.append((doc[key], value_line(doc, key)))
    return out + _seq(doc, "aliases")


def _seq(doc: CommentedMap, key: str) -> List[Tuple[str, int]]:
    seq = doc.get(key)
    if not isinstance(seq, CommentedSeq):
        return []
    return [(v, line_of(seq, i)) for i, v in enumerate(seq) if isinstance(v, str) and v.strip()]


def _examples(eq: Any) -> List[Tuple[str, int]]:
    if isinstance(eq, CommentedSeq):
        return [(v, line_of(eq, i)) for i, v in enumerate(eq) if isinstance(v, str)]
    out: List[Tuple[str, int]] = []
    if isinstance(eq, CommentedMap):
        for aspect, seq in eq.items():
            if isinstance(seq, CommentedSeq):
                out.extend((v, line_of(seq, i)) for i, v in enumerate(seq) if isinstance(v, str))
    return out


def cross_check(entries: List[Entry], problems: List[Problem], normalize, featured: Sequence[Tuple[str, str, int]] = ()
                ) -> None:
    """Unique ids, unique names/aliases (after normalisation), unique example questions, existing references."""
    by_id = _unique_ids(entries, problems)
    _unique_names(entries, problems, normalize)
    _unique_examples(entries, problems, normalize)
    _existing_references(entries, problems, by_id, featured)


def _unique_ids(entries: List[Entry], problems: List[Problem]) -> Dict[str, Entry]:
    by_id: Dict[str, Entry] = {}
    for e in entries:
        # Localities live in their own namespace (entity `locality`); everything else shares one.
        key = f"locality:{e.id}" if e.kind == "locality" else e.id
        if key in by_id:
            first = by_id[key]
            problems.append(Problem(e.file, e.line, f"id “{e.id}” 重复了（{first.file}:{first.line} 已经用过）", "id"))
        else:
            by_id[key] = e
    return by_id


def _unique_names(entries: List[Entry], problems: List[Problem], normalize) -> None:
    owner: Dict[str, Tuple[Entry, str, int]] = {}
    for e in entries:
        own: Set[str] = set()
        linked = e.program[0] if (e.kind == "item" and e.program) else None
        for name, line in e.names:
            norm = normalize(name)
            if not norm:
                problems.append(Problem(e.file, line, f"名称或别名“{name}”规范化后为空", "aliases"))
                continue
            if norm in own:
                continue  # e.g. a traditional-character alias of the entry's own name
            own.add(norm)
            ns = "locality" if e.kind == "locality" else "topic"
            slot = f"{ns}:{norm}"
            if slot in owner:
                first, first_name, first_line = owner[slot]
                if linked and first.id == linked:
                    continue  # a service-list item may share the name of the programme it points to
                if first.kind == "item" and first.program and first.program[0] == e.id:
                    continue
                problems.append(Problem(
                    e.file, line,
                    f"别名“{name}”和 {first.id} 的“{first_name}”重复了（{first.file}:{first_line}），"
                    f"同一个叫法只能指向一个条目", "aliases"))
                # Also at the first occurrence: an editor may be editing either file.
                problems.append(Problem(
                    first.file, first_line,
                    f"别名“{first_name}”和 {e.id} 的“{name}”重复了（{e.file}:{line}），"
                    f"同一个叫法只能指向一个条目", "aliases"))
            else:
                owner[slot] = (e, name, line)


def _unique_examples(entries: List[Entry], problems: List[Problem], normalize) -> None:
    seen_examples: Dict[str, Tuple[Entry, int]] = {}
    for e in entries:
        for text, line in e.examples or []:
            norm = normalize(text)
            if norm in seen_examples:
                first, first_line = seen_examples[norm]
                problems.append(Problem(e.file, line, f"例句“{text}”重复了（{first.file}:{first_line}）",
                                        "example_questions"))
            else:
                seen_examples[norm] = (e, line)


def _existing_references(entries: List[Entry], problems: List[Problem], by_id: Dict[str, Entry],
                         featured: Sequence[Tuple[str, str, int]]) -> None:
    def kind_of(eid: str) -> Optional[str]:
        e = by_id.get(eid)
        return e.kind if e else None

    topic_kinds = ("program", "group", "service_list", "item")
    for e in entries:
        for rid, line in e.related:
            if e.kind == "locality":
                if kind_of(rid) != "program":
                    what = "是组合条目，请写到它的成员项目下" if kind_of(rid) == "group" else "不存在"
                    problems.append(Problem(e.file, line, f"地方信息里的项目“{rid}”{what}", f"programs.{rid}"))
                continue
            if rid == e.id:
                problems.append(Problem(e.file, line, "related 不能指向自己", "related"))
            elif kind_of(rid) not in topic_kinds:
                problems.append(Problem(e.file, line, f"related 里的“{rid}”不存在（没有这个 id 的条目）", "related"))
        for mid, line in e.members:
            if kind_of(mid) != "program":
                problems.append(Problem(e.file, line, f"members 里的“{mid}”不是一个项目 id", "members"))
        if e.program is not None:
            pid, line = e.program
            if kind_of(pid) not in ("program", "group"):
                problems.append(Problem(e.file, line, f"program “{pid}” 不存在", "program"))
    for pid, file, line in featured:
        if kind_of(pid) not in ("program", "group"):
            problems.append(Problem(file, line, f"clarify.featured_programs 里的“{pid}”不存在",
                                    "clarify.featured_programs"))
