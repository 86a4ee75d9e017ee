"""Insights tables: resident messages as classified from the tracker store (text already masked there), their
similarity groups, residents' feedback on answers, editors' "needs new content" tasks, and the reader's
position in the tracker store. No conversation id is stored: nothing here links back to a person."""
from __future__ import annotations

import sqlalchemy as sa

from bot.db import Base

TZ = sa.DateTime(timezone=True)


class ReaderState(Base):
    """Where the incremental reader stopped (``last_event_id`` of the tracker store's ``events`` table)."""
    __tablename__ = "insights_state"

    key = sa.Column(sa.String(64), primary_key=True)
    value = sa.Column(sa.String(255), nullable=False)


class Message(Base):
    """One typed resident message (button payloads are not questions) and how the assistant dealt with it."""
    __tablename__ = "insights_messages"

    id = sa.Column(sa.Integer, primary_key=True)
    event_id = sa.Column(sa.BigInteger, nullable=False, unique=True)   # the user event's id in the tracker store
    at = sa.Column(TZ, nullable=False, index=True)
    week = sa.Column(sa.String(10), nullable=False, index=True)        # ISO week, e.g. 2026-W49
    channel = sa.Column(sa.String(16), nullable=False)                 # web / wechat
    text = sa.Column(sa.Text, nullable=False)                          # exactly as stored (masked) in the tracker
    intent = sa.Column(sa.String(100), nullable=True)
    confidence = sa.Column(sa.Float, nullable=True)
    outcome = sa.Column(sa.String(16), nullable=False)                 # answered/clarified/fallback/handover
    unhelpful = sa.Column(sa.Boolean, nullable=False, default=False)
    program = sa.Column(sa.String(128), nullable=True)
    aspect = sa.Column(sa.String(64), nullable=True)
    model_id = sa.Column(sa.String(64), nullable=True)
    group_id = sa.Column(sa.Integer, nullable=True, index=True)


class Group(Base):
    """Similar messages that were not answered: one row for many ways of asking one thing."""
    __tablename__ = "insights_groups"

    id = sa.Column(sa.Integer, primary_key=True)
    label = sa.Column(sa.Text, nullable=False)                         # the first message of the group
    first_seen = sa.Column(TZ, nullable=False)
    last_seen = sa.Column(TZ, nullable=False, index=True)
    action = sa.Column(sa.String(32), nullable=True)                   # examples/alias/situation/out_of_scope/task
    action_detail = sa.Column(sa.Text, nullable=True)                  # JSON: entry, aspect, texts
    acted_by = sa.Column(sa.String(64), nullable=True)
    acted_at = sa.Column(TZ, nullable=True)
    replay_model = sa.Column(sa.String(255), nullable=True)            # the model the last replay ran against
    replay_at = sa.Column(TZ, nullable=True)
    replay_total = sa.Column(sa.Integer, nullable=True)
    replay_answered = sa.Column(sa.Integer, nullable=True)


class Feedback(Base):
    """有用/没用 on one knowledge answer; ``missing`` is the resident's optional "缺了什么" (masked)."""
    __tablename__ = "insights_feedback"
    __table_args__ = (sa.UniqueConstraint("conversation_hash", "answer_event_id", name="uq_insights_feedback"),)

    id = sa.Column(sa.Integer, primary_key=True)
    created_at = sa.Column(TZ, nullable=False, index=True)
    conversation_hash = sa.Column(sa.String(64), nullable=False)       # keyed hash: one vote per answer
    answer_event_id = sa.Column(sa.BigInteger, nullable=False)
    question_event_id = sa.Column(sa.BigInteger, nullable=True)
    channel = sa.Column(sa.String(16), nullable=False)
    helpful = sa.Column(sa.Boolean, nullable=False)
    missing = sa.Column(sa.Text, nullable=True)
    program = sa.Column(sa.String(128), nullable=True)
    aspect = sa.Column(sa.String(64), nullable=True)
    locality = sa.Column(sa.String(64), nullable=True)
    model_id = sa.Column(sa.String(64), nullable=True)


class Task(Base):
    """"Needs new content": a to-do in the editor, written by an editor (no resident data besides the group)."""
    __tablename__ = "insights_tasks"

    id = sa.Column(sa.Integer, primary_key=True)
    group_id = sa.Column(sa.Integer, nullable=True)
    title = sa.Column(sa.String(255), nullable=False)
    note = sa.Column(sa.Text, nullable=True)
    status = sa.Column(sa.String(16), nullable=False, default="open")  # open / done
    created_by = sa.Column(sa.String(64), nullable=False)
    created_at = sa.Column(TZ, nullable=False)
    done_at = sa.Column(TZ, nullable=True)
