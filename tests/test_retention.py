"""`python -m bot retention run`: old conversations in a real tracker store and old rows in a real migrated
database are deleted or anonymised; recent ones are kept. Runs on SQLite, and on PostgreSQL when
HUIMIN_TEST_POSTGRES_URL is set (the `db_url` fixture)."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
DAY = 86400


def _tracker_url(db_url: str, tmp_path: Path) -> str:
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'tracker.db'}"
    # A fresh tracker database next to the application one on the same PostgreSQL server.
    from conftest import _postgres_database

    return _postgres_database(db_url.replace("postgresql+asyncpg://", "postgresql://"))


def _save_conversation(store, sender: str, started: float, texts, gap: float = 10) -> None:
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    events = [ActionExecuted("action_listen", timestamp=started)]
    for i, text in enumerate(texts):
        at = started + gap * i
        events += [UserUttered(text, {"name": "greet", "confidence": 1.0}, timestamp=at),
                   BotUttered("您好", timestamp=at + 1), ActionExecuted("action_listen", timestamp=at + 2)]
    asyncio.run(store.save(DialogueStateTracker.from_events(sender, events)))


def _stored_senders(tracker_url: str):
    engine = sa.create_engine(tracker_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT DISTINCT sender_id FROM events")).scalars().all()
    engine.dispose()
    return set(rows)


async def _seed(url: str, now: dt.datetime) -> None:
    from bot.applications.models import VerificationAttempt, VerificationCounter
    from bot.booking.models import Booking, BookingContact
    from bot.channels.models import WeChatChoice, WeChatSeen, WeChatUndelivered
    from bot.console.models import AuditEntry, LoginSession, User
    from bot.db import session_scope
    from bot.handoff.models import StaffMessage, Ticket

    # Older than every default period (the longest, audit records, is 1095 days).
    old, recent = now - dt.timedelta(days=1200), now - dt.timedelta(days=3)
    utc = dt.timezone.utc
    epoch_now = int(now.replace(tzinfo=utc).timestamp())

    def ticket(conv, status, closed):
        at = (closed or recent).replace(tzinfo=utc)
        return Ticket(conversation_id=conv, channel="socketio", office="community", reason="requested", priority=2,
                      summary=f"{conv} 想问低保", context="dibao", status=status, created_at=at, updated_at=at,
                      closed_at=closed.replace(tzinfo=utc) if closed else None, outcome="已解答" if closed else None,
                      last_resident_text="谢谢", resident_messages=1)

    def booking(code, start, status="booked", cancelled_at=None):
        return Booking(code=code, service_id="meal", mode="site", site_id="s1", start=start,
                       end=start + dt.timedelta(hours=1), person="张阿姨", address="幸福路1号",
                       phone_masked="138****8001", phone_hash="h" * 64, phone_cipher=f"cipher-{code}",
                       conversation_id=f"conv-{code}",
                       status=status, idempotency_key=f"k-{code}", created_at=start - dt.timedelta(days=1),
                       updated_at=cancelled_at or start, cancelled_at=cancelled_at)

    async with session_scope(url) as s:
        tickets = [ticket("old-closed", "closed", old), ticket("recent-closed", "closed", recent),
                   ticket("old-open", "waiting", None)]
        # An open ticket created long ago is still being handled: it must survive whatever its age.
        tickets[2].created_at = tickets[2].updated_at = old.replace(tzinfo=utc)
        s.add_all(tickets)
        s.add_all([booking("YYOLD1", old), booking("YYNEW1", now + dt.timedelta(days=2)),
                   booking("YYCAN1", now + dt.timedelta(days=30), "cancelled", old),
                   booking("YYCAN2", now + dt.timedelta(days=30), "cancelled", recent)])
        # Encrypted booking mobiles kept per conversation follow the conversation's period (180 days).
        s.add_all([BookingContact(conversation_id="old-conv", phone_hash="o" * 64, ciphertext="old-cipher",
                                  created_at=now - dt.timedelta(days=200)),
                   BookingContact(conversation_id="new-conv", phone_hash="n" * 64, ciphertext="new-cipher",
                                  created_at=recent)])
        s.add_all([AuditEntry(at=old.replace(tzinfo=utc), user_name="staff1", action="reveal", target="old"),
                   AuditEntry(at=recent.replace(tzinfo=utc), user_name="staff1", action="reveal", target="recent")])
        s.add_all([VerificationAttempt(application_no="MZOLD", conversation_hash="c", factor="phone",
                                       outcome="failed", created_at=old),
                   VerificationAttempt(application_no="MZNEW", conversation_hash="c", factor="phone",
                                       outcome="ok", created_at=recent),
                   VerificationCounter(key="app:MZOLD", failures=1, window_started_at=old),
                   VerificationCounter(key="app:MZNEW", failures=1, window_started_at=recent)])
        s.add_all([WeChatSeen(key="old", expires_at=epoch_now - 3 * DAY),
                   WeChatSeen(key="fresh", expires_at=epoch_now + 60),
                   WeChatChoice(openid="o-old", payloads="[]", expires_at=epoch_now - 3 * DAY),
                   WeChatChoice(openid="o-new", payloads="[]", expires_at=epoch_now + 600),
                   WeChatUndelivered(openid="o-old", body="{}", reason="48h", created_at=old.replace(tzinfo=utc)),
                   WeChatUndelivered(openid="o-new", body="{}", reason="48h", created_at=recent.replace(tzinfo=utc))])
        user = User(name="retention-staff", role="staff", password_hash="x", created_at=old.replace(tzinfo=utc))
        s.add(user)
        await s.flush()
        s.add_all([LoginSession(id="old-session", user_id=user.id, csrf_token="c", created_at=old.replace(tzinfo=utc),
                                last_seen_at=old.replace(tzinfo=utc)),
                   LoginSession(id="new-session", user_id=user.id, csrf_token="c",
                                created_at=recent.replace(tzinfo=utc), last_seen_at=recent.replace(tzinfo=utc))])
        await s.flush()
        s.add_all([StaffMessage(ticket_id=t.id, author="staff1", text=f"{t.conversation_id} 您好", status="delivered",
                                attempts=1, created_at=(old if t.conversation_id.startswith("old") else recent)
                                .replace(tzinfo=utc)) for t in tickets])


def _rows(url: str, sql: str):
    from bot.db import to_sync_url

    engine = sa.create_engine(to_sync_url(url))
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.text(sql))]
    engine.dispose()
    return rows


def _retention(db_url: str, tracker_url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), HUIMIN_DATABASE_URL=db_url, HUIMIN_TRACKER_DB_URL=tracker_url,
                    **env)
    return subprocess.run([sys.executable, "-m", "bot", "retention", "run", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=300)


def test_retention_run_expires_old_data_and_keeps_recent(db_url, tmp_path):
    from bot.rasa.tracker_store import HuiminTrackerStore

    now = dt.datetime.utcnow()
    tracker_url = _tracker_url(db_url, tmp_path)
    store = HuiminTrackerStore(url=tracker_url)
    _save_conversation(store, "old-conv", time.time() - 200 * DAY, ["你好", "低保"])
    # Started long ago but still talking: a conversation expires as a whole, by its newest message.
    _save_conversation(store, "long-conv", time.time() - 300 * DAY, ["你好", "还在吗"], gap=299 * DAY)
    _save_conversation(store, "new-conv", time.time() - 2 * DAY, ["你好"])
    asyncio.run(_seed(db_url, now))

    dry = _retention(db_url, tracker_url, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "conversations: would remove 1" in dry.stdout
    assert _stored_senders(tracker_url) == {"old-conv", "long-conv", "new-conv"}, "a dry run changed data"

    done = _retention(db_url, tracker_url)
    assert done.returncode == 0, done.stderr
    assert _stored_senders(tracker_url) == {"long-conv", "new-conv"}

    # Closed old ticket: kept for statistics, personal content gone; its staff messages deleted.
    tickets = dict((r[0], r[1:]) for r in _rows(
        db_url,
        "SELECT id, conversation_id, summary, outcome, last_resident_text, reason, status FROM handoff_tickets"))
    anonymised = [v for v in tickets.values() if v[0] == ""]
    assert len(anonymised) == 1 and anonymised[0][1:4] == ("", None, None) and anonymised[0][4:] == ("requested",
                                                                                                   "closed")
    assert {v[0] for v in tickets.values()} == {"", "recent-closed", "old-open"}
    assert sorted(r[0] for r in _rows(db_url, "SELECT text FROM handoff_messages")) == [
        "old-open 您好", "recent-closed 您好"]

    bookings = {r[0]: r[1:] for r in _rows(
        db_url, "SELECT code, person, address, phone_masked, phone_hash, conversation_id, service_id, phone_cipher "
                "FROM bookings")}
    for code in ("YYOLD1", "YYCAN1"):
        assert bookings[code] == ("", None, "", "", None, "meal", None), code
    for code in ("YYNEW1", "YYCAN2"):
        assert bookings[code][:2] == ("张阿姨", "幸福路1号") and bookings[code][3] == "h" * 64, code
        assert bookings[code][6] == f"cipher-{code}", code
    assert _rows(db_url, "SELECT ciphertext FROM booking_contacts") == [("new-cipher",)]

    assert _rows(db_url, "SELECT target FROM console_audit") == [("recent",)]
    assert _rows(db_url, "SELECT application_no FROM verification_attempts") == [("MZNEW",)]
    assert _rows(db_url, "SELECT key FROM verification_counters") == [("app:MZNEW",)]
    assert _rows(db_url, "SELECT key FROM wechat_seen") == [("fresh",)]
    assert _rows(db_url, "SELECT openid FROM wechat_choices") == [("o-new",)]
    assert _rows(db_url, "SELECT openid FROM wechat_undelivered") == [("o-new",)]
    assert _rows(db_url, "SELECT id FROM console_sessions") == [("new-session",)]

    # The next daily run finds nothing new (anonymised rows are not counted again).
    again = _retention(db_url, tracker_url)
    assert again.returncode == 0, again.stderr
    assert all(line.endswith(" 0") for line in again.stdout.strip().splitlines()), again.stdout


def test_retention_periods_come_from_the_environment(db_url, tmp_path):
    from bot.rasa.tracker_store import HuiminTrackerStore

    tracker_url = _tracker_url(db_url, tmp_path)
    store = HuiminTrackerStore(url=tracker_url)
    _save_conversation(store, "week-old", time.time() - 8 * DAY, ["你好"])
    asyncio.run(_seed(db_url, dt.datetime.utcnow()))

    kept = _retention(db_url, tracker_url)  # defaults: 180 days of conversations, 1095 of audit records
    assert kept.returncode == 0, kept.stderr
    assert _stored_senders(tracker_url) == {"week-old"}
    assert _rows(db_url, "SELECT target FROM console_audit") == [("recent",)]

    short = _retention(db_url, tracker_url, HUIMIN_RETENTION_CONVERSATION_DAYS="7", HUIMIN_RETENTION_AUDIT_DAYS="1")
    assert short.returncode == 0, short.stderr
    assert _stored_senders(tracker_url) == set()
    assert _rows(db_url, "SELECT id FROM console_audit") == []

    bad = _retention(db_url, tracker_url, HUIMIN_RETENTION_BOOKING_DAYS="a year")
    assert bad.returncode == 2 and "HUIMIN_RETENTION_BOOKING_DAYS" in bad.stderr and "Traceback" not in bad.stderr
