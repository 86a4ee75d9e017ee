"""Tables of application records.

No full ID or phone number is ever stored: verification uses keyed hashes (``bot.privacy.keyed_hash`` with the
server secret), display uses the masked forms. The applicant's name is stored masked, plus a keyed hash so a
re-import can tell that the name changed.
"""
from __future__ import annotations

import sqlalchemy as sa

from bot.db import Base

# Purposes of the keyed hashes (kept apart so an ID hash can never be compared with a phone hash).
HASH_ID = "application.id_number"
HASH_ID_LAST6 = "application.id_last6"
HASH_PHONE = "application.phone"
HASH_NAME = "application.name"


class Application(Base):
    __tablename__ = "applications"

    id = sa.Column(sa.Integer, primary_key=True)
    # Canonical form: upper case, ASCII, letters and digits only (bot.applications.numbers.canonical_application_no).
    application_no = sa.Column(sa.String(40), nullable=False, unique=True)
    program_id = sa.Column(sa.String(80), nullable=False)
    name_masked = sa.Column(sa.String(80), nullable=False)
    name_hash = sa.Column(sa.String(64), nullable=False)
    id_hash = sa.Column(sa.String(64), nullable=False)
    id_last6_hash = sa.Column(sa.String(64), nullable=False)
    id_masked = sa.Column(sa.String(18), nullable=False)
    phone_hash = sa.Column(sa.String(64), nullable=False)
    phone_masked = sa.Column(sa.String(11), nullable=False)
    status = sa.Column(sa.String(32), nullable=False)
    submitted_at = sa.Column(sa.DateTime, nullable=False)
    # When the welfare system last changed the record (from the export), local time as exported.
    updated_at = sa.Column(sa.DateTime, nullable=False)
    note = sa.Column(sa.Text, nullable=False, default="")
    imported_at = sa.Column(sa.DateTime, nullable=False)


class ApplicationChange(Base):
    """One changed field of one application, as seen by an import (the status history and everything else)."""

    __tablename__ = "application_changes"

    id = sa.Column(sa.Integer, primary_key=True)
    application_id = sa.Column(sa.Integer, sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=False,
                               index=True)
    # "created", "status", "program_id", "name", "id_number", "phone", "submitted_at", "updated_at", "note"
    field = sa.Column(sa.String(32), nullable=False)
    # Display values only (masked for personal data).
    old_value = sa.Column(sa.Text)
    new_value = sa.Column(sa.Text)
    # When the change happened in the welfare system (the row's updated_at) and when we learnt of it.
    changed_at = sa.Column(sa.DateTime, nullable=False)
    recorded_at = sa.Column(sa.DateTime, nullable=False)
    source = sa.Column(sa.String(300), nullable=False)


class VerificationCounter(Base):
    """Failed second-factor attempts per key ("app:<number>" or "conv:<conversation id>").

    Updated only by single conditional statements (see bot.applications.verification), so that concurrent
    replicas can never let a sixth attempt through.
    """

    __tablename__ = "verification_counters"

    key = sa.Column(sa.String(300), primary_key=True)
    failures = sa.Column(sa.Integer, nullable=False, default=0)
    window_started_at = sa.Column(sa.DateTime, nullable=False)
    locked_until = sa.Column(sa.DateTime)


class VerificationAttempt(Base):
    """Audit trail of verification attempts (never the answer itself)."""

    __tablename__ = "verification_attempts"

    id = sa.Column(sa.Integer, primary_key=True)
    application_no = sa.Column(sa.String(40), nullable=False, index=True)
    conversation_hash = sa.Column(sa.String(64), nullable=False)
    factor = sa.Column(sa.String(16), nullable=False)  # id_last6 | id_number | phone
    outcome = sa.Column(sa.String(16), nullable=False)  # ok | failed | locked
    created_at = sa.Column(sa.DateTime, nullable=False)
