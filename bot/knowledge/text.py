"""Canonical form of names and questions for lookups (programme names, aliases, example questions).

The NLU normaliser (``bot.nlu.textnorm``) is the single definition of how a resident's message is cleaned;
lookups here use the same function so that "高齡津貼" or "８０岁补贴" find the entry the model will see.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

try:
    from bot.nlu.textnorm import normalize as _message_normalize
except ImportError:  # pragma: no cover - the NLU package is optional for the knowledge tools
    _message_normalize = None

# Punctuation and spaces carry no meaning inside a name ("低保 户", "高龄津贴？").
_STRIP = re.compile(r"[\s\u3000·・.,，。、!！?？:：;；'\"“”‘’()（）\[\]【】<>《》~～\-—_/]+")


@lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC

    return OpenCC("t2s")


def normalize_message(text: str) -> str:
    """Traditional → simplified, full-width → half-width, emoji and stray whitespace removed."""
    if not text:
        return ""
    if _message_normalize is not None:
        return _message_normalize(text)
    return _t2s().convert(unicodedata.normalize("NFKC", text)).strip()


@lru_cache(maxsize=8192)
def normalize_key(text: str) -> str:
    """Lookup key of a name or question: the normalised message, lower-cased, without spaces and punctuation."""
    return _STRIP.sub("", normalize_message(text or "")).lower()
