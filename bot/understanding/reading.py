"""A second reading of a resident's message, from the knowledge base and the editors' word lists.

The intent classifier learns from example sentences; residents write sentences nobody wrote an example for. When
it is unsure, out of scope or alarmed, or when a knowledge answer lacks its programme, this reading looks at what
the message *contains*: a programme or service named (also as a homophone, pinyin or with a typo), the aspects
asked (多少钱, 去哪办 … in the order asked), a life situation (老伴走了, 一个人住 …), a request for a person,
distress, danger, an office that is not ours, an application number, a place we have no local rules for.

``read`` only describes; ``Reading.intent`` says which intent the message is best understood as, so the actions
can re-read the message as that intent and let the ordinary rules answer it.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from bot.nlu.textnorm import normalize_with_offsets
from bot.understanding.lexicon import (GAP, PLACE_SUFFIXES, Lexicon, Referral, Situation, concepts_in, cue_spans,
                                      first_positions)
from bot.nlu.sounds import MAX_CHARS, SOUND_ENTITIES, Phrase, SoundIndex, drop_names_inside

MAX_RECOMMENDATIONS = 3
# Characters between a topic mentioned (条件, 材料) and a question word after it for the topic to count as asked.
MENTION_ASKED_WITHIN = 2
# "没(有)退休金", "无医保": a topic negated just before it.
NEGATIONS = ("没", "无")
NEGATION_REACH = 2
# "吃着低保", "低保户": a programme the family has, said just before or after its name.
HELD_BEFORE = ("吃", "吃着", "领着", "拿着", "享受着", "在吃")
HELD_AFTER = ("户",)
HOUSEHOLD_IS = ("是", "属于", "算")
# How a yes-or-no question ends, after the soft particles a resident adds (…低保不啊).
YES_NO_ENDINGS = ("吗", "不", "没", "没有", "否", "不了", "没得")
SOFT_ENDINGS = "啊呀哦咯嘞哈噻撒嘛"
# "有退休金": a topic owned, said just before it.
POSSESSION = "有"
POSSESSION_REACH = 1
KNOWLEDGE_INTENTS = {"overview": "ask_overview", "eligibility": "ask_eligibility", "benefits": "ask_benefits",
                     "amount": "ask_amount", "materials": "ask_materials", "apply": "ask_apply",
                     "duration": "ask_duration", "handler": "ask_handler"}


@dataclass
class Reading:
    text: str                                   # normalised, lower case
    programs: List[str] = field(default_factory=list)
    services: List[str] = field(default_factory=list)
    service_items: List[str] = field(default_factory=list)
    aspects: List[str] = field(default_factory=list)          # in the order asked
    situations: List[Situation] = field(default_factory=list)  # best first, at most MAX_RECOMMENDATIONS
    concepts: Dict[str, int] = field(default_factory=dict)
    referral: Optional[Referral] = None
    referral_asked_last: bool = False                         # named after every programme in the message
    wants_human: bool = False
    asks_if_bot: bool = False
    distress: bool = False
    danger: bool = False
    booking: bool = False
    application_no: Optional[str] = None
    places: List[str] = field(default_factory=list)            # place names with no locality entry
    localities: List[str] = field(default_factory=list)        # recorded locality ids named
    follow_up: bool = False
    pair: bool = False                                        # asks whether two programmes go together
    asks_status: bool = False                                 # asks how far an application has got
    held: List[str] = field(default_factory=list)             # programmes the family already has (吃低保, 是低保户)
    households: List[str] = field(default_factory=list)       # programmes named as a kind of household (低保边缘户)
    asks_whether: bool = False                                # tells who they are and asks yes or no (…能吃上低保不)
    asks: bool = False                                        # asks something: a question word, 吗/不 or ？

    @property
    def recognised(self) -> bool:
        """A programme or service was recognised: such a message is never answered with 没听明白."""
        return bool(self.programs or self.services or self.service_items)

    @property
    def asked_programs(self) -> List[str]:
        """The programmes named, those asked about first: "俺娘吃着低保 高龄津贴能领吗" asks about the one the family
        does not have yet."""
        # "低保边缘户能不能享受医疗救助": beside another programme, a kind of household is who asks.
        told = set(self.held) | set(self.households)
        return [p for p in self.programs if p not in told] + [p for p in self.programs if p in told]

    def intent(self, has_program_context: bool = False) -> Optional[Tuple[str, Dict[str, Any]]]:
        """(intent, entities) this message is best read as, or None when nothing in it is recognisable."""
        if self.danger:
            return "emergency", {}
        if self.wants_human:
            return "request_human", {}
        if self.application_no and not self.recognised:
            return "check_status", {"application_no": self.application_no}
        if self.distress:
            return "distress", ({"program": self.programs[0]} if self.programs else {})
        if self.services and self.booking:
            return "book_service", {"service": self.services[0]}
        described = next((s for s in self.situations if s.kind == "service"), None)
        if self.booking and not self.programs and described is not None:
            # "能派个人来家里扫扫地吗": the service described by what it does, and asked for.
            return "book_service", {"service": described.entry_id}
        if self.services and not (self.programs or self.aspects or self.situations):
            return "book_service", {"service": self.services[0]}
        if self.referral is not None and (self.referral_asked_last or not self.recognised):
            # "俺娘吃着低保，她身份证丢了，补办身份证要去派出所吗": residents say who they are first and ask last.
            return "out_of_scope", {}
        if self.situations and not self.aspects and self.programs and set(self.programs) <= set(self.held):
            # "我是一级肢体残疾 一个人住 家里是低保户": what the family already has is who they are; the situation
            # is what they tell.
            return "describe_situation", {}
        if self.programs or self.service_items:
            entities: Dict[str, Any] = {"program": self.asked_programs[0]} if self.programs else {
                "service_item": self.service_items[0]}
            if self.localities:
                entities["locality"] = self.localities[0]
            return KNOWLEDGE_INTENTS[self.aspects[0] if self.aspects else (
                "eligibility" if self.asks_whether else "overview")], entities
        if has_program_context and self.aspects and not self.services:
            # "我舅七十三 没儿没女 能申请不" right after 特困供养: the situation is why they ask about that programme.
            entities = {"locality": self.localities[0]} if self.localities else {}
            return KNOWLEDGE_INTENTS[self.aspects[0]], entities
        if self.situations:
            return "describe_situation", {}
        if self.services:
            return "book_service", {"service": self.services[0]}
        if has_program_context and (self.aspects or self.localities or self.places):
            entities = {"locality": self.localities[0]} if self.localities else {}
            if self.aspects:
                return KNOWLEDGE_INTENTS[self.aspects[0]], entities
            return "inform", entities
        return None


@lru_cache(maxsize=8)
def _sound_index(phrases: Tuple[Phrase, ...]) -> SoundIndex:
    return SoundIndex(p for p in phrases if p[1] in SOUND_ENTITIES)


def _places(text: str, known: Sequence[str], always_tag: bool = False) -> List[str]:
    """Place names in the text, for "那成都呢" / "我在合肥": the editors' list of provinces and cities (longest
    first), and any other word jieba tags as a place that ends like one (…县, …区): jieba alone tags 东西 a place
    and misses 合肥. ``always_tag``: tag with jieba even when no word can end like a place (for the test that
    shows skipping it changes nothing)."""
    import jieba.posseg

    found: List[Tuple[int, str]] = []
    taken = [False] * len(text)
    for name in known:
        start = text.find(name)
        while start >= 0:
            if not any(taken[start:start + len(name)]):
                found.append((start, name))
                for i in range(start, start + len(name)):
                    taken[i] = True
            start = text.find(name, start + 1)
    if not always_tag and not any(suffix[-1] in text for suffix in PLACE_SUFFIXES):
        # No word can end like a place: tagging the text would find nothing (it was a quarter of a reading's CPU).
        return [name for _, name in sorted(found)]
    pos = 0
    for word, flag in jieba.posseg.lcut(text):
        if flag == "ns" and len(word) >= 3 and word.endswith(PLACE_SUFFIXES) and not any(taken[pos:pos + len(word)]):
            found.append((pos, word))
        pos += len(word)
    return [name for _, name in sorted(found)]


def read(text: str, lexicon: Lexicon, phrases: Sequence[Phrase], entities: Iterable[Mapping[str, Any]] = (),
         locality_names: Optional[Mapping[str, str]] = None) -> Reading:
    """Reads ``text``. ``phrases`` are the knowledge base's names (bot.knowledge.export.all_phrases);
    ``entities`` those the NLU already found; ``locality_names`` maps a recorded locality's names to its id."""
    from bot.applications.numbers import find_application_no

    norm, offsets = normalize_with_offsets(text or "")
    norm = norm[:MAX_CHARS].lower()
    # Where the resident put a space or a comma between two words: "要带什么 人在外地能不能办" asks 带什么, then
    # 能不能办 — not 什么人.
    breaks = frozenset(i for i in range(1, len(norm)) if offsets[i] - offsets[i - 1] > 1)
    r = Reading(norm)
    named: List[Tuple[int, int, str, str]] = []
    for e in entities:
        value, kind = e.get("value"), e.get("entity")
        if not isinstance(value, str):
            continue
        if kind in SOUND_ENTITIES:
            # The classifier's spans are on the resident's own text; this reading works on the normalised one.
            named.append((bisect_left(offsets, e.get("start") or 0), bisect_left(offsets, e.get("end") or 0),
                          kind, value))
        elif kind == "locality" and value not in r.localities:
            r.localities.append(value)
        elif kind == "application_no":
            r.application_no = value
    # A longer name heard by sound beats a shorter exact one inside it (低保变缘 is 低保边缘, not 低保).
    heard = _sound_index(tuple(phrases)).find_written(norm)
    named = [n for n in drop_names_inside(norm, named, heard) if n[1] > n[0]] + [n for n in named if n[1] <= n[0]]
    # A name heard by sound where an exact name was found is the exact one ("孩子是孤儿" is not 事实孤儿).
    sounded = [m[:4] for m in heard if all(m[1] <= n[0] or m[0] >= n[1] or m[2] != n[2] for n in named)]
    targets = {"program": r.programs, "service": r.services, "service_item": r.service_items}
    names_end, names_start = 0, len(norm)
    spans = sorted(named) + [m for m in sounded if m[2] in targets]
    for _start, _end, kind, value in spans:
        names_end, names_start = max(names_end, _end), min(names_start, _start)
        if value not in targets[kind]:
            targets[kind].append(value)
        if kind == "program" and _held(norm, _start, _end) and value not in r.held:
            r.held.append(value)
        # "低保边缘户能不能享受医疗救助" asks as that household about the other programme; "低保边缘户是个啥
        # 跟低保差在哪" asks about the household itself, the other programme only in a phrase of its own.
        if kind == "program" and _household(norm, _start, _end) and value not in r.households and any(
                k == "program" and v != value and not _broken(breaks, min(_end, e), max(_start, s))
                for s, e, k, v in spans):
            r.households.append(value)
    # The question cues of the message, weighed once: the aspects, bookings and referrals all read them.
    cues = _cue_spans_kept(norm, lexicon, breaks)
    asked = _first_asked(cues)
    r.aspects = _aspects(norm, lexicon, asked, cues)
    # "是不是低保户才能领" asks who qualifies: a "together" word inside a longer question is that question's (not
    # inside a gapped one: "能…领吗" spans "能一起领吗").
    r.pair = len(r.programs) >= 2 and any(
        not any(a <= start and start + len(cue) <= b and b - a > len(cue) and GAP not in own
                for a, b, _, own in cues)
        for start, cue in first_positions(norm, lexicon.together))
    reported = [(a, b) for a, b, _cue in cue_spans(norm, lexicon.human_reported)]
    # "刚才工作人员说清楚了 那高龄津贴要什么材料" tells of a person, it does not ask for one.
    r.wants_human = any(not any(a <= start < b for a, b in reported)
                        for start, _cue in first_positions(norm, lexicon.human)) or (
        any("a" <= ch <= "z" for ch in norm) and any(m[2] == "human" for m in _cue_sounds(lexicon).find(norm)))
    # "你是真人吗" asks what Huimin is; "真人呢" / "要真人" asks for one.
    r.asks_if_bot = bool(first_positions(norm, lexicon.asks_if_bot))
    r.asks_status = bool(first_positions(norm, lexicon.status))
    r.distress = bool(first_positions(norm, lexicon.distress))
    # Danger is now; "家里着火了，啥都没了" is the hardship after it.
    r.danger = bool(first_positions(norm, lexicon.danger)) or (
        bool(first_positions(norm, lexicon.danger_if_now)) and not first_positions(norm, lexicon.aftermath))
    follow = first_positions(norm, lexicon.follow_up)
    # Short ("那低保呢") or opening the message ("那老人的护理补贴呢 我奶奶失能了 没残疾证").
    r.follow_up = bool(follow) and (len(norm) <= 12 or follow[0][0] <= 1)
    # "长者饭堂怎么报名" asks how to apply, "是谁来家里给装" who does it: a booking word inside a question is not a
    # booking — unless it only sits in a gapped question's gap ("上门…吗" over "上门送饭的能订吗").
    # Asking whether one can book ("能约人上门给他练练不") is asking to book: eligibility's words never count here.
    r.booking = any(not any(_in_own_words(start, start + len(cue), span) for span in cues if span[2] != "eligibility")
                    for start, cue in first_positions(norm, lexicon.booking))
    if r.booking and r.service_items and not r.services:
        # "探访关爱帮我登记上": a service of the national list asked for by a name that holds a bookable one's.
        item_names = [p for p, k, v in phrases if k == "service_item" and v in r.service_items]
        r.services += list(dict.fromkeys(v for p, k, v in phrases if k == "service" and len(p) >= 2
                                         and any(p in name for name in item_names)))
    if r.booking and r.programs and not r.services:
        # "想让人来评估下能不能改造": a programme named and asked for, whose name holds a bookable service's
        # (适老化改造 → 适老化, 老年人助餐 → 助餐): book that service.
        program_names = [p for p, k, v in phrases if k == "program" and v in r.programs]
        r.services += list(dict.fromkeys(v for p, k, v in phrases if k == "service" and len(p) >= 2
                                         and any(p in name for name in program_names)))
    if r.application_no is None:
        r.application_no = find_application_no(text or "")
    r.concepts = concepts_in(norm, lexicon)
    r.situations = _fitting(r.concepts, lexicon.situations, lexicon.broad_concepts)
    # Who they are, told outside the programmes' names (高龄 in 高龄津贴 tells nothing).
    told = [c for c, at in r.concepts.items() if c not in lexicon.broad_concepts
            and not any(s <= at < e for s, e, _k, _v in spans)]
    yes_no = _ends_yes_no(norm)
    r.asks_whether = bool(told) and yes_no
    r.asks = yes_no or "?" in norm or bool(first_positions(norm, lexicon.asking_words))  # "？" is "?" once normalised
    if r.services and not (r.booking or r.aspects or r.programs):
        # "我妈洗澡很困难": a service named in passing, without asking to book — recommend it (with its own reason
        # and a button to book) rather than starting a booking nobody asked for.
        for sid in r.services:
            own = next((s for s in lexicon.situations if s.kind == "service" and s.entry_id == sid), None)
            if own is not None and all(own.entry_id != s.entry_id for s in r.situations):
                r.situations.insert(0, own)
        del r.situations[MAX_RECOMMENDATIONS:]
    referral_at = -1
    latin = any("a" <= ch <= "z" for ch in norm)
    for referral in lexicon.referrals:
        # "我妈没退休金 …轮得到她不": a topic said to be missing describes the family, it asks nothing of it.
        found = [(a, b) for a, b, _cue in cue_spans(norm, referral.cues)
                 if not any(n in norm[max(0, a - NEGATION_REACH):a] for n in NEGATIONS)
                 and not _possession_told(norm, a, b, lexicon)]
        if not found and latin:
            # "gongjijin 贷款额度怎么算": the topic typed in pinyin.
            found = [(a, b) for a, b, kind, topic in _cue_sounds(lexicon).find(norm)
                     if kind == "referral" and topic == referral.topic]
        if found:
            r.referral, referral_at = referral, found[-1][0]
            # Asked after every name, or a name only inside the topic itself (护理 in 长期护理保险).
            r.referral_asked_last = names_end > 0 and (
                found[-1][0] >= names_end or any(a <= names_start and names_end <= b for a, b in found))
            break
    names = locality_names or {}
    _places_into(r, norm, lexicon, names)
    if r.referral is not None and _referral_only_context(r, norm, lexicon, asked, referral_at):
        r.referral, r.referral_asked_last = None, False
    return r


def _ends_yes_no(norm: str) -> bool:
    """The message ends as a yes-or-no question ("…吃得上低保不", "…能领吗"), soft particles and marks aside."""
    end = len(norm)
    while end > 0 and (norm[end - 1] in SOFT_ENDINGS or not norm[end - 1].isalnum()):
        end -= 1
    return norm[:end].endswith(YES_NO_ENDINGS)


def _broken(breaks: frozenset, start: int, end: int) -> bool:
    """A space or comma the resident put between ``start`` and ``end``."""
    return any(start < b <= end for b in breaks)


def _held(norm: str, start: int, end: int) -> bool:
    """"吃着低保", "家里是低保户", "领着特困": a programme the family already has."""
    # "低保边缘户是个啥" names a kind of household; "家里是低保户" says which one they are.
    return (_household(norm, start, end) and norm[max(0, start - 2):start].endswith(HOUSEHOLD_IS)) or norm[
        max(0, start - 2):start].endswith(HELD_BEFORE) or norm[start:end].startswith(HELD_BEFORE)  # alias 吃低保


def _household(norm: str, start: int, end: int) -> bool:
    """"低保户", "低保边缘户": a programme named as a kind of household."""
    return norm[end:end + 1] in HELD_AFTER or norm[start:end].endswith(HELD_AFTER)


def _possession_told(norm: str, start: int, end: int, lexicon: Lexicon) -> bool:
    """"有退休金" / "有医保" with no question after it tells what the family has; it asks nothing of that office."""
    if not norm[max(0, start - POSSESSION_REACH):start].endswith(POSSESSION):
        return False
    after = norm[end:end + MENTION_ASKED_WITHIN + 4]
    return not any(0 <= after.find(w) <= MENTION_ASKED_WITHIN for w in lexicon.asking_words)


def _referral_only_context(r: Reading, norm: str, lexicon: Lexicon, asked: Sequence[Tuple[int, int, str]],
                           at: int) -> bool:
    """Another office's topic that the message tells of but does not ask about, among other things told: "我退休金
    全搭进去了" in a hardship story, "有居住证" after "在广州"; or "医疗救助归民政管还是归医保管" — which office
    handles a programme is that programme's question."""
    if r.programs and any("还是" in cue for _, cue in first_positions(norm, lexicon.aspect_cues.get("handler", ()))):
        return True
    told = len(r.concepts) + len(r.localities) + len(r.places)
    if told < 2:
        return False  # "残疾证到期换证", "离婚了户口怎么迁": the topic is the message
    after = norm[at:]
    return not (any(start >= at for start, _end, _aspect in asked) or any(w in after for w in lexicon.asking_words))


def _places_into(r: Reading, norm: str, lexicon: Lexicon, names: Mapping[str, str]) -> None:
    for place in _places(norm, lexicon.places):
        loc = names.get(place) or next((lid for name, lid in names.items() if place in name or name in place), None)
        if loc:
            if loc not in r.localities:
                r.localities.append(loc)
        elif place not in r.places:
            r.places.append(place)


def _cue_spans_kept(text: str, lexicon: Lexicon, breaks: frozenset = frozenset()
                    ) -> List[Tuple[int, int, str, str]]:
    """(start, end, aspect, cue) of every question cue that survives its clashes, in text order. Where two overlap,
    the more precise wins: a cue inside a gapped one ("代办" inside "能…不" in "能让闺女代办不", "手机上…申" inside
    "能…申请吗"), else the one ending later ("享受啥" over "能享受" in "能享受啥")."""
    spans = []
    for aspect, cues in lexicon.aspect_cues.items():
        for start, end, cue in cue_spans(text, cues):
            spans.append((start, end, aspect, cue))
    kept: List[Tuple[int, int, str, str]] = []
    for span in sorted(spans):
        clash = next((k for k in kept if span[0] < k[1] and k[0] < span[1]), None)
        if clash is None:
            kept.append(span)
            continue
        crosses = [_broken(breaks, x[0], x[1] - 1) for x in (span, clash)]
        if crosses[0] != crosses[1] and GAP not in span[3] and GAP not in clash[3]:
            # Of two clashing cues, the one that stays within what the resident wrote as one phrase.
            if crosses[1]:
                kept[kept.index(clash)] = span
        elif _more_precise(span, clash):
            kept[kept.index(clash)] = span
    return sorted(kept)


def _in_own_words(start: int, end: int, span: Tuple[int, int, str, str]) -> bool:
    """Whether [start, end) overlaps the words a question cue was matched on (a gapped cue's parts, not its gap)."""
    a, b, _, cue = span
    parts = cue.split(GAP)
    own = [(a, a + len(parts[0])), (b - len(parts[-1]), b)] if len(parts) > 1 else [(a, b)]
    return any(start < y and x < end for x, y in own)


def _first_asked(kept: Sequence[Tuple[int, int, str, str]]) -> List[Tuple[int, int, str]]:
    """Each aspect where it is first asked (a cue that lost a clash leaves the aspect its other cues)."""
    first: Dict[str, Tuple[int, int, str]] = {}
    for a, b, aspect, _ in kept:
        first.setdefault(aspect, (a, b, aspect))
    return sorted(first.values())


def _more_precise(new: Tuple[int, int, str, str], old: Tuple[int, int, str, str]) -> bool:
    """Of two overlapping cue spans (start, end, aspect, cue): a plain cue inside a gapped one, else the later
    end."""
    # A gap can swallow a whole other question: "能…申请吗" around "手机上…申" in "能在手机上申请吗" asks how.
    if GAP in old[3] and old[0] <= new[0] and new[1] <= old[1] and (new[0], new[1]) != (old[0], old[1]):
        return True
    if GAP in new[3] and new[0] <= old[0] and old[1] <= new[1] and (new[0], new[1]) != (old[0], old[1]):
        return False
    if (GAP in new[3]) != (GAP in old[3]):
        # Words written exactly as an editor wrote them over a pattern with a gap ("都给谁" over "给…多少").
        return GAP in old[3]
    return new[1] > old[1]


def _aspects(text: str, lexicon: Lexicon, asked: Sequence[Tuple[int, int, str]],
             spans: Sequence[Tuple[int, int, str, str]] = ()) -> List[str]:
    """Aspects asked, in the order asked. A question (多少天, 去哪办) outranks a topic merely mentioned (材料, 审批):
    "从交材料到拿到钱要多少天" asks how long, not which papers; mentions count only when nothing is asked."""
    hits = [(start, aspect) for start, _end, aspect in asked]
    asked = {aspect for _, aspect in hits}
    mentioned = []
    for aspect, cues in lexicon.aspect_mentions.items():
        found = first_positions(text, cues)
        if found and aspect not in asked:
            start, cue = found[0]
            at = start + len(cue)
            after = text[at:at + MENTION_ASKED_WITHIN + 4]
            # "条件是啥 在哪申请": a topic with a question word right after it is asked, whatever else is — unless
            # the word belongs to another question ("材料该往哪个窗口送" asks where, not which papers).
            if any(0 <= after.find(w) <= MENTION_ASKED_WITHIN and not any(
                    a <= at + after.find(w) < b for a, b, *_ in spans) for w in lexicon.asking_words):
                hits.append((start, aspect))
            else:
                mentioned.append((start, aspect))
    if not hits:
        hits = mentioned
    if any("a" <= ch <= "z" for ch in text):
        # Typed in pinyin ("duo shao qian"): the cue words by sound.
        seen = {a for _, a in hits}
        for start, _end, kind, aspect in _cue_sounds(lexicon).find(text):
            if kind == "aspect" and aspect not in seen:
                seen.add(aspect)
                hits.append((start, aspect))
    return [a for _, a in sorted(hits)]


_cue_index: Dict[int, Tuple[Lexicon, SoundIndex]] = {}


def _cue_sounds(lexicon: Lexicon) -> SoundIndex:
    hit = _cue_index.get(id(lexicon))
    if hit is None or hit[0] is not lexicon:
        cues = [(cue, "aspect", aspect) for aspect, found in lexicon.aspect_cues.items() for cue in found]
        cues += [(cue, "human", "human") for cue in lexicon.human]
        cues += [(cue, "referral", r.topic) for r in lexicon.referrals for cue in r.cues]
        index = SoundIndex(c for c in cues if len(c[0]) >= 2 and GAP not in c[0])
        _cue_index.clear()
        _cue_index[id(lexicon)] = hit = (lexicon, index)
    return hit[1]


def _fitting(concepts: Mapping[str, int], situations: Sequence[Situation], broad: Sequence[str] = ()
             ) -> List[Situation]:
    """Situations whose every condition was mentioned, the most specific first, one per entry; then, to fill the
    list, those with at least half their conditions mentioned, one of them specific (not only "an old person")."""
    scored = []
    for order, s in enumerate(situations):
        met = [c for c in s.when if c in concepts]
        if len(met) == len(s.when):
            scored.append((0, -len(s.when), min(concepts[c] for c in met), order, s))
        elif met and 2 * len(met) >= len(s.when) and any(c not in broad for c in met) and not (
                # An old person's service is no answer for a child's parents, nor a child's for a grandparent.
                any(c in broad for c in s.when if c not in met) and any(c in broad for c in concepts)):
            scored.append((1, -len(met), min(concepts[c] for c in met), order, s))
    scored.sort(key=lambda x: x[:4])
    out: List[Situation] = []
    for *_, s in scored:
        if all((s.kind, s.entry_id) != (o.kind, o.entry_id) for o in out):
            out.append(s)
        if len(out) == MAX_RECOMMENDATIONS:
            break
    return out
