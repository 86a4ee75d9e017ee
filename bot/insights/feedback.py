"""Residents' 有用/没用 on a knowledge answer: which answer it is (read from the tracker store, so the chat page
needs no knowledge of programmes), and storing the vote with programme, aspect, locality and model.

A vote is keyed by (conversation, answer event): voting again replaces the earlier vote. The conversation id
itself is not stored, only a keyed hash; the optional "缺了什么" text is masked like everything else.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from typing import List, Optional

import sqlalchemy as sa

from bot.db import session_scope
from bot.insights.models import Feedback
from bot.insights.tracker import Event, Turn, TrackerReader, channel_of, is_typed, turns
from bot.privacy import keyed_hash, redact_text
from bot.settings import get_settings

MISSING_MAX = 500


def _locality(events: List[Event], upto: int) -> Optional[str]:
    value = None
    for e in events:
        if e.id > upto:
            break
        if e.type_name == "slot" and e.data.get("name") == "locality":
            value = e.data.get("value")
    return value if isinstance(value, str) and value else (get_settings().locality or None)


def _question_id(all_turns: List[Turn], turn: Turn) -> Optional[int]:
    """The typed question an answer belongs to: the turn's own message, or (after a picker click) the last
    typed message before it."""
    for t in reversed(all_turns[: all_turns.index(turn) + 1]):
        if is_typed(t.text):
            return t.user.id
    return None


def describe(events: List[Event], turn: Turn, all_turns: List[Turn]) -> Optional[dict]:
    answer = turn.answer_event()
    if answer is None:
        return None
    slots = turn.slots()
    return {"answer_id": answer.id, "question_id": _question_id(all_turns, turn),
            "program": slots.get("program") if isinstance(slots.get("program"), str) else None,
            "aspect": slots.get("aspect") if isinstance(slots.get("aspect"), str) else None,
            "locality": _locality(events, answer.id), "model_id": turn.model_id,
            "text_start": str(answer.data.get("text") or "")[:40], "channel": channel_of(answer.sender_id)}


def latest_answer(reader: TrackerReader, sender_id: str) -> Optional[dict]:
    """The knowledge answer of the conversation's latest turn, if that turn was one (synchronous)."""
    events = reader.conversation_tail(sender_id)
    all_turns = list(turns(events))
    if not all_turns:
        return None
    return describe(events, all_turns[-1], all_turns)


def find_answer(reader: TrackerReader, sender_id: str, answer_id: int) -> Optional[dict]:
    """The knowledge answer ``answer_id`` of this conversation (synchronous), or None."""
    events = reader.conversation_tail(sender_id, limit=400)
    all_turns = list(turns(events))
    for t in all_turns:
        answer = t.answer_event()
        if answer is not None and answer.id == answer_id:
            return describe(events, t, all_turns)
    return None


async def given(db_url: Optional[str], sender_id: str, answer_id: int) -> Optional[bool]:
    async with session_scope(db_url) as s:
        return (await s.execute(sa.select(Feedback.helpful).where(
            Feedback.conversation_hash == keyed_hash(sender_id, "feedback"),
            Feedback.answer_event_id == answer_id))).scalar()


async def store(db_url: Optional[str], reader: TrackerReader, sender_id: str, answer_id: int, helpful: bool,
                missing: Optional[str] = None) -> Optional[dict]:
    """Store (or replace) the vote; None when ``answer_id`` is no knowledge answer of this conversation."""
    loop = asyncio.get_running_loop()
    target = await loop.run_in_executor(None, find_answer, reader, sender_id, answer_id)
    if target is None:
        return None
    missing = redact_text(missing.strip()[:MISSING_MAX]) if isinstance(missing, str) and missing.strip() else None
    conv = keyed_hash(sender_id, "feedback")
    async with session_scope(db_url) as s:
        row = (await s.execute(sa.select(Feedback).where(Feedback.conversation_hash == conv,
                                                         Feedback.answer_event_id == answer_id))).scalar()
        if row is None:
            row = Feedback(conversation_hash=conv, answer_event_id=answer_id)
            s.add(row)
        row.created_at = dt.datetime.now(dt.timezone.utc)
        row.question_event_id = target["question_id"]
        row.channel, row.helpful = target["channel"], bool(helpful)
        if missing is not None or helpful:
            row.missing = missing
        row.program, row.aspect, row.locality = target["program"], target["aspect"], target["locality"]
        row.model_id = target["model_id"]
    return {**target, "helpful": bool(helpful)}


async def for_program(db_url: Optional[str], program: str, limit: int = 20) -> dict:
    """Votes on one programme's answers, per aspect, and the latest "缺了什么" notes (for the editor)."""
    async with session_scope(db_url) as s:
        rows = (await s.execute(sa.select(Feedback.aspect, Feedback.helpful, sa.func.count())
                                .where(Feedback.program == program)
                                .group_by(Feedback.aspect, Feedback.helpful))).all()
        notes = (await s.execute(sa.select(Feedback.aspect, Feedback.missing, Feedback.created_at)
                                 .where(Feedback.program == program, Feedback.missing.isnot(None))
                                 .order_by(Feedback.id.desc()).limit(limit))).all()
    aspects: dict = {}
    for aspect, ok, n in rows:
        a = aspects.setdefault(aspect or "", {"aspect": aspect, "helpful": 0, "unhelpful": 0})
        a["helpful" if ok else "unhelpful"] += n
    return {"program": program, "aspects": list(aspects.values()),
            "notes": [{"aspect": a, "missing": m, "at": t.isoformat() if t else None} for a, m, t in notes]}
