"""Second-factor verification of an application lookup, with lockout.

The resident proves they are the applicant with the last 6 characters of the ID number (or the whole ID
number) or the registered mobile number. An unknown application number and a wrong answer give the same
outcome. After 5 failures for one application number within 30 minutes, or 5 in one conversation, every
attempt is refused for 30 minutes — also the right answer.

Concurrency: an attempt first *reserves* a try on both counters with one conditional UPDATE each
(``failures < 5`` in the WHERE clause, re-checked by the database under its row/table lock), then checks the
answer, then either gives the try back (success) or leaves it counted (failure). However many replicas try
at once, at most 5 tries per counter are ever evaluated.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Awaitable, Callable, List, Optional

import sqlalchemy as sa

from bot.applications.models import (HASH_ID, HASH_ID_LAST6, HASH_PHONE, Application, VerificationAttempt,
                                     VerificationCounter)
from bot.applications.numbers import Answer
from bot.clock import naive_utcnow
from bot.db import session_scope
from bot.privacy import keyed_hash

MAX_FAILURES = 5
APP_WINDOW = timedelta(minutes=30)
# "5 in one conversation": a conversation is at most a day in practice.
CONVERSATION_WINDOW = timedelta(hours=24)
LOCK_DURATION = timedelta(minutes=30)

OK, FAILED, LOCKED = "ok", "failed", "locked"


@dataclass
class Verification:
    outcome: str  # ok | failed | locked
    application: Optional[Application] = None
    # When a refused (or just-locked) resident may try again.
    locked_until: Optional[datetime] = None
    # This failure used up the last try: say so now rather than on the next attempt.
    now_locked: bool = False


def app_key(application_no: str) -> str:
    return f"app:{application_no}"


def conversation_key(conversation_id: str, scope: str = "conv") -> str:
    # The sender id can be a WeChat openid; the counters do not need it in clear.
    return f"{scope}:" + keyed_hash(conversation_id, "verification.conversation")[:40]


def _insert(session, **values):
    dialect = session.bind.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(VerificationCounter).values(**values).on_conflict_do_nothing(index_elements=["key"])


async def _reserve(key: str, window: timedelta, now: datetime, url: Optional[str]) -> bool:
    """Count one try on ``key`` if a try is allowed; False if the key is locked. One atomic UPDATE."""
    T = VerificationCounter.__table__.c
    lock_expired = sa.and_(T.locked_until.isnot(None), T.locked_until <= now)
    window_expired = sa.and_(T.window_started_at <= now - window, T.locked_until.is_(None))
    fresh = sa.or_(lock_expired, window_expired)
    async with session_scope(url) as session:
        await session.execute(_insert(session, key=key, failures=0, window_started_at=now, locked_until=None))
        result = await session.execute(
            sa.update(VerificationCounter.__table__)
            .where(T.key == key, sa.or_(fresh, sa.and_(T.failures < MAX_FAILURES, T.locked_until.is_(None))))
            .values(failures=sa.case((fresh, 1), else_=T.failures + 1),
                    window_started_at=sa.case((fresh, now), else_=T.window_started_at),
                    locked_until=sa.case((fresh, sa.null()), else_=T.locked_until))
            .execution_options(synchronize_session=False))
        return result.rowcount == 1


async def _give_back(key: str, url: Optional[str]) -> None:
    T = VerificationCounter.__table__.c
    async with session_scope(url) as session:
        await session.execute(sa.update(VerificationCounter.__table__).where(T.key == key, T.failures > 0)
                              .values(failures=T.failures - 1).execution_options(synchronize_session=False))


async def _confirm_failure(key: str, now: datetime, url: Optional[str]) -> Optional[datetime]:
    """The reserved try failed: lock the key if that was the last one. Returns the lock's end, if locked."""
    T = VerificationCounter.__table__.c
    until = now + LOCK_DURATION
    async with session_scope(url) as session:
        await session.execute(sa.update(VerificationCounter.__table__)
                              .where(T.key == key, T.failures >= MAX_FAILURES, T.locked_until.is_(None))
                              .values(locked_until=until).execution_options(synchronize_session=False))
        row = (await session.execute(sa.select(T.locked_until).where(T.key == key))).first()
    return row[0] if row and row[0] and row[0] > now else None


async def lock_state(application_no: Optional[str], conversation_id: str, now: Optional[datetime] = None,
                     url: Optional[str] = None, scope: str = "conv") -> Optional[datetime]:
    """Until when further attempts are refused (None: attempts are allowed). Read-only.

    ``application_no`` is the subject being proven (an application number, or ``phone:<hash>`` for a one-time
    code); ``scope`` names the conversation's own counter (status lookups and SMS codes count separately)."""
    now = now or naive_utcnow(whole_seconds=True)
    keys = [conversation_key(conversation_id, scope)] + ([app_key(application_no)] if application_no else [])
    T = VerificationCounter.__table__.c
    async with session_scope(url) as session:
        rows = (await session.execute(sa.select(T.key, T.failures, T.window_started_at, T.locked_until)
                                      .where(T.key.in_(keys)))).all()
    until = None
    for key, failures, started, locked_until in rows:
        if locked_until and locked_until > now:
            end = locked_until
        elif failures >= MAX_FAILURES and not locked_until:
            window = APP_WINDOW if key.startswith("app:") else CONVERSATION_WINDOW
            end = started + window if started + window > now else None
        else:
            end = None
        if end and (until is None or end > until):
            until = end
    return until


async def verified_within(application_no: str, conversation_id: str, window: timedelta,
                          now: Optional[datetime] = None, url: Optional[str] = None) -> bool:
    """Whether this conversation passed the second factor for ``application_no`` within ``window``.

    The record is the server's own audit row written by ``verify``: whatever the tracker's slots claim, an
    action discloses an application only if this says so (a forged or replayed tracker carries no such row).
    """
    now = now or naive_utcnow(whole_seconds=True)
    T = VerificationAttempt.__table__.c
    conversation = keyed_hash(conversation_id, "verification.audit")
    async with session_scope(url) as session:
        row = (await session.execute(
            sa.select(T.id).where(T.application_no == application_no[:40], T.conversation_hash == conversation,
                                  T.outcome == OK, T.created_at >= now - window, T.created_at <= now)
            .limit(1))).first()
    return row is not None


def _matches(app: Application, answer: Answer) -> bool:
    if answer.kind == "id_last6":
        expected, given = app.id_last6_hash, keyed_hash(answer.value, HASH_ID_LAST6)
    elif answer.kind == "id_number":
        expected, given = app.id_hash, keyed_hash(answer.value, HASH_ID)
    else:
        expected, given = app.phone_hash, keyed_hash(answer.value, HASH_PHONE)
    return hmac.compare_digest(expected, given)


async def _audit(application_no: str, conversation_id: str, factor: str, outcome: str, now: datetime,
                 url: Optional[str]) -> None:
    async with session_scope(url) as session:
        session.add(VerificationAttempt(application_no=application_no[:40],
                                        conversation_hash=keyed_hash(conversation_id, "verification.audit"),
                                        factor=factor, outcome=outcome, created_at=now))


async def verify(application_no: str, answer: Answer, conversation_id: str, *, now: Optional[datetime] = None,
                 url: Optional[str] = None) -> Verification:
    """Check ``answer`` for ``application_no`` (canonical), counting the try against both counters."""
    found: List[Application] = []

    async def check() -> bool:
        async with session_scope(url) as session:
            record = (await session.execute(sa.select(Application).where(
                Application.application_no == application_no))).scalar_one_or_none()
        # Compute the hash even for an unknown number, so both cases cost the same.
        if record is not None and _matches(record, answer):
            found.append(record)
            return True
        keyed_hash(answer.value, "verification.dummy")
        return False

    result = await guarded_attempt(application_no, conversation_id, answer.kind, check, now=now, url=url)
    result.application = found[0] if found else None
    return result


async def guarded_attempt(subject: str, conversation_id: str, factor: str, check: Callable[[], Awaitable[bool]],
                          *, now: Optional[datetime] = None, url: Optional[str] = None,
                          scope: str = "conv") -> Verification:
    """One try at proving ``subject`` in this conversation: ``check`` runs only if both counters (the subject's
    and the conversation's, in ``scope``) allow a try; failures count, success is recorded for
    ``verified_within``."""
    now = now or naive_utcnow(whole_seconds=True)
    conv, app = conversation_key(conversation_id, scope), app_key(subject)
    # Cheap read first: a locked resident should not even take a (transient) reservation from the other counter.
    until = await lock_state(subject, conversation_id, now, url, scope)
    if until is not None:
        await _audit(subject, conversation_id, factor, LOCKED, now, url)
        return Verification(LOCKED, locked_until=until)
    if not await _reserve(conv, CONVERSATION_WINDOW, now, url):
        await _audit(subject, conversation_id, factor, LOCKED, now, url)
        return Verification(LOCKED, locked_until=await lock_state(subject, conversation_id, now, url, scope))
    if not await _reserve(app, APP_WINDOW, now, url):
        await _give_back(conv, url)
        await _audit(subject, conversation_id, factor, LOCKED, now, url)
        return Verification(LOCKED, locked_until=await lock_state(subject, conversation_id, now, url, scope))
    if await check():
        await _give_back(conv, url)
        await _give_back(app, url)
        await _audit(subject, conversation_id, factor, OK, now, url)
        return Verification(OK)
    until_conv = await _confirm_failure(conv, now, url)
    until_app = await _confirm_failure(app, now, url)
    await _audit(subject, conversation_id, factor, FAILED, now, url)
    until = max((u for u in (until_conv, until_app) if u), default=None)
    return Verification(FAILED, locked_until=until, now_locked=until is not None)


async def take_quota(key: str, window: timedelta, now: Optional[datetime] = None, url: Optional[str] = None) -> bool:
    """Use one of ``MAX_FAILURES`` uses of ``key`` per ``window`` (e.g. SMS codes sent to one phone); False when
    they are used up. Uses are never given back."""
    return await _reserve(key, window, now or naive_utcnow(whole_seconds=True), url)
