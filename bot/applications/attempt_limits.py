"""Limits in front of the status lookup's per-application lockout (bot/applications/verification.py).

The application lock (5 failures in 30 minutes) protects an applicant from guessing, but by itself it lets
anyone keep a real applicant locked out: type their number and five wrong answers. So a conversation may fail
only CONVERSATION_LIMIT times and a client (the web page's address, a WeChat user, a REST sender) only
CLIENT_LIMIT times per window — both below the application's limit, so no single conversation or client can
lock an applicant out; it only locks itself. A refused try is never passed on to the verification, so it
counts nowhere else.

Counting uses the same table and the same single-statement reservations as verification.py: a try is
reserved before the answer is checked (``failures < limit`` re-checked by the database), kept on failure and
given back on success, so concurrent replicas cannot let extra tries through.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import List, Optional, Sequence

import sqlalchemy as sa

from bot.applications import verification
from bot.applications.models import VerificationCounter
from bot.applications.numbers import Answer
from bot.clock import naive_utcnow
from bot.db import session_scope
from bot.privacy import keyed_hash

CONVERSATION_LIMIT = 3
CLIENT_LIMIT = 4
WINDOW = timedelta(minutes=30)
assert max(CONVERSATION_LIMIT, CLIENT_LIMIT) < verification.MAX_FAILURES


def _key(kind: str, value: str) -> str:
    return f"limit-{kind}:" + keyed_hash(value, f"attempts.{kind}")[:40]


def client_of(events: Sequence[dict], sender_id: str) -> str:
    """Who is trying: the address hash our socket.io channel puts in the message (bot/channels/socketio.py);
    elsewhere the sender itself (a WeChat user; REST metadata is the caller's own and is not believed)."""
    for event in reversed(events or []):
        if event.get("event") == "user":
            client = (event.get("metadata") or {}).get("client")
            if event.get("input_channel") == "socketio" and isinstance(client, str) and client:
                return "socketio:" + client
            break
    return "sender:" + sender_id


def _insert(session, key: str, now: datetime):
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(VerificationCounter).values(key=key, failures=0, window_started_at=now, locked_until=None) \
        .on_conflict_do_nothing(index_elements=["key"])


async def _reserve(key: str, limit: int, now: datetime, url: Optional[str]) -> Optional[datetime]:
    """Count one try on ``key``; None when allowed, else until when the key is refused."""
    T = VerificationCounter.__table__.c
    fresh = T.window_started_at <= now - WINDOW
    async with session_scope(url) as session:
        await session.execute(_insert(session, key, now))
        result = await session.execute(
            sa.update(VerificationCounter.__table__)
            .where(T.key == key, sa.or_(fresh, T.failures < limit))
            .values(failures=sa.case((fresh, 1), else_=T.failures + 1),
                    window_started_at=sa.case((fresh, now), else_=T.window_started_at))
            .execution_options(synchronize_session=False))
        if result.rowcount == 1:
            return None
        started = (await session.execute(sa.select(T.window_started_at).where(T.key == key))).scalar_one()
    return started + WINDOW


async def _give_back(keys: List[str], url: Optional[str]) -> None:
    T = VerificationCounter.__table__.c
    async with session_scope(url) as session:
        await session.execute(sa.update(VerificationCounter.__table__).where(T.key.in_(keys), T.failures > 0)
                              .values(failures=T.failures - 1).execution_options(synchronize_session=False))


async def verify(application_no: str, answer: Answer, conversation_id: str, client: str, *,
                 now: Optional[datetime] = None, url: Optional[str] = None) -> verification.Verification:
    """verification.verify behind the per-conversation and per-client limits (same result type)."""
    now = now or naive_utcnow(whole_seconds=True)
    taken: List[str] = []
    for key, limit in ((_key("conversation", conversation_id), CONVERSATION_LIMIT),
                       (_key("client", client), CLIENT_LIMIT)):
        until = await _reserve(key, limit, now, url)
        if until is not None:
            if taken:
                await _give_back(taken, url)
            return verification.Verification(verification.LOCKED, locked_until=until)
        taken.append(key)
    try:
        result = await verification.verify(application_no, answer, conversation_id, now=now, url=url)
    except BaseException:
        await _give_back(taken, url)
        raise
    if result.outcome != verification.FAILED:
        # Verified, or refused by the application's own lock before the answer was checked: not a failure here.
        await _give_back(taken, url)
        return result
    if result.now_locked:
        return result
    # This failure may have used up this conversation's or client's last try: say so now.
    ends = [u for u in [await _refused_until(k, limit, now, url) for k, limit in
                        zip(taken, (CONVERSATION_LIMIT, CLIENT_LIMIT))] if u]
    if ends:
        return verification.Verification(verification.FAILED, locked_until=max(ends), now_locked=True)
    return result


async def _refused_until(key: str, limit: int, now: datetime, url: Optional[str]) -> Optional[datetime]:
    T = VerificationCounter.__table__.c
    async with session_scope(url) as session:
        row = (await session.execute(sa.select(T.failures, T.window_started_at).where(T.key == key))).first()
    if row and row[0] >= limit and row[1] + WINDOW > now:
        return row[1] + WINDOW
    return None
