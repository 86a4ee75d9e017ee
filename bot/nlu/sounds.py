"""Finding programme and service names by how they sound, not only by how they are written.

Residents dictate by voice and type with pinyin keyboards, so a name arrives as a homophone (高灵津贴, 低宝),
as pinyin (di bao, gaolingjintie) or with one wrong character (高龄津帖). Exact phrase matching misses all of
these. Each known phrase is turned into toneless pinyin with the usual regional mergers folded (zh/z, ch/c,
sh/s, n/l, -ng/-n, h/f), and so is the message; a phrase is found where its syllables occur in the message,
or, for phrases of four characters or more, where all but one syllable match in place.

Pure functions over (phrase, entity, value) triples (no Rasa import), shared by the NLU entity extractor (phrases
persisted in the model) and the action server's second reading (``bot.understanding``, phrases read live from
``knowledge/``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

Phrase = Tuple[str, str, str]  # (phrase, entity type, value)
# Entities looked for by sound (locality and site names are too short and too common).
SOUND_ENTITIES = ("program", "service", "service_item")
# Only the start of a message is read by sound: channels cap messages, and a name is never that far in.
MAX_CHARS = 300
Match = Tuple[int, int, str, str]  # (start char, end char, entity type, value)

# Regional and keyboard mergers folded before comparing (southern speakers and voice input confuse these).
_INITIAL_FOLDS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"), ("f", "h"), ("r", "l"))
_FINAL_FOLDS = (("ing", "in"), ("eng", "en"), ("ang", "an"), ("iong", "ong"), ("uan", "an"))
_LATIN = re.compile(r"[a-z]+")
# Every toneless pinyin syllable, longest first, for splitting a run of Latin letters ("dibao" → di bao).
_SYLLABLES: Tuple[str, ...] = ()


def _fold(syllable: str) -> str:
    s = syllable.lower().replace("ü", "v").replace("u:", "v")
    for a, b in _INITIAL_FOLDS:
        if s.startswith(a):
            s = b + s[len(a):]
            break
    for a, b in _FINAL_FOLDS:
        if s.endswith(a):
            s = s[: -len(a)] + b
            break
    return s


@lru_cache(maxsize=20000)
def _char_sounds(ch: str) -> Tuple[str, ...]:
    """Folded toneless readings of one CJK character (all readings of a polyphone)."""
    from pypinyin import Style, pinyin

    readings = pinyin(ch, style=Style.NORMAL, heteronym=True, errors="ignore")
    if not readings:
        return ()
    return tuple(sorted({_fold(r) for r in readings[0] if r}))


def _syllables() -> Tuple[str, ...]:
    global _SYLLABLES
    if not _SYLLABLES:
        from pypinyin.constants import PINYIN_DICT
        from pypinyin import Style
        from pypinyin.style import convert

        found = set()
        for value in PINYIN_DICT.values():
            for reading in value.split(","):
                plain = convert(reading, Style.NORMAL, strict=False)
                if plain.isascii() and plain.isalpha():
                    found.add(plain.lower())
        _SYLLABLES = tuple(sorted(found, key=lambda s: (-len(s), s)))
    return _SYLLABLES


def split_pinyin(run: str) -> Optional[List[str]]:
    """Splits a run of Latin letters into the fewest pinyin syllables ("rengong" → ren gong, not reng o ng), or
    None when it is not pinyin."""
    syllables = set(_syllables())
    longest = max((len(s) for s in syllables), default=6)
    best: List[Optional[List[str]]] = [None] * len(run) + [[]]
    for i in range(len(run) - 1, -1, -1):
        for j in range(min(len(run), i + longest), i, -1):
            rest = best[j]
            if rest is not None and run[i:j] in syllables and (best[i] is None or len(rest) + 1 < len(best[i])):
                best[i] = [run[i:j]] + rest
    return best[0]


@dataclass(frozen=True)
class Unit:
    """One sound of the message: its folded readings and the character span it came from."""
    sounds: Tuple[str, ...]
    start: int
    end: int
    char: str = ""   # the CJK character itself ("" for a Latin syllable)


def message_units(text: str) -> List[Unit]:
    """The message as a sequence of sounds: a CJK character is one unit, a Latin pinyin syllable is one unit."""
    units: List[Unit] = []
    i = 0
    lower = text.lower()
    while i < len(lower):
        ch = lower[i]
        m = _LATIN.match(lower, i)
        if m:
            parts = split_pinyin(m.group(0))
            if parts:
                pos = i
                for part in parts:
                    units.append(Unit((_fold(part),), pos, pos + len(part)))
                    pos += len(part)
            i = m.end()
            continue
        sounds = _char_sounds(ch) if "\u3400" <= ch <= "\u9fff" else ()
        if sounds:
            units.append(Unit(sounds, i, i + 1, ch))
        else:
            # Spaces and punctuation separate nothing in speech ("di bao", "低 保"); other symbols break a match.
            if not ch.isspace() and ch not in "-_·.,，。、":
                units.append(Unit((), i, i + 1))
        i += 1
    return units


def phrase_sounds(phrase: str) -> Optional[Tuple[Tuple[str, ...], ...]]:
    """Sounds of a known name, or None when it has characters without a reading (digits, Latin)."""
    out = []
    for ch in phrase:
        sounds = _char_sounds(ch) if "\u3400" <= ch <= "\u9fff" else ()
        if not sounds:
            return None
        out.append(sounds)
    return tuple(out)


class SoundIndex:
    """Sound-alike matching of known names in a message; longest non-overlapping matches win."""

    # A name of this many syllables or more may have one syllable wrong (高龄津帖, 残疾人两项补帖).
    ONE_OFF_MIN = 4
    # A name of this many syllables or more may also be said with one syllable left out (失能老人护理补贴).
    ONE_LESS_MIN = 6

    def __init__(self, phrases: Iterable[Phrase]) -> None:
        self._by_first: Dict[str, List[Tuple[Tuple[Tuple[str, ...], ...], str, str, str]]] = {}
        seen = set()
        for phrase, entity, value in phrases:
            sounds = phrase_sounds(phrase)
            if sounds is None or len(sounds) < 2 or (sounds, entity, value) in seen:
                continue
            seen.add((sounds, entity, value))
            for first in sounds[0]:
                self._by_first.setdefault(first, []).append((sounds, entity, value, phrase))

    def find(self, text: str) -> List[Match]:
        return [m[:4] for m in self.find_written(text)]

    def find_written(self, text: str) -> List[Tuple[int, int, str, str, int, str]]:
        """Matches (start, end, entity, value, syllables heard wrong or left out, the name as the knowledge base
        writes it)."""
        units = message_units(text)
        found: List[Tuple[int, int, int, str, str, str]] = []  # (misses, start, end, entity, value, phrase)
        for i, unit in enumerate(units):
            # The first syllable anchors a name (a one-off miss there finds too much), so only names starting
            # with this unit's sound are tried here.
            candidates = {id(c): c for s in unit.sounds for c in self._by_first.get(s, ())}
            for sounds, entity, value, phrase in candidates.values():
                n = len(sounds)
                if i + n > len(units):
                    continue
                if not _enough_alike(units[i:i + n], phrase):
                    continue
                allowed = 1 if n >= self.ONE_OFF_MIN else 0
                misses = 0
                for k in range(1, n):
                    if not set(units[i + k].sounds) & set(sounds[k]):
                        misses += 1
                        if misses > allowed or k == n - 1:
                            misses = allowed + 1
                            break
                if misses <= allowed and (misses == 0 or _same_chars(units[i:i + n], phrase) * 2 >= n):
                    # A syllable wrong as well needs half the characters right (高灵津帖), or any sound-alike
                    # run of syllables would do (看不清了 is not 康复理疗).
                    found.append((misses, unit.start, units[i + n - 1].end, entity, value, phrase))
                elif n >= self.ONE_LESS_MIN:
                    end = _with_one_left_out(units, i, sounds)
                    if end is not None:
                        found.append((1, unit.start, end, entity, value, phrase))
        return _longest(found)


def _same_chars(units: Sequence[Unit], phrase: str) -> int:
    """Characters typed as in the name; a pinyin syllable counts as typed right (it carries no character)."""
    return sum(1 for u, c in zip(units, phrase) if not u.char or u.char == c)


@lru_cache(maxsize=20000)
def _raw_sounds(ch: str) -> Tuple[str, ...]:
    from pypinyin import Style, pinyin

    readings = pinyin(ch, style=Style.NORMAL, heteronym=True, errors="ignore")
    return tuple(readings[0]) if readings else ()


def _enough_alike(units: Sequence[Unit], phrase: str) -> bool:
    """Short names sound alike too often (体检 / 提建, 家政 / 家怎): a two-syllable name needs one character typed
    as in the name and the other a true homophone (no regional merger); longer names one character as typed."""
    if len(phrase) == 2:
        same = [not u.char or u.char == c for u, c in zip(units, phrase)]
        if not any(same):
            return False
        # By each character's usual reading: a rare one (抵 read qi) would make 请不起保姆 say 抵保.
        return all(s or _raw_sounds(u.char)[:1] == _raw_sounds(c)[:1] != () for s, u, c in zip(same, units, phrase))
    return _same_chars(units, phrase) >= 1


def _with_one_left_out(units: Sequence[Unit], i: int, sounds: Tuple[Tuple[str, ...], ...]) -> Optional[int]:
    """End of a match of ``sounds`` at unit ``i`` with exactly one inner syllable of the name left out."""
    n = len(sounds)
    if i + n - 1 > len(units):
        return None
    for skip in range(1, n - 1):
        rest = sounds[:skip] + sounds[skip + 1:]
        if all(set(units[i + k].sounds) & set(rest[k]) for k in range(n - 1)):
            return units[i + n - 2].end
    return None


def _longest(found: Sequence[Tuple[int, int, int, str, str, str]]) -> List[Tuple[int, int, str, str, int, str]]:
    kept: List[Tuple[int, int]] = []
    labels: Dict[Tuple[int, int], List[Tuple[str, str, str]]] = {}
    best_misses: Dict[Tuple[int, int], int] = {}
    for misses, start, end, entity, value, phrase in found:
        span = (start, end)
        if span not in best_misses or misses < best_misses[span]:
            best_misses[span] = misses
            labels[span] = [(entity, value, phrase)]
        elif misses == best_misses[span] and all((entity, value) != lab[:2] for lab in labels[span]):
            labels[span].append((entity, value, phrase))
    for span in sorted(best_misses, key=lambda s: (best_misses[s], -(s[1] - s[0]), s[0])):
        if all(span[1] <= k[0] or span[0] >= k[1] for k in kept):
            kept.append(span)
    return [(s, e, ent, val, best_misses[(s, e)], phrase) for s, e in sorted(kept)
            for ent, val, phrase in sorted(labels[(s, e)])]


def drop_names_inside(text: str, exact: Sequence[Tuple],
                      heard: Sequence[Tuple[int, int, str, str, int, str]]) -> List[Tuple]:
    """Exact names (start, end, entity, …) not inside a longer name of the same kind heard with one character
    typed wrong and every sound right: 低保变缘 is 低保边缘, not 低保. Otherwise the exact name wins (孩子是孤儿 is
    not 事实孤儿, although 事 may also be read zi)."""
    def one_typo(m: Tuple[int, int, str, str, int, str]) -> bool:
        typed, name = text[m[0]:m[1]], m[5]
        wrong = [(a, b) for a, b in zip(typed, name) if a != b]
        # The character typed wrong must sound like the name's in its everyday reading: 变/边 do, but 不 only in
        # a rare one (fou → hou), so "低保不" stays 低保 and a question.
        return m[4] == 0 and len(typed) == len(name) and len(wrong) <= 1 and all(
            _everyday_sound(a) == _everyday_sound(b) for a, b in wrong)

    return [x for x in exact if not any(m[0] <= x[0] and x[1] <= m[1] and m[1] - m[0] > x[1] - x[0]
                                        and m[2] == x[2] and one_typo(m) for m in heard)]


@lru_cache(maxsize=20000)
def _everyday_sound(ch: str) -> str:
    """The folded reading of a character as it is most often read (no rare polyphone readings)."""
    from pypinyin import Style, pinyin

    readings = pinyin(ch, style=Style.NORMAL, heteronym=False, errors="ignore")
    return _fold(readings[0][0]) if readings and readings[0] else ""
