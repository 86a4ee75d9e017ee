"""What a resident must never read: our internal file paths and editors' working notes, and links that do not
work. Used by ``kb check`` (on every text field an answer is built from) and by the tests over every rendered
answer, so both apply exactly the same rule.

The markers are about the *form* of editorial text (a file path, a bracketed note to a colleague), not welfare
facts, so they live here rather than in ``knowledge/``.
"""
from __future__ import annotations

import re
from typing import List, Optional

URL_RE = re.compile(r"https?://[^\s（）()<>，。；]+")
# A path into a repository or our own tree: docs/policy/3.2.md, knowledge/offices.yml, bot/x.py.
_PATH_RE = re.compile(r"(?:[A-Za-z0-9_.-]+/)+[A-Za-z0-9_.-]+\.(?:md|ya?ml|py|json|txt|csv|html?)\b"
                      r"|\b(?:docs|knowledge|bot|data|tests)/[A-Za-z0-9_./-]+")
# Editors' shorthand: the reference's credibility tags and notes about what a source did or did not say.
_NOTE_PHRASES = ("报道未写", "未写明", "分类待核实", "归类待核实", "【待核实】", "【官方】", "【媒体】", "【第三方】",
                 "编者", "待补充", "TODO", "FIXME")
# A bracketed aside that only tells a colleague something is unverified: （物质帮助，分类待核实）, （……待核实）.
_BRACKET_NOTE_RE = re.compile(r"[（(][^（）()]*待核实[^（）()]*[）)]")
_SOURCE_REF_RE = re.compile(r"\[S\d+")


def internal_markers(text: Optional[str]) -> List[str]:
    """The internal paths and editors' notes in ``text`` (links are not inspected: a URL has slashes)."""
    if not text:
        return []
    plain = URL_RE.sub(" ", text)
    found = [m.group(0) for m in _PATH_RE.finditer(plain)]
    found += [p for p in _NOTE_PHRASES if p in plain]
    found += [m.group(0) for m in _BRACKET_NOTE_RE.finditer(plain)]
    found += [m.group(0) for m in _SOURCE_REF_RE.finditer(plain)]
    return found


def working_link(url: Optional[str]) -> bool:
    """A URL a resident can open: http(s), no spaces, and not an abbreviated copy ("...." or "…" in it)."""
    if not url:
        return False
    url = url.strip()
    return bool(re.fullmatch(r"https?://\S+", url)) and "...." not in url and "…" not in url
