"""The editors' word lists for understanding residents (``knowledge/understanding.yml``) and the situations each
programme and service serves (``situations`` in ``knowledge/programs/*.yml`` and ``knowledge/services/*.yml``).

Read live, by modification time, so an editor's change is used by the next message without retraining; checked
by ``kb check`` (``check``). Pure Python, no Rasa import: the action server, the editor and the checks use it.
"""
from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from functools import lru_cache
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bot.knowledge.schema import Problem, line_of
from bot.nlu.textnorm import normalize

LEXICON_FILE = "understanding.yml"
PLACES_FILE = "places.yml"
PLACE_SUFFIXES = ("省", "市", "自治区", "自治州", "地区", "盟", "县", "区", "州")
SITUATION_DIRS = (("program", "programs"), ("service", "services"))
ASPECT_IDS = ("overview", "eligibility", "benefits", "amount", "materials", "apply", "duration", "handler")
CUE_LISTS = ("human", "human_reported", "asks_if_bot", "distress", "danger", "danger_if_now", "aftermath", "follow_up",
             "together", "together_with_last", "booking", "asking_words", "status")
# Reply frames and the placeholders each may use (kb check reports any other).
REPLY_FIELDS = {
    "recommend_intro": set(), "recommend_line": {"name", "why"}, "recommend_outro": set(),
    "recommend_program_button": {"name"}, "recommend_service_button": {"name"}, "recommend_none": set(),
    "human_button": set(), "ask_policy_button": set(), "referral": {"topic", "office"},
    "referral_civil_affairs": {"topic", "office"}, "referral_more": set(),
    "no_local_rule": {"place"},
    "combine_known": {"first", "second", "answer", "source"}, "combine_unknown": {"first", "second"},
    "combine_button": {"name"}, "second_question": {"aspect_label"},
}


@dataclass(frozen=True)
class Situation:
    kind: str            # "program" or "service"
    entry_id: str
    why: str             # resident-facing: why this entry may fit
    when: Tuple[str, ...]  # concept ids that must all be present


@dataclass(frozen=True)
class Referral:
    topic: str
    cues: Tuple[str, ...]
    office: str
    civil_affairs: bool = False   # handled by another part of civil affairs (婚姻登记): not "不归民政部门管"


@dataclass(frozen=True)
class Combination:
    programs: Tuple[str, str]
    answer: str
    source: str


@dataclass
class Lexicon:
    concepts: Dict[str, Tuple[str, ...]] = field(default_factory=dict)
    ages: Dict[str, int] = field(default_factory=dict)
    broad_concepts: Tuple[str, ...] = ()
    aspect_cues: Dict[str, Tuple[str, ...]] = field(default_factory=dict)
    aspect_mentions: Dict[str, Tuple[str, ...]] = field(default_factory=dict)
    asking_words: Tuple[str, ...] = ()
    human: Tuple[str, ...] = ()
    human_reported: Tuple[str, ...] = ()
    asks_if_bot: Tuple[str, ...] = ()
    distress: Tuple[str, ...] = ()
    danger: Tuple[str, ...] = ()
    danger_if_now: Tuple[str, ...] = ()
    aftermath: Tuple[str, ...] = ()
    follow_up: Tuple[str, ...] = ()
    booking: Tuple[str, ...] = ()
    together: Tuple[str, ...] = ()
    together_with_last: Tuple[str, ...] = ()
    status: Tuple[str, ...] = ()
    replies: Dict[str, str] = field(default_factory=dict)
    combinations: Tuple[Combination, ...] = ()
    referrals: Tuple[Referral, ...] = ()
    situations: Tuple[Situation, ...] = ()
    places: Tuple[str, ...] = ()   # province and city names, longest first, with and without 省/市


# "A…B" in a word list: A, then B within GAP_CHARS characters ("能…不" matches 能申请不 and 能不能; "爸妈…没了"
# matches 爸妈前年都病没了). Residents put words between the parts of a phrase; one gapped cue covers them all.
GAP = "…"
GAP_CHARS = 6
_GAP_SPELLINGS = re.compile(r"…+|\.{3,}|。{3,}")


def _cue(value: str) -> str:
    parts = [normalize(part).lower() for part in _GAP_SPELLINGS.split(value)]
    return GAP.join(part for part in parts if part)


def _cues(values: Any) -> Tuple[str, ...]:
    out = []
    for v in values or ():
        if isinstance(v, (str, int)) and str(v).strip():
            n = _cue(str(v))
            if n and n not in out:
                out.append(n)
    return tuple(out)


# Parsed files by their text. A save in the editor reads the lexicon and every entry's situations several times
# over files that did not change (and copies of knowledge/ hold the same files), and parsing is most of its cost;
# a changed file has other text and is parsed again. The documents are only read, never changed, by the code here.
_PARSED: "OrderedDict[str, Any]" = OrderedDict()
_PARSED_MAX = 1024
_PARSED_LOCK = threading.Lock()  # the editor saves from worker threads


def _load_yaml(path: Path, problems: List[Problem]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
        key = text
        with _PARSED_LOCK:
            if key in _PARSED:
                _PARSED.move_to_end(key)
                return _PARSED[key]
        doc = YAML(typ="rt").load(text)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, YAMLError) as exc:
        problems.append(Problem(str(path), 1, f"无法读取：{exc}"))
        return None
    with _PARSED_LOCK:
        _PARSED[key] = doc
        while len(_PARSED) > _PARSED_MAX:
            _PARSED.popitem(last=False)
    return doc


def _parse(directory: Path, problems: List[Problem]) -> Lexicon:
    lex = Lexicon()
    path = directory / LEXICON_FILE
    doc = _load_yaml(path, problems)
    name = str(path)
    if doc is None:
        problems.append(Problem(name, 1, "缺少听懂居民用的词表 understanding.yml"))
    elif not isinstance(doc, Mapping):
        problems.append(Problem(name, 1, "应为一个映射（concepts、aspect_cues、human ……）"))
        doc = None
    doc = doc or {}
    known = {"concepts", "broad_concepts", "ages", "aspect_cues", "aspect_mentions", "referrals", "replies",
             "combinations", *CUE_LISTS}
    for key in doc:
        if key not in known:
            allowed = ", ".join(sorted(known))
            problems.append(Problem(name, line_of(doc, key), f"未知字段 {key}（允许的字段：{allowed}）"))
    concepts = doc.get("concepts") or {}
    if not isinstance(concepts, Mapping):
        problems.append(Problem(name, line_of(doc, "concepts"), "concepts 应为“情况名: [说法, ...]”"))
        concepts = {}
    for cid, values in concepts.items():
        if not isinstance(values, list) or not _cues(values):
            problems.append(Problem(name, line_of(concepts, cid), f"concepts.{cid} 应为至少一个说法的列表"))
            continue
        lex.concepts[str(cid)] = _cues(values)
    broad = doc.get("broad_concepts") or []
    lex.broad_concepts = tuple(str(c) for c in broad if str(c) in lex.concepts or str(c) in (doc.get("ages") or {}))
    ages = doc.get("ages") or {}
    for cid, age in (ages.items() if isinstance(ages, Mapping) else ()):
        if not isinstance(age, int) or not 0 < age < 130:
            problems.append(Problem(name, line_of(ages, cid), f"ages.{cid} 应为一个岁数"))
        else:
            lex.ages[str(cid)] = age
    for key in ("aspect_cues", "aspect_mentions"):
        aspects = doc.get(key) or {}
        for aid, values in (aspects.items() if isinstance(aspects, Mapping) else ()):
            if aid not in ASPECT_IDS:
                problems.append(Problem(name, line_of(aspects, aid),
                                        f"{key}.{aid}：没有这个方面（{', '.join(ASPECT_IDS)}）"))
                continue
            getattr(lex, key)[str(aid)] = _cues(values)
    for key in CUE_LISTS:
        values = doc.get(key)
        if values is not None and not isinstance(values, list):
            problems.append(Problem(name, line_of(doc, key), f"{key} 应为说法的列表"))
            continue
        setattr(lex, key, _cues(values))
    referrals = []
    for i, item in enumerate(doc.get("referrals") or ()):
        if not isinstance(item, Mapping) or not all(isinstance(item.get(k), (str, list))
                                                    for k in ("topic", "cues", "office")):
            problems.append(Problem(name, line_of(doc.get("referrals"), i), "referrals 每一项要有 topic、cues、office"))
            continue
        referrals.append(Referral(str(item["topic"]), _cues(item["cues"]), str(item["office"]).strip(),
                                  item.get("civil_affairs") is True))
    lex.referrals = tuple(referrals)
    lex.replies = _replies(name, doc.get("replies"), problems)
    combos = []
    for i, item in enumerate(doc.get("combinations") or ()):
        progs = item.get("programs") if isinstance(item, Mapping) else None
        if not (isinstance(progs, list) and len(progs) == 2 and all(isinstance(p, str) for p in progs)
                and isinstance(item.get("answer"), str) and isinstance(item.get("source"), str)
                and item["source"].strip()):
            problems.append(Problem(name, line_of(doc.get("combinations"), i),
                                    "combinations 每一项要有 programs（两个项目）、answer 和 source（来源）"))
            continue
        combos.append(Combination((progs[0], progs[1]), item["answer"].strip(), item["source"].strip()))
    lex.combinations = tuple(combos)
    lex.situations = tuple(_situations(directory, lex, problems))
    lex.places = _place_names(directory, problems)
    return lex


def _place_names(directory: Path, problems: List[Problem]) -> Tuple[str, ...]:
    path = directory / PLACES_FILE
    doc = _load_yaml(path, problems)
    if doc is None:
        return ()
    if not isinstance(doc, Mapping):
        problems.append(Problem(str(path), 1, "应为一个映射（provinces、cities）"))
        return ()
    names = set()
    for key in ("provinces", "cities"):
        values = doc.get(key) or []
        if not isinstance(values, list):
            problems.append(Problem(str(path), line_of(doc, key), f"{key} 应为地名的列表"))
            continue
        for v in values:
            name = normalize(str(v)).lower()
            if len(name) < 2:
                problems.append(Problem(str(path), line_of(doc, key), f"{key}：地名“{v}”太短"))
                continue
            names.add(name)
            bare = next((name[:-len(s)] for s in PLACE_SUFFIXES if name.endswith(s) and len(name) - len(s) >= 2), None)
            if bare:
                names.add(bare)
    return tuple(sorted(names, key=lambda n: (-len(n), n)))


def _replies(name: str, raw: Any, problems: List[Problem]) -> Dict[str, str]:
    import string

    out: Dict[str, str] = {}
    raw = raw if isinstance(raw, Mapping) else {}
    for key, allowed in REPLY_FIELDS.items():
        text = raw.get(key)
        if not isinstance(text, str) or not text.strip():
            problems.append(Problem(name, line_of(raw, key) if key in raw else 1, f"replies.{key} 缺少回答文字"))
            continue
        try:
            used = {f for _, f, _, _ in string.Formatter().parse(text) if f}
        except ValueError:
            problems.append(Problem(name, line_of(raw, key), f"replies.{key} 的花括号不配对"))
            continue
        if used - allowed:
            unknown = "、".join("{" + f + "}" for f in sorted(used - allowed))
            usable = "、".join(sorted(allowed)) or "无"
            problems.append(Problem(name, line_of(raw, key),
                                    f"replies.{key} 里的 {unknown} 不认识（可以用：{usable}）"))
            continue
        out[key] = text.strip()
    return out


def _situations(directory: Path, lex: Lexicon, problems: List[Problem]) -> List[Situation]:
    out: List[Situation] = []
    for kind, sub in SITUATION_DIRS:
        for path in sorted((directory / sub).glob("*.yml")):
            if not path.name.startswith("_"):
                out.extend(entry_situations(kind, path, _load_yaml(path, []), lex, problems))
    return out


def entry_situations(kind: str, path: Path, doc: Any, lex: Lexicon, problems: List[Problem]) -> List[Situation]:
    """The situations of one programme or service file (``doc``, loaded round-trip); the one place they are
    read and checked — for the second reading, ``kb check`` and the editor's save alike."""
    if not isinstance(doc, Mapping) or doc.get("situations") is None:
        return []  # none, or an emptied field (``situations:`` with nothing under it)
    out: List[Situation] = []
    entry_id = str(doc.get("id") or path.stem)
    seq = doc.get("situations")
    if not isinstance(seq, list):
        problems.append(Problem(str(path), line_of(doc, "situations"), "situations 应为列表（why + when）"))
        return []
    for i, item in enumerate(seq):
        line = line_of(seq, i)
        if not isinstance(item, Mapping) or not isinstance(item.get("why"), str) or not item.get("why").strip():
            problems.append(Problem(str(path), line, f"situations 第 {i + 1} 项要有 why（给居民看的一句话）"))
            continue
        when = item.get("when")
        if not isinstance(when, list) or not when:
            problems.append(Problem(str(path), line, f"situations 第 {i + 1} 项要有 when（情况名的列表）"))
            continue
        unknown = [str(c) for c in when if str(c) not in lex.concepts and str(c) not in lex.ages]
        if unknown:
            problems.append(Problem(str(path), line, f"situations 第 {i + 1} 项的情况名 {'、'.join(unknown)} 在"
                                                     f" {LEXICON_FILE} 的 concepts 里没有"))
            continue
        out.append(Situation(kind, entry_id, item["why"].strip(), tuple(str(c) for c in when)))
    return out


_cache: Dict[str, Tuple[Tuple, Lexicon]] = {}
_lock = threading.Lock()


def _stamp(directory: Path) -> Tuple:
    """Every file the lexicon is read from, with its modification time and size. Checked on every reading of a
    message, so with plain strings and ``os`` calls: pathlib's glob, sorting and stat were a tenth of the action
    server's CPU in the profile under load. The same files as ``sorted((directory / sub).glob("*.yml"))``."""
    base = str(directory)
    files = [os.path.join(base, LEXICON_FILE), os.path.join(base, PLACES_FILE)]
    for _, sub in SITUATION_DIRS:
        folder = os.path.join(base, sub)
        try:
            names = sorted(name for name in os.listdir(folder) if name.endswith(".yml"))
        except OSError:
            names = []
        files += [os.path.join(folder, name) for name in names]
    out = []
    for name in files:
        try:
            st = os.stat(name)
            out.append((name, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((name, None, None))
    return tuple(out)


def load_lexicon(directory: Path) -> Lexicon:
    """The lexicon of ``directory``, re-read when any of its files changed."""
    directory = Path(directory)
    stamp = _stamp(directory)
    with _lock:
        hit = _cache.get(str(directory))
        if hit and hit[0] == stamp:
            return hit[1]
    lex = _parse(directory, [])
    with _lock:
        _cache[str(directory)] = (stamp, lex)
    return lex


def check(directory: Path) -> List[Problem]:
    """``kb check``: the word lists and every entry's situations."""
    problems: List[Problem] = []
    _parse(Path(directory), problems)
    return problems


def check_file(directory: Path, relpath: str, text: Optional[str] = None) -> List[Problem]:
    """The situations problems of one programme or service file as ``text`` would make it (the editor checks an
    unsaved entry with this; ``None``: the file as saved), against the live word lists."""
    directory = Path(directory)
    parts = relpath.split("/")
    kind = next((k for k, sub in SITUATION_DIRS if len(parts) == 2 and parts[0] == sub), None)
    if kind is None or not parts[1].endswith(".yml") or parts[1].startswith("_"):
        return []
    path = directory / relpath
    if text is None:
        doc = _load_yaml(path, [])
    else:
        try:
            doc = YAML(typ="rt").load(text)
        except YAMLError:
            return []  # the knowledge loader reports unreadable YAML
    problems: List[Problem] = []
    entry_situations(kind, path, doc, load_lexicon(directory), problems)
    return problems


def concept_choices(directory: Path) -> List[Dict[str, Any]]:
    """What an editor may put in a situation's ``when``: each concept id with a few of its words (or its age)."""
    lex = load_lexicon(Path(directory))
    out: List[Dict[str, Any]] = [{"id": cid, "examples": list(cues[:4])} for cid, cues in lex.concepts.items()]
    out += [{"id": cid, "examples": [f"{age} 岁及以上"]} for cid, age in lex.ages.items() if cid not in lex.concepts]
    return out


# ---------------------------------------------------------------------------------------------------------
# Matching (the text is already normalised with bot.nlu.textnorm.normalize and lower-cased)

@lru_cache(maxsize=4096)
def _gapped(cue: str) -> "re.Pattern[str]":
    return re.compile(f".{{0,{GAP_CHARS}}}?".join(re.escape(part) for part in cue.split(GAP)))


@lru_cache(maxsize=4096)
def _parts(cue: str) -> Tuple[str, ...]:
    return tuple(cue.split(GAP))


# Characters a written number is made of.
NUMERALS = frozenset("0123456789零一二三四五六七八九十百千两")


def find_cue(text: str, cue: str) -> Tuple[int, int]:
    """(start, end) of the first match of one cue in ``text``, or (-1, -1)."""
    if GAP not in cue:
        pos = text.find(cue)
        # An age ("十岁", "八岁") is not the end of a longer one: "八十岁" is no child. (Only ages: in "七十九 一个人住"
        # the resident's space is gone from the normalised text, and 一个人 still follows a number.)
        while (pos > 0 and cue.endswith("岁") and text[pos - 1] in NUMERALS and len(cue) > 1
               and set(cue[:-1]) <= NUMERALS):
            pos = text.find(cue, pos + 1)
        return (pos, pos + len(cue)) if pos >= 0 else (-1, -1)
    if any(part not in text for part in _parts(cue)):
        return (-1, -1)  # most gapped cues: a part is missing, no need for the pattern
    m = _gapped(cue).search(text)
    return (m.start(), m.end()) if m else (-1, -1)


def first_positions(text: str, cues: Sequence[str]) -> List[Tuple[int, str]]:
    """(position, cue) of every cue found, earliest first; a cue inside a longer found cue is not counted twice."""
    return [(start, cue) for start, _end, cue in cue_spans(text, cues)]


# A cue list of at least this many cues is looked up through its index (``_cue_index``); a shorter one is searched
# cue by cue.
INDEX_MIN_CUES = 4
_INDEXES: Dict[int, Tuple[Sequence[str], frozenset, Dict[str, Tuple[int, ...]]]] = {}
_INDEXES_MAX = 4096


def _cue_key(cue: str) -> str:
    """What a text must contain for ``cue`` to be found in it: the first two characters of its first part (one
    when that part is one character long)."""
    return cue.split(GAP, 1)[0][:2]


def _cue_index(cues: Sequence[str]) -> Optional[Tuple[frozenset, Dict[str, Tuple[int, ...]]]]:
    """The positions of a cue list's cues by ``_cue_key``, kept per list (a tuple: the lexicon's lists never
    change; a list of another type, a short one or one with an empty cue has none)."""
    if type(cues) is not tuple or len(cues) < INDEX_MIN_CUES:
        return None
    hit = _INDEXES.get(id(cues))
    if hit is not None and hit[0] is cues:
        return hit[1], hit[2]
    keys: Dict[str, List[int]] = {}
    for i, cue in enumerate(cues):
        key = _cue_key(cue)
        if not key:
            return None
        keys.setdefault(key, []).append(i)
    index = {key: tuple(found) for key, found in keys.items()}
    if len(_INDEXES) >= _INDEXES_MAX:
        _INDEXES.clear()
    _INDEXES[id(cues)] = (cues, frozenset(index), index)
    return frozenset(index), index


@lru_cache(maxsize=256)
def _grams(text: str) -> frozenset:
    """Every character and every pair of adjacent characters of ``text``."""
    return frozenset(text) | frozenset(text[i:i + 2] for i in range(len(text) - 1))


def _candidates(text: str, cues: Sequence[str]) -> Sequence[str]:
    """The cues of ``cues`` that may be in ``text``, in their order: a cue whose key (``_cue_key``) the text does
    not contain cannot be found in it. The editors' lists hold about 2,500 cues and a message is read against all
    of them several times: searching each one was about half of the second reading's CPU."""
    found = _cue_index(cues)
    if found is None:
        return cues
    keys, index = found
    present = keys & _grams(text)
    if not present:
        return ()
    if len(present) == 1:
        return [cues[i] for i in index[next(iter(present))]]
    return [cues[i] for i in sorted(i for key in present for i in index[key])]


def cue_spans(text: str, cues: Sequence[str]) -> List[Tuple[int, int, str]]:
    """(start, end, cue) of the first match of every cue found, as ``first_positions`` counts them."""
    hits = []
    for cue in _candidates(text, cues):
        start, end = find_cue(text, cue)
        if start >= 0:
            hits.append((start, end, cue))
    # Of two cues over the same words, the plain one: it says exactly what was written ("外地能不能办", not "外地…办").
    hits.sort(key=lambda h: (h[0], h[0] - h[1], GAP in h[2]))
    kept: List[Tuple[int, int, str]] = []
    for start, end, cue in hits:
        if not any(k_start <= start and end <= k_end for k_start, k_end, _ in kept):
            kept.append((start, end, cue))
    return kept


_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUMBER = r"(?:(?<!\d)(\d{2,3})(?!\d)|([一二三四五六七八九十百零两]{2,5}))"
_AGE = re.compile(_NUMBER + r"(?=\s*(?:周岁|岁|多岁|了|多了|出头|好几))")
_AGE_LEAD = re.compile(r"(?:今年|已经|都|快|满|年满|年纪|年龄|岁数)\s*" + _NUMBER)


def _cn_number(s: str) -> Optional[int]:
    if s.startswith("百"):
        s = "一" + s
    total, current = 0, 0
    for ch in s:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current


def ages_in(text: str) -> List[int]:
    """Ages mentioned ("八十三了", "83岁", "今年85"), for the ``ages`` concepts."""
    found = []
    for pattern in (_AGE, _AGE_LEAD):
        for m in pattern.finditer(text):
            value = int(m.group(1)) if m.group(1) else _cn_number(m.group(2))
            if value is not None and 0 < value < 130:
                found.append(value)
    return found


def concepts_in(text: str, lex: Lexicon) -> Dict[str, int]:
    """Concept id → position of its first cue in the text (ages count as their concept at position 0)."""
    found: Dict[str, int] = {}
    for cid, cues in lex.concepts.items():
        hits = first_positions(text, cues)
        if hits:
            found[cid] = hits[0][0]
    ages = ages_in(text)
    for cid, threshold in lex.ages.items():
        if any(a >= threshold for a in ages):
            found.setdefault(cid, 0)
    return found
