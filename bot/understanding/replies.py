"""Replies built from a second reading: recommendations for a situation, referrals, a place with no local rule,
"can I get both", and a second question asked in the same message. Texts come from ``replies`` in
``knowledge/understanding.yml``; the programme and service names from the knowledge base."""
from __future__ import annotations

import string
from typing import Dict, List, Mapping, Optional, Sequence

from bot.knowledge.answers import Answer, payload
from bot.knowledge.loader import KnowledgeBase
from bot.understanding.lexicon import Lexicon, Referral, Situation


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def fill(lex: Lexicon, key: str, **values: str) -> str:
    return string.Formatter().vformat(lex.replies.get(key, ""), (), _Blank(values)).strip()


def _human_button(lex: Lexicon) -> Dict[str, str]:
    return {"title": fill(lex, "human_button"), "payload": "/request_human"}


def recommend(kb: KnowledgeBase, lex: Lexicon, situations: Sequence[Situation],
              service_names: Mapping[str, str], offer_person: bool = True) -> Answer:
    """One line per fitting programme or service saying why, a button to learn more or book each, and a person
    (unless one is being fetched anyway: ``offer_person`` False)."""
    if not situations:
        return Answer(text=fill(lex, "recommend_none"), buttons=[_human_button(lex)])
    lines = [fill(lex, "recommend_intro")]
    buttons: List[Dict[str, str]] = []
    for s in situations:
        if s.kind == "program" and s.entry_id in kb.programs:
            name = kb.programs[s.entry_id].short_name
            buttons.append({"title": fill(lex, "recommend_program_button", name=name),
                            "payload": payload("ask_overview", program=s.entry_id)})
        elif s.kind == "service" and s.entry_id in service_names:
            name = service_names[s.entry_id]
            buttons.append({"title": fill(lex, "recommend_service_button", name=name),
                            "payload": payload("book_service", service=s.entry_id)})
        else:
            continue
        lines.append(fill(lex, "recommend_line", name=name, why=s.why))
    if offer_person:
        lines.append(fill(lex, "recommend_outro"))
        buttons.append(_human_button(lex))
    return Answer(text="\n".join(lines), buttons=buttons)


def referral(lex: Lexicon, found: Referral) -> Answer:
    frame = "referral_civil_affairs" if found.civil_affairs else "referral"
    text = "\n".join([fill(lex, frame, topic=found.topic, office=found.office), fill(lex, "referral_more")])
    return Answer(text=text, buttons=[{"title": fill(lex, "ask_policy_button"), "payload": "/ask_overview"},
                                      _human_button(lex)])


def no_local_rule(lex: Lexicon, place: str) -> str:
    return fill(lex, "no_local_rule", place=place)


def combine(kb: KnowledgeBase, lex: Lexicon, first: str, second: str) -> Optional[Answer]:
    """Whether two programmes can be received together: a sourced rule when we have one, else said plainly."""
    if first not in kb.programs or second not in kb.programs:
        return None
    a, b = kb.programs[first], kb.programs[second]
    rule = next((c for c in lex.combinations if set(c.programs) == {first, second}), None)
    if rule is not None:
        text = fill(lex, "combine_known", first=a.short_name, second=b.short_name, answer=rule.answer,
                    source=rule.source)
    else:
        text = fill(lex, "combine_unknown", first=a.short_name, second=b.short_name)
    buttons = [{"title": fill(lex, "combine_button", name=p.short_name),
                "payload": payload("ask_overview", program=p.id)} for p in (a, b)]
    return Answer(text=text, buttons=buttons + [_human_button(lex)], program_id=first)


def offer_more_questions(kb: KnowledgeBase, lex: Lexicon, answer: Answer, program_id: str, aspects: Sequence[str],
                         locality_id: Optional[str], maybe: Sequence[str] = ()) -> Answer:
    """Puts the other aspects asked in the same message first among the buttons, in the order asked, and says so;
    then the ``maybe`` asked ones (the classifier heard them, the words did not say them), without saying so."""
    specs = [kb.aspects[a] for a in aspects if a in kb.aspects]
    guessed = [kb.aspects[a] for a in maybe if a in kb.aspects and a not in aspects]
    if not specs and not guessed:
        return answer
    first = [{"title": spec.button, "payload": payload(spec.intent, program=program_id, locality=locality_id)}
             for spec in specs + guessed]
    taken = {b["payload"] for b in first}
    buttons = first + [b for b in answer.buttons if b.get("payload") not in taken]
    text = answer.text if not specs else answer.text + "\n" + fill(
        lex, "second_question", aspect_label="”“".join(spec.label for spec in specs))
    return Answer(text=text, buttons=buttons[:max(len(answer.buttons), len(first)) + 1], program_id=answer.program_id,
                  aspect=answer.aspect, locality_id=answer.locality_id, verified=answer.verified)
