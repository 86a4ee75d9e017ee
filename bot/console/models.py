"""Console accounts, login sessions and the audit log."""
from __future__ import annotations

import sqlalchemy as sa

from bot.db import Base

# "importer" may upload application records (verification factors included) and nothing else; admin may too.
ROLES = ("staff", "editor", "importer", "admin")


class User(Base):
    __tablename__ = "console_users"

    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(64), nullable=False, unique=True)
    role = sa.Column(sa.String(16), nullable=False)
    password_hash = sa.Column(sa.String(255), nullable=False)
    active = sa.Column(sa.Boolean, nullable=False, default=True)
    failed_logins = sa.Column(sa.Integer, nullable=False, default=0)
    locked_until = sa.Column(sa.DateTime(timezone=True), nullable=True)
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False)
    last_login_at = sa.Column(sa.DateTime(timezone=True), nullable=True)


class LoginSession(Base):
    """Server-side sessions, so that logout (and disabling a user) takes effect at once."""
    __tablename__ = "console_sessions"

    id = sa.Column(sa.String(64), primary_key=True)
    user_id = sa.Column(sa.Integer, sa.ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False, index=True)
    csrf_token = sa.Column(sa.String(64), nullable=False)
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False)
    last_seen_at = sa.Column(sa.DateTime(timezone=True), nullable=False)


class AuditEntry(Base):
    """Who saw or did what to whose data, and when (reveals of ID/phone numbers, cancellations, …)."""
    __tablename__ = "console_audit"

    id = sa.Column(sa.Integer, primary_key=True)
    at = sa.Column(sa.DateTime(timezone=True), nullable=False, index=True)
    user_name = sa.Column(sa.String(64), nullable=False)
    action = sa.Column(sa.String(64), nullable=False)
    target = sa.Column(sa.String(128), nullable=False)
    detail = sa.Column(sa.Text, nullable=True)


class LoginFailure(Base):
    """Failed logins per account *and* client address: a stranger's guesses lock only the stranger out.

    ``strikes`` counts locks in a row; each lock lasts twice as long as the one before (back-off)."""
    __tablename__ = "console_login_failures"

    key = sa.Column(sa.String(160), primary_key=True)  # "<user name>|<keyed hash of the address>"
    user_name = sa.Column(sa.String(64), nullable=False, index=True)
    failures = sa.Column(sa.Integer, nullable=False, default=0)
    strikes = sa.Column(sa.Integer, nullable=False, default=0)
    locked_until = sa.Column(sa.DateTime(timezone=True), nullable=True)
    updated_at = sa.Column(sa.DateTime(timezone=True), nullable=False, index=True)
