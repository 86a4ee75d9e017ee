"""Text normalisation of residents' messages (pure functions, no Rasa import: actions use it too).

Residents type on phones, dictate by voice and sometimes write in traditional characters, so the same question
arrives as "低保要帶什麼材料？？？", "低保要带什么材料😊" or "低保 要带 什么 材料". Every later component (tokenizer,
featurizers, the knowledge-base entity matcher, regex extractors) must see one canonical form:

* traditional → simplified characters (OpenCC ``t2s``);
* full-width → half-width and compatibility forms unified (Unicode NFKC: "１３８" → "138", "？" → "?");
* emoji, pictographs, variation selectors and control characters removed;
* whitespace collapsed; whitespace between two Chinese characters dropped (voice-to-text inserts it);
* runs of the same punctuation mark ("？？？", "!!!", "。。。") reduced to one.

Typos and colloquial names (地保, 吃低保) are *not* handled here: they are aliases in the knowledge base.

``normalize_with_offsets`` also returns, for each output character, the index of the input character it came
from, so entity annotations in training data can be moved onto the normalised text.
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import List, Optional, Tuple

_Chars = List[Tuple[str, int]]

# Unicode categories dropped entirely: other symbols (emoji, ★, ©), format characters (ZWJ, BOM, variation
# selectors are Mn but handled below), private use, surrogates, unassigned.
_DROP_CATEGORIES = {"So", "Cf", "Co", "Cs", "Cn"}


@lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC

    return OpenCC("t2s")


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2EBEF
        or 0xF900 <= cp <= 0xFAFF
        or 0x3000 <= cp <= 0x303F  # CJK punctuation (。、「」)
        or 0xFF00 <= cp <= 0xFFEF
    )


def _to_simplified(chars: _Chars) -> _Chars:
    if not chars:
        return chars
    text = "".join(c for c, _ in chars)
    converted = _t2s().convert(text)
    if len(converted) == len(text):
        return [(c, src) for c, (_, src) in zip(converted, chars)]
    # A phrase rule changed the length: fall back to character-by-character so offsets stay exact.
    return [(_t2s().convert(c) or c, src) for c, src in chars]


def _nfkc(chars: _Chars) -> _Chars:
    out: _Chars = []
    for c, src in chars:
        for n in unicodedata.normalize("NFKC", c):
            out.append((n, src))
    return out


def _drop_symbols(chars: _Chars) -> _Chars:
    out: _Chars = []
    for c, src in chars:
        cp = ord(c)
        cat = unicodedata.category(c)
        if c in "\t\n\r\f\v":
            out.append((" ", src))
            continue
        if cat in _DROP_CATEGORIES or cat == "Cc":
            continue
        if 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:  # variation selectors
            continue
        if cat == "Sk" and cp > 0x7F:  # emoji skin-tone modifiers and similar; keep ASCII ^ and `
            continue
        out.append((c, src))
    return out


def _squeeze_whitespace(chars: _Chars) -> _Chars:
    out: _Chars = []
    for i, (c, src) in enumerate(chars):
        if not c.isspace():
            out.append((c, src))
            continue
        if not out or out[-1][0] == " ":
            continue
        out.append((" ", src))
    while out and out[-1][0] == " ":
        out.pop()
    # Voice input and careless typing put spaces between Chinese words ("低保 要带 什么"); they carry no meaning
    # and would split aliases, so a space survives only between two non-Chinese characters ("iPhone 12").
    kept: _Chars = []
    for i, (c, src) in enumerate(out):
        if c == " ":
            prev, nxt = out[i - 1][0], out[i + 1][0]
            if _is_cjk(prev) or _is_cjk(nxt):
                continue
        kept.append((c, src))
    return kept


def _squeeze_punctuation(chars: _Chars) -> _Chars:
    out: _Chars = []
    for c, src in chars:
        if out and out[-1][0] == c and unicodedata.category(c).startswith("P"):
            continue
        out.append((c, src))
    return out


# Sentence punctuation carries no intent here, but its presence differs between typed, voice and copied text
# (the CrossWOZ out-of-scope samples end in "？", residents' questions often do not), so a model would learn it
# as an out-of-scope cue. Dropped, except between digits (10:30, 1.5).
_SENTENCE_PUNCTUATION = set("?!,.;:~，。？！、；：～…")


def _drop_sentence_punctuation(chars: _Chars) -> _Chars:
    out: _Chars = []
    for i, (c, src) in enumerate(chars):
        if c in _SENTENCE_PUNCTUATION:
            prev = chars[i - 1][0] if i else ""
            nxt = chars[i + 1][0] if i + 1 < len(chars) else ""
            if not (prev.isdigit() and nxt.isdigit()):
                if out and nxt and not out[-1][0].isspace() and not _is_cjk(out[-1][0]) and not _is_cjk(nxt):
                    out.append((" ", src))  # "ok,thanks" stays two words
                continue
        out.append((c, src))
    return out


def normalize_with_offsets(text: Optional[str]) -> Tuple[str, List[int]]:
    """Normalised text and, per output character, the index of the input character it came from."""
    if not text:
        return "", []
    chars: _Chars = [(c, i) for i, c in enumerate(text)]
    for step in (_nfkc, _to_simplified, _drop_symbols, _drop_sentence_punctuation, _squeeze_whitespace,
                 _squeeze_punctuation):
        chars = step(chars)
    return "".join(c for c, _ in chars), [src for _, src in chars]


def normalize(text: Optional[str]) -> str:
    """The canonical form of a resident's message (see the module docstring)."""
    return _normalized(text) if isinstance(text, str) else normalize_with_offsets(text)[0]


@lru_cache(maxsize=8192)
def _normalized(text: str) -> str:
    # The same texts are normalised again and again (the knowledge base's names on every reading of a message:
    # a tenth of the action server's CPU in the profile under load); the result depends on the text alone.
    return normalize_with_offsets(text)[0]


def map_span(offsets: List[int], start: int, end: int) -> Optional[Tuple[int, int]]:
    """Moves the input span [start, end) onto the normalised text; None when nothing of it survived."""
    inside = [i for i, src in enumerate(offsets) if start <= src < end]
    if not inside:
        return None
    return inside[0], inside[-1] + 1
