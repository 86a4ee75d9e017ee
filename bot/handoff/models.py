"""Handoff tickets and the staff messages sent through them."""
from __future__ import annotations

import sqlalchemy as sa

from bot.db import Base

REASONS = ("requested", "repeated_misunderstanding", "complaint", "emergency")
# Lower number = served first.
PRIORITY = {"emergency": 0, "complaint": 1, "repeated_misunderstanding": 2, "requested": 2}
STATUSES = ("waiting", "active", "closed")


class Ticket(Base):
    __tablename__ = "handoff_tickets"

    id = sa.Column(sa.Integer, primary_key=True)
    conversation_id = sa.Column(sa.String(128), nullable=False, index=True)
    channel = sa.Column(sa.String(32), nullable=False, default="")
    office = sa.Column(sa.String(64), nullable=False, default="")
    reason = sa.Column(sa.String(32), nullable=False)
    priority = sa.Column(sa.Integer, nullable=False)
    summary = sa.Column(sa.Text, nullable=False, default="")
    context = sa.Column(sa.Text, nullable=False, default="")  # programme/service being discussed
    status = sa.Column(sa.String(16), nullable=False, index=True)
    assignee = sa.Column(sa.String(64), nullable=True)
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False)
    claimed_at = sa.Column(sa.DateTime(timezone=True), nullable=True)
    handed_back_at = sa.Column(sa.DateTime(timezone=True), nullable=True)
    closed_at = sa.Column(sa.DateTime(timezone=True), nullable=True)
    outcome = sa.Column(sa.Text, nullable=True)
    # Resident activity seen by the console's tracker watcher (near-real-time queue updates).
    resident_messages = sa.Column(sa.Integer, nullable=False, default=0)
    last_resident_text = sa.Column(sa.Text, nullable=True)
    last_resident_at = sa.Column(sa.DateTime(timezone=True), nullable=True)
    updated_at = sa.Column(sa.DateTime(timezone=True), nullable=False, index=True)


class StaffMessage(Base):
    __tablename__ = "handoff_messages"

    id = sa.Column(sa.Integer, primary_key=True)
    ticket_id = sa.Column(sa.Integer, sa.ForeignKey("handoff_tickets.id", ondelete="CASCADE"), nullable=False,
                          index=True)
    author = sa.Column(sa.String(64), nullable=False)
    text = sa.Column(sa.Text, nullable=False)
    status = sa.Column(sa.String(16), nullable=False)  # pending / delivered / failed
    error = sa.Column(sa.Text, nullable=True)
    attempts = sa.Column(sa.Integer, nullable=False, default=0)
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False)
    delivered_at = sa.Column(sa.DateTime(timezone=True), nullable=True)


class Callback(Base):
    """A call-back number a resident left while the office was closed: encrypted with a key derived from the
    server secret (bot.handoff.callbacks), deleted after the retention period, revealed only with an audit."""
    __tablename__ = "handoff_callbacks"

    id = sa.Column(sa.Integer, primary_key=True)
    ticket_id = sa.Column(sa.Integer, sa.ForeignKey("handoff_tickets.id", ondelete="CASCADE"), nullable=True)
    conversation_id = sa.Column(sa.String(128), nullable=False, index=True)
    masked = sa.Column(sa.String(32), nullable=False)
    ciphertext = sa.Column(sa.Text, nullable=False)
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, index=True)
