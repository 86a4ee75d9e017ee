"""The second reading of one message against the live knowledge base (names, localities, word lists)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

from bot.knowledge.loader import KnowledgeBase
from bot.nlu.textnorm import normalize
from bot.understanding.lexicon import load_lexicon
from bot.understanding.reading import Reading, read


# Characters before a group's name read to tell which member is meant.
NARROWING_WINDOW = 6
_phrases_cache: Dict[Tuple[int, int], Tuple[Any, ...]] = {}


def _phrases(kb: KnowledgeBase) -> Tuple[Any, ...]:
    """The knowledge base's names (as exported for training), recomputed only when the knowledge base or the
    booking catalogue was reloaded (both stores hand out the same object until a file changes)."""
    from bot.booking.catalogue import CatalogueError, get_catalogue
    from bot.knowledge.export import all_phrases

    try:
        catalogue: Any = get_catalogue(Path(kb.directory))
    except (CatalogueError, OSError):
        catalogue = None
    key = (id(kb), id(catalogue))
    if key not in _phrases_cache:
        _phrases_cache.clear()
        _phrases_cache[key] = (kb, catalogue, tuple(all_phrases(kb)))  # keep both alive so ids stay unique
    return _phrases_cache[key][2]


def reading_for(kb: KnowledgeBase, text: Optional[str], entities: Iterable[Mapping[str, Any]] = ()) -> Reading:
    names = {normalize(n).lower(): loc.id for loc in kb.localities.values() for n in loc.names}
    return read(text or "", load_lexicon(Path(kb.directory)), _phrases(kb), entities, names)


def reading_of(kb: KnowledgeBase, tracker: Any) -> Reading:
    """The reading of a rasa-sdk tracker's latest message (duck-typed: bot/ does not import rasa_sdk)."""
    message = tracker.latest_message or {}
    return reading_for(kb, message.get("text"), message.get("entities") or [])


def service_names(directory: Path) -> Dict[str, str]:
    """Bookable services' display names (empty when the booking catalogue cannot be read)."""
    from bot.booking.catalogue import CatalogueError, get_catalogue

    try:
        return {sid: s.name for sid, s in get_catalogue(Path(directory)).services.items()}
    except (CatalogueError, OSError):
        return {}


def warm_up(directory: Optional[Path] = None) -> None:
    """Loads the dictionaries (pinyin, jieba's part-of-speech model) and the knowledge base once, at start-up, so
    the first resident does not wait seconds for them. A knowledge base that cannot be read is reported later, by
    the action that needs it."""
    from bot.knowledge.loader import KnowledgeError, load_knowledge

    if directory is None:
        from bot.settings import get_settings

        directory = get_settings().knowledge_dir
    try:
        reading_for(load_knowledge(Path(directory)), "我妈八十三了 di bao 去哪里办 那成都市武侯区呢")
    except (KnowledgeError, OSError):
        pass


def narrow_group(kb: KnowledgeBase, program_id: Optional[str], text: str) -> Optional[str]:
    """A group named with words that point to one member ("老人的护理补贴" → the elderly one) is that member; a
    group named alone stays the group (its answer explains every member)."""
    group = kb.programs.get(program_id) if program_id else None
    if group is None or not group.is_group or not group.members:
        return program_id
    norm = normalize(text or "").lower()
    own = set(group.name) | set(group.short_name)
    # The words just before the group's name say which one ("老人的护理补贴和重度残疾人护理补贴"): a message that
    # names a member elsewhere must not pull the group towards it.
    at = next((norm.find(n) for n in sorted({group.short_name, group.name, *group.aliases}, key=len, reverse=True)
               if n and norm.find(n) >= 0), -1)
    said = set(norm[max(0, at - NARROWING_WINDOW):at] if at > 0 else norm)

    def overlap(member_id: str) -> int:
        member = kb.programs.get(member_id)
        if member is None:
            return 0
        return len(((set(member.name) | set(member.short_name)) - own) & said)

    scores = sorted(((overlap(m), m) for m in group.members), reverse=True)
    if scores[0][0] >= 2 and (len(scores) == 1 or scores[0][0] > scores[1][0]):
        return scores[0][1]
    return program_id
