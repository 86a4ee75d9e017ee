"""Apply the retention policies: whole conversations in the tracker store, then application tables."""
from __future__ import annotations

import datetime as dt
import os
import time
from typing import Dict, Iterable, Optional

import sqlalchemy as sa

from bot.db import to_sync_url
from bot.retention.policies import CONVERSATION_DAYS_ENV, CONVERSATION_DEFAULT_DAYS, POLICIES, Policy
from bot.settings import get_settings


def _missing_sqlite_file(url: str) -> bool:
    """A SQLite database that was never created holds nothing to expire (and must not be created here)."""
    if not url.startswith("sqlite"):
        return False
    path = url.split(":///", 1)[1]
    return bool(path) and not os.path.exists(path)


def expire_conversations(tracker_db_url: str, days: int, now: Optional[float] = None, dry_run: bool = False) -> int:
    """Delete every conversation whose newest event is older than ``days`` (Rasa's `events` table).

    Whole conversations go together, so no tracker is left with a history that starts mid-way.
    """
    cutoff = (now or time.time()) - days * 86400
    if _missing_sqlite_file(tracker_db_url):
        return 0
    engine = sa.create_engine(to_sync_url(tracker_db_url))
    try:
        with engine.begin() as conn:
            if not sa.inspect(conn).has_table("events"):
                return 0
            stale = sa.text("SELECT sender_id FROM events GROUP BY sender_id HAVING MAX(timestamp) < :cutoff")
            senders = [row[0] for row in conn.execute(stale, {"cutoff": cutoff})]
            if senders and not dry_run:
                events = sa.table("events", sa.column("sender_id"))
                for i in range(0, len(senders), 500):
                    conn.execute(sa.delete(events).where(events.c.sender_id.in_(senders[i:i + 500])))
            return len(senders)
    finally:
        engine.dispose()


def _cutoff(column: sa.Column, policy: Policy, now: dt.datetime):
    """The cutoff in the column's own terms: Unix seconds, an aware UTC time (PostgreSQL timestamptz) or a
    naive UTC time (naive columns and SQLite, which stores both as the same text)."""
    cutoff = now - dt.timedelta(days=policy.days())
    if policy.epoch:
        return int(cutoff.replace(tzinfo=dt.timezone.utc).timestamp())
    if getattr(column.type, "timezone", False):
        return cutoff.replace(tzinfo=dt.timezone.utc)
    return cutoff


def _not_yet_anonymised(table: sa.Table, values: Dict[str, object]):
    """Rows already blanked are not counted (or rewritten) again on the next daily run."""
    pending = []
    for name, value in values.items():
        col = table.c[name]
        pending.append(col.isnot(None) if value is None else sa.and_(col.isnot(None), col != value))
    return sa.or_(*pending)


def apply_policies(database_url: str, now: Optional[dt.datetime] = None, dry_run: bool = False,
                   policies: Iterable[Policy] = POLICIES) -> Dict[str, int]:
    """``now`` is naive UTC. Returns the number of rows deleted/anonymised (or that would be) per policy."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    counts: Dict[str, int] = {}
    if _missing_sqlite_file(database_url):
        return counts
    engine = sa.create_engine(to_sync_url(database_url))
    try:
        with engine.begin() as conn:
            inspector = sa.inspect(conn)
            for policy in policies:
                if not inspector.has_table(policy.table):
                    continue
                table = sa.Table(policy.table, sa.MetaData(), autoload_with=conn)
                column = table.c[policy.timestamp_column]
                condition = sa.and_(column.isnot(None), column < _cutoff(column, policy, now))
                if policy.where:
                    condition = sa.and_(condition, sa.text(policy.where))
                if policy.anonymise:
                    condition = sa.and_(condition, _not_yet_anonymised(table, policy.anonymise))
                if dry_run:
                    stmt = sa.select(sa.func.count()).select_from(table).where(condition)
                    counts[policy.name] = conn.execute(stmt).scalar() or 0
                elif policy.anonymise:
                    counts[policy.name] = conn.execute(
                        sa.update(table).where(condition).values(**policy.anonymise)).rowcount
                else:
                    counts[policy.name] = conn.execute(sa.delete(table).where(condition)).rowcount
    finally:
        engine.dispose()
    return counts


def run(dry_run: bool = False) -> Dict[str, int]:
    settings = get_settings()
    days = Policy("conversations", "events", "timestamp", CONVERSATION_DAYS_ENV, CONVERSATION_DEFAULT_DAYS).days()
    counts = {"conversations": expire_conversations(settings.tracker_db_url, days, dry_run=dry_run)}
    counts.update(apply_policies(settings.database_url, dry_run=dry_run))
    return counts
