"""Rendering answers from the knowledge base: the text a resident reads and the quick-reply buttons.

Pure functions of a ``KnowledgeBase`` (no Rasa import): the action server and the editor's preview call the
same code, so the preview shows exactly what residents will get. Every word comes from the YAML files — the
entries for content, ``answer_templates.yml`` for the scaffolding, ``aspects.yml`` for labels and buttons.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import string
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from bot.knowledge import names
from bot.knowledge.loader import KnowledgeBase, Locality, Program, Review, Source
from bot.knowledge.resident_text import working_link

MAX_BUTTONS = 4
MAX_CLARIFY_BUTTONS = 6
MAX_FOOTER_SOURCES = 2


@dataclass
class Answer:
    text: str
    buttons: List[Dict[str, str]] = field(default_factory=list)
    program_id: Optional[str] = None
    aspect: Optional[str] = None
    locality_id: Optional[str] = None
    verified: Optional[bool] = None  # None when nothing factual was said (a question, a "don't know")

    def as_message(self) -> Dict[str, Any]:
        """The dispatcher's keyword arguments (``dispatcher.utter_message(**answer.as_message())``)."""
        return {"text": self.text, "buttons": list(self.buttons)}


class _Blank(dict):
    def __missing__(self, key: str) -> str:  # a template typo must not crash an answer (kb check reports it)
        return ""


def _fill(kb: KnowledgeBase, dotted: str, **values: Any) -> str:
    return string.Formatter().vformat(kb.template(dotted), (), _Blank(values)).strip()


def payload(intent: str, **entities: Optional[str]) -> str:
    """A Rasa payload that triggers ``intent`` with entities, e.g. ``/ask_materials{"program":"dibao"}``."""
    ents = {k: v for k, v in entities.items() if v}
    if not ents:
        return f"/{intent}"
    return f"/{intent}" + json.dumps(ents, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _locality(kb: KnowledgeBase, locality_id: Optional[str]) -> Optional[Locality]:
    return kb.localities.get(locality_id) if locality_id else None


def _label(kb: KnowledgeBase, aspect: str) -> str:
    return kb.aspects[aspect].label if aspect in kb.aspects else aspect


# ---------------------------------------------------------------------------------------------------------
# Footer: sources and review status

@dataclass
class _Block:
    text: str
    sources: Tuple[Source, ...]
    review: Review
    local: bool = False


def _footer(kb: KnowledgeBase, blocks: Sequence[_Block], aspect: Optional[str]) -> Tuple[str, Optional[bool]]:
    if not blocks:
        return "", None
    shown: List[Source] = []
    for block in blocks:
        backing = [s for s in block.sources if s.backs(aspect)] or list(block.sources)
        for src in backing[:1]:
            if src.title not in [s.title for s in shown]:
                shown.append(src)
    verified = [b.review.aspect_verified(aspect) for b in blocks]
    if all(verified):
        dates = sorted(b.review.reviewed_on for b in blocks if b.review.reviewed_on)
        status = _fill(kb, "footer.status_verified", reviewed_on=dates[0] if dates else "")
    elif not any(verified):
        status = _fill(kb, "footer.status_unverified")
    else:
        status = _fill(kb, "footer.status_mixed")
    sep = kb.template("footer.source_separator")
    line = _fill(kb, "footer.line", sources=sep.join(_source_text(kb, s) for s in shown[:MAX_FOOTER_SOURCES]),
                 status=status)
    return line, all(verified)


def _source_text(kb: KnowledgeBase, src: Source) -> str:
    """A source as residents read it: its title, and its link only when the link can be opened."""
    if working_link(src.url):
        return _fill(kb, "footer.source_link", title=src.title, url=src.url.strip())
    return src.title


def today() -> dt.date:
    """The date answers are rendered on (a function so tests can move the clock)."""
    return dt.date.today()


def _current(review: Review, program: Program) -> Review:
    """A programme past its ``valid_until`` is 待核实 by itself, whatever its review said."""
    if program.valid_until and today().isoformat() > str(program.valid_until):
        return dataclasses.replace(review, status="unverified")
    return review


# ---------------------------------------------------------------------------------------------------------
# One aspect of one programme

def _blocks_for(kb: KnowledgeBase, program: Program, aspect: str, locality: Optional[Locality]
                ) -> Tuple[List[str], List[_Block]]:
    """Texts (already wrapped in locality/national labels) and the blocks they came from."""
    local = locality.programs.get(program.id) if locality else None
    local_text = local.aspects.get(aspect) if local else None
    national_text = program.aspects.get(aspect)
    texts: List[str] = []
    blocks: List[_Block] = []
    if local_text:
        texts.append(_fill(kb, "answer.locality_block", locality_name=locality.short_name, text=local_text))
        blocks.append(_Block(local_text, local.sources, _current(local.review, program), local=True))
        if national_text:
            texts.append(_fill(kb, "answer.national_block", text=national_text))
    elif national_text:
        texts.append(national_text)
    if national_text:
        blocks.append(_Block(national_text, program.sources, _current(program.review, program)))
    return texts, blocks


def _missing(kb: KnowledgeBase, program: Program, aspect: str, locality: Optional[Locality]) -> str:
    if locality and locality.contact:
        return _fill(kb, "answer.missing_aspect_local", program_name=program.short_name,
                     aspect_label=_label(kb, aspect), locality_name=locality.short_name, contact=locality.contact)
    return _fill(kb, "answer.missing_aspect", program_name=program.short_name, aspect_label=_label(kb, aspect))


def _has_aspect(kb: KnowledgeBase, program: Program, aspect: str, locality: Optional[Locality]) -> bool:
    members = [kb.programs[m] for m in program.members if m in kb.programs] if program.is_group else []
    for p in [program] + members:
        if aspect in p.aspects:
            return True
        if locality and p.id in locality.programs and aspect in locality.programs[p.id].aspects:
            return True
    return False


def _localities_with(kb: KnowledgeBase, program: Program, aspect: str) -> List[Locality]:
    ids = [program.id] + list(program.members)
    found = []
    for loc in kb.localities.values():
        entries = [loc.programs[pid] for pid in ids if pid in loc.programs and aspect in loc.programs[pid].aspects]
        if entries:
            verified = all(e.review.aspect_verified(aspect) for e in entries)
            found.append((not verified, loc.id, loc))
    # Verified local figures first: the button should lead to the most reliable example.
    return [loc for _, _, loc in sorted(found, key=lambda t: t[:2])]


def _next_buttons(kb: KnowledgeBase, program: Program, aspect: str, locality: Optional[Locality]
                  ) -> List[Dict[str, str]]:
    buttons: List[Dict[str, str]] = []
    loc_id = locality.id if locality else None
    if locality is None:
        # The resident has not said where they live: offer the local figures we have for this very aspect.
        for loc in _localities_with(kb, program, aspect)[:1]:
            buttons.append({"title": _fill(kb, "buttons.locality", locality_name=loc.short_name),
                            "payload": payload(kb.aspects[aspect].intent, program=program.id, locality=loc.id)})
    order = list(kb.aspects[aspect].next) if aspect in kb.aspects else []
    order += [a for a in kb.overview_buttons if a not in order]
    order += [a for a in kb.aspects if a not in order and a != "overview"]
    for nxt in order:
        if len(buttons) >= MAX_BUTTONS - 1:
            break
        if nxt == aspect or nxt not in kb.aspects or not _has_aspect(kb, program, nxt, locality):
            continue
        spec = kb.aspects[nxt]
        buttons.append({"title": spec.button, "payload": payload(spec.intent, program=program.id, locality=loc_id)})
    # One related programme is enough; the rest of the row is for this programme's aspects.
    rel = next((kb.programs[r] for r in program.related if r in kb.programs), None)
    if rel is not None and len(buttons) < MAX_BUTTONS:
        buttons.append({"title": _fill(kb, "buttons.related", short_name=rel.short_name),
                        "payload": payload(kb.aspects["overview"].intent, program=rel.id, locality=loc_id)})
    return buttons


def _shared_name_note(kb: KnowledgeBase, said: Optional[str], program_id: str) -> List[str]:
    """When the resident used a name shared with a bookable service, say which one this answer is about."""
    program = kb.programs.get(program_id)
    note = names.note_for(kb.directory, said, program_id, program.names if program else ()) if said else None
    return [note] if note else []


def render_answer(kb: KnowledgeBase, program_id: str, aspect: Optional[str], locality_id: Optional[str] = None,
                  said: Optional[str] = None) -> Answer:
    """The answer to one aspect of one programme: local text first (when the locality has it), then the
    national rule; a source + review footer; 2–4 buttons for the natural next question. ``said`` is the
    resident's message (a name shared with a bookable service adds a note saying which one is answered)."""
    program = kb.programs.get(program_id or "")
    if program is None:
        return render_clarify_program(kb, aspect)
    if not aspect or aspect == "overview" or aspect not in kb.aspects:
        return render_overview(kb, program_id, locality_id, said)
    locality = _locality(kb, locality_id)
    parts: List[str] = _shared_name_note(kb, said, program.id)
    parts.append(_fill(kb, "answer.heading", program_name=program.short_name, aspect_label=_label(kb, aspect)))
    if program.redirect_department:
        parts.append(_fill(kb, "answer.redirect_notice", program_name=program.short_name,
                           department=program.redirect_department))
    blocks: List[_Block] = []
    if program.is_group:
        own_texts, own_blocks = _blocks_for(kb, program, aspect, locality)
        parts += own_texts
        blocks += own_blocks
        for mid in program.members:
            member = kb.programs[mid]
            texts, member_blocks = _blocks_for(kb, member, aspect, locality)
            body = "\n".join(texts) if texts else _missing(kb, member, aspect, locality)
            parts.append(_fill(kb, "answer.member_block", member_name=member.name, text=body))
            blocks += member_blocks
    else:
        texts, blocks = _blocks_for(kb, program, aspect, locality)
        parts += texts
    if not blocks:
        parts.append(_missing(kb, program, aspect, locality))
    if aspect == "amount":
        if locality is not None and not any(b.local for b in blocks):
            parts.append(_fill(kb, "answer.no_local_amount", locality_name=locality.short_name))
        parts.append(_fill(kb, "answer.amount_notice"))
    footer, verified = _footer(kb, blocks, aspect)
    if footer:
        parts.append(footer)
    return Answer(text="\n".join(p for p in parts if p), buttons=_next_buttons(kb, program, aspect, locality),
                  program_id=program.id, aspect=aspect, locality_id=locality.id if locality else None,
                  verified=verified)


def render_overview(kb: KnowledgeBase, program_id: str, locality_id: Optional[str] = None,
                    said: Optional[str] = None) -> Answer:
    """A programme without an aspect: a short overview and one button per main aspect."""
    program = kb.programs.get(program_id or "")
    if program is None:
        return render_clarify_program(kb, None)
    locality = _locality(kb, locality_id)
    parts = _shared_name_note(kb, said, program.id)
    if program.short_name == program.name:
        parts.append(_fill(kb, "overview.text_short", program_name=program.name, summary=program.summary))
    else:
        parts.append(_fill(kb, "overview.text", program_name=program.name, short_name=program.short_name,
                           summary=program.summary))
    if program.redirect_department:
        parts.append(_fill(kb, "answer.redirect_notice", program_name=program.short_name,
                           department=program.redirect_department))
    ids = [program.id] + list(program.members)
    if locality and any(pid in locality.programs for pid in ids):
        parts.append(_fill(kb, "overview.local_hint", locality_name=locality.short_name))
    parts.append(_fill(kb, "overview.question"))
    footer, verified = _footer(kb, [_Block(program.summary, program.sources, _current(program.review, program))],
                               None)
    parts.append(footer)
    loc_id = locality.id if locality else None
    buttons = []
    for aid in kb.overview_buttons:
        if len(buttons) >= MAX_BUTTONS:
            break
        if aid in kb.aspects and _has_aspect(kb, program, aid, locality):
            buttons.append({"title": kb.aspects[aid].button,
                            "payload": payload(kb.aspects[aid].intent, program=program.id, locality=loc_id)})
    for aid in kb.aspects:  # a thin entry still gets at least two useful buttons
        if len(buttons) >= 2:
            break
        if aid != "overview" and aid not in kb.overview_buttons and _has_aspect(kb, program, aid, locality):
            buttons.append({"title": kb.aspects[aid].button,
                            "payload": payload(kb.aspects[aid].intent, program=program.id, locality=loc_id)})
    return Answer(text="\n".join(p for p in parts if p), buttons=buttons, program_id=program.id,
                  aspect="overview", locality_id=loc_id, verified=verified)


def render_clarify_program(kb: KnowledgeBase, aspect: Optional[str] = None, locality_id: Optional[str] = None
                           ) -> Answer:
    """An aspect without a programme: ask which programme, with programme buttons for that aspect."""
    aspect = aspect if aspect in kb.aspects else None
    if aspect and aspect != "overview":
        text = _fill(kb, "clarify.program_for_aspect", aspect_label=_label(kb, aspect))
    else:
        text = _fill(kb, "clarify.program")
    intent = kb.aspects[aspect or "overview"].intent
    buttons = []
    for pid in kb.template("clarify.featured_programs")[:MAX_CLARIFY_BUTTONS]:
        program = kb.programs.get(pid)
        if program is not None:
            buttons.append({"title": program.short_name, "payload": payload(intent, program=pid, locality=locality_id)})
    return Answer(text=text, buttons=buttons, aspect=aspect, locality_id=locality_id)


# ---------------------------------------------------------------------------------------------------------
# The national basic elderly care service list

def _category_label(kb: KnowledgeBase, item) -> Optional[str]:
    """The item's category, or None when no source confirms it: an unconfirmed category is not shown at all
    (a resident has no use for our note that it is unconfirmed)."""
    cat = kb.service_list.category(item.category)
    if cat is None or not item.category_verified:
        return None
    return cat.name


def render_service_list(kb: KnowledgeBase, item_id: Optional[str] = None, locality_id: Optional[str] = None
                        ) -> Answer:
    """Without ``item_id``: what the list is, the items we can confirm and where the full list is published.
    With ``item_id``: that item (target, content, category) and a button to its programme when it has one."""
    sl = kb.service_list
    intent = kb.service_list_intent
    locality = _locality(kb, locality_id)
    item = sl.items.get(item_id or "")
    if item is not None:
        category = _category_label(kb, item)
        if category:
            parts = [_fill(kb, "service_list.item", name=item.name, category=category, target=item.target,
                           content=item.content)]
        else:
            parts = [_fill(kb, "service_list.item_plain", name=item.name, target=item.target, content=item.content)]
        footer, verified = _footer(kb, [_Block(item.content, item.sources, item.review)], None)
        parts.append(footer)
        buttons = []
        if item.program and item.program in kb.programs:
            prog = kb.programs[item.program]
            buttons.append({"title": _fill(kb, "service_list.item_program_button", program_name=prog.short_name),
                            "payload": payload(kb.aspects["overview"].intent, program=prog.id,
                                               locality=locality_id)})
        buttons.append({"title": _fill(kb, "service_list.overview_button"), "payload": payload(intent)})
        return Answer(text="\n".join(p for p in parts if p), buttons=buttons, aspect="service_list",
                      locality_id=locality_id, verified=verified)

    lines = [sl.summary, _fill(kb, "service_list.items_heading")]
    for it in sl.items.values():
        category = _category_label(kb, it)
        if category:
            lines.append(_fill(kb, "service_list.item_line", name=it.name, category=category))
        else:
            lines.append(_fill(kb, "service_list.item_line_plain", name=it.name))
    lines.append(sl.full_list_hint)
    blocks = [_Block(sl.summary, sl.sources, sl.review)]
    if locality and locality.service_list:
        lines.append(_fill(kb, "service_list.local_note", locality_name=locality.short_name,
                           text=locality.service_list.note))
        blocks.append(_Block(locality.service_list.note, locality.service_list.sources, locality.service_list.review))
    footer, verified = _footer(kb, blocks, None)
    lines.append(footer)
    buttons = [{"title": it.name, "payload": payload(intent, service_item=it.id, locality=locality_id)}
               for it in list(sl.items.values())[:MAX_BUTTONS]]
    return Answer(text="\n".join(p for p in lines if p), buttons=buttons, aspect="service_list",
                  locality_id=locality_id, verified=verified)


def render_contact(kb: KnowledgeBase, locality_id: Optional[str] = None) -> str:
    """Where to ask a person when the assistant cannot help (fallback ladder, before handoff exists)."""
    locality = _locality(kb, locality_id)
    if locality and locality.contact:
        return _fill(kb, "contact.local", locality_name=locality.short_name, contact=locality.contact)
    return _fill(kb, "contact.default")


def render_all_aspects(kb: KnowledgeBase, program_id: str, locality_id: Optional[str] = None) -> Dict[str, Answer]:
    """Every aspect's answer of one programme (the editor's preview), overview first."""
    return {aid: render_answer(kb, program_id, aid, locality_id) for aid in kb.aspects}
