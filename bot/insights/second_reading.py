"""Whether the fallback ladder's second reading (``bot.understanding``, on the live knowledge base) understands a
message the model sends to the fallback — for the replay, which must count what residents would really get."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, List

from bot.knowledge.loader import KnowledgeBase, KnowledgeError, load_knowledge
from bot.understanding.context import reading_for


def understood(knowledge_dir: Path) -> Callable[[str, dict], bool]:
    """``check(text, parsed)``: True when the second reading recognises something to answer (as
    ``actions/understanding.py:second_look`` decides), with the entities the model found. The knowledge base is
    read once per replay (its situations and word lists as saved now)."""
    loaded: List[KnowledgeBase] = []

    def check(text: str, parsed: dict) -> bool:
        if not loaded:
            try:
                loaded.append(load_knowledge(Path(knowledge_dir)))
            except KnowledgeError:
                return False  # a knowledge base that does not load answers nothing either
        return reading_for(loaded[0], text, parsed.get("entities") or []).intent() is not None
    return check


def recommending(knowledge_dir: Path, texts: List[str], kind: str, entry_id: str) -> List[str]:
    """Those of ``texts`` for which the second reading now recommends the entry (its situations fit, among the
    few it names) — what a situation just added from the insights page does for these messages."""
    try:
        kb = load_knowledge(Path(knowledge_dir))
    except KnowledgeError:
        return []
    return [t for t in texts if any((s.kind, s.entry_id) == (kind, entry_id) for s in reading_for(kb, t).situations)]
