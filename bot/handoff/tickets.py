"""Handoff tickets: create, claim (atomically), pass on, hand back, close; and the staff message log.

Every state change is a conditional UPDATE, so two staff members (or two console replicas) acting at the
same moment never both win: the loser gets a ``Conflict`` naming who holds the ticket.
"""
from __future__ import annotations

import datetime as dt
from typing import List, Optional

import sqlalchemy as sa

from bot.clock import as_utc, utcnow  # noqa: F401 (callers use tickets.utcnow / tickets.as_utc)
from bot.db import session_scope
from bot.handoff.models import PRIORITY, REASONS, StaffMessage, Ticket

OPEN = ("waiting", "active")


class TicketError(Exception):
    """A request that does not fit the ticket's state (maps to HTTP 409)."""

    code = "conflict"

    def __init__(self, message: str, holder: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.holder = holder


class NotFound(TicketError):
    code = "not_found"



def ticket_dict(t: Ticket, now: Optional[dt.datetime] = None) -> dict:
    now = now or utcnow()
    created = as_utc(t.created_at)
    end = as_utc(t.claimed_at) if t.status != "waiting" and t.claimed_at else now
    return {
        "id": t.id, "conversation_id": t.conversation_id, "channel": t.channel, "office": t.office,
        "reason": t.reason, "priority": t.priority, "summary": t.summary, "context": t.context,
        "status": t.status, "assignee": t.assignee,
        "created_at": created.isoformat(),
        "claimed_at": as_utc(t.claimed_at).isoformat() if t.claimed_at else None,
        "handed_back_at": as_utc(t.handed_back_at).isoformat() if t.handed_back_at else None,
        "closed_at": as_utc(t.closed_at).isoformat() if t.closed_at else None,
        "outcome": t.outcome,
        "waiting_seconds": max(0, int((end - created).total_seconds())),
        "resident_messages": t.resident_messages or 0,
        "last_resident_text": t.last_resident_text,
        "last_resident_at": as_utc(t.last_resident_at).isoformat() if t.last_resident_at else None,
        "updated_at": as_utc(t.updated_at).isoformat(),
    }


def message_dict(m: StaffMessage) -> dict:
    return {"id": m.id, "ticket_id": m.ticket_id, "author": m.author, "text": m.text, "status": m.status,
            "error": m.error, "attempts": m.attempts, "created_at": as_utc(m.created_at).isoformat(),
            "delivered_at": as_utc(m.delivered_at).isoformat() if m.delivered_at else None}


async def open_ticket_for(conversation_id: str, url: Optional[str] = None) -> Optional[Ticket]:
    """The conversation's open ticket that still holds it paused (not yet handed back), if any."""
    async with session_scope(url) as s:
        return (await s.execute(
            sa.select(Ticket).where(Ticket.conversation_id == conversation_id, Ticket.status.in_(OPEN),
                                    Ticket.handed_back_at.is_(None)).order_by(Ticket.id.desc()).limit(1)
        )).scalars().first()


async def create_ticket(conversation_id: str, channel: str, reason: str, summary: str = "", context: str = "",
                        office: str = "", url: Optional[str] = None) -> tuple:
    """Open a ticket, or reuse the conversation's open one (raising its priority if needed).

    Returns ``(ticket_dict, created)``.
    """
    if reason not in REASONS:
        raise ValueError(f"unknown handoff reason {reason!r}")
    now = utcnow()
    async with session_scope(url) as s:
        existing = (await s.execute(
            sa.select(Ticket).where(Ticket.conversation_id == conversation_id, Ticket.status.in_(OPEN))
            .order_by(Ticket.id.desc()).limit(1))).scalars().first()
        if existing is not None:
            if PRIORITY[reason] < existing.priority:
                existing.priority, existing.reason = PRIORITY[reason], reason
            if existing.handed_back_at is not None:
                # Asked for a person again after being handed back: the same ticket goes back to the queue.
                existing.handed_back_at = None
                existing.status, existing.assignee, existing.claimed_at = "waiting", None, None
            if summary:
                existing.summary = summary
            existing.updated_at = now
            await s.flush()
            return ticket_dict(existing, now), False
        t = Ticket(conversation_id=conversation_id, channel=channel or "", office=office or "", reason=reason,
                   priority=PRIORITY[reason], summary=summary or "", context=context or "", status="waiting",
                   created_at=now, updated_at=now, resident_messages=0)
        s.add(t)
        await s.flush()
        return ticket_dict(t, now), True


async def get_ticket(ticket_id: int, url: Optional[str] = None) -> dict:
    async with session_scope(url) as s:
        t = await s.get(Ticket, ticket_id)
        if t is None:
            raise NotFound("没有这个工单")
        return ticket_dict(t)


async def list_tickets(view: str = "waiting", user: Optional[str] = None, limit: int = 200,
                       url: Optional[str] = None) -> List[dict]:
    """Views: waiting, mine, active (everyone's), closed, open (waiting+active)."""
    q = sa.select(Ticket)
    if view == "waiting":
        q = q.where(Ticket.status == "waiting").order_by(Ticket.priority, Ticket.created_at)
    elif view == "mine":
        q = q.where(Ticket.status == "active", Ticket.assignee == user).order_by(Ticket.priority, Ticket.created_at)
    elif view == "active":
        q = q.where(Ticket.status == "active").order_by(Ticket.priority, Ticket.created_at)
    elif view == "open":
        q = q.where(Ticket.status.in_(OPEN)).order_by(Ticket.priority, Ticket.created_at)
    elif view == "closed":
        q = q.where(Ticket.status == "closed").order_by(Ticket.closed_at.desc())
    else:
        raise ValueError(f"unknown view {view!r}")
    async with session_scope(url) as s:
        now = utcnow()
        return [ticket_dict(t, now) for t in (await s.execute(q.limit(limit))).scalars()]


async def held_tickets(url: Optional[str] = None) -> List[dict]:
    """Every open ticket still holding its conversation paused (not handed back): what the watcher follows.
    No limit: a ticket past any page size must still be watched."""
    async with session_scope(url) as s:
        now = utcnow()
        q = (sa.select(Ticket).where(Ticket.status.in_(OPEN), Ticket.handed_back_at.is_(None))
             .order_by(Ticket.priority, Ticket.created_at))
        return [ticket_dict(t, now) for t in (await s.execute(q)).scalars()]


async def queue_position(ticket_id: int, url: Optional[str] = None) -> int:
    """How many waiting tickets are served before this one (itself included)."""
    async with session_scope(url) as s:
        t = await s.get(Ticket, ticket_id)
        if t is None:
            return 0
        return int((await s.execute(sa.select(sa.func.count()).select_from(Ticket).where(
            Ticket.status == "waiting",
            sa.or_(Ticket.priority < t.priority,
                   sa.and_(Ticket.priority == t.priority, Ticket.id <= t.id))))).scalar() or 0)


async def _holder(s, ticket_id: int) -> Ticket:
    t = await s.get(Ticket, ticket_id, populate_existing=True)
    if t is None:
        raise NotFound("没有这个工单")
    return t


async def claim(ticket_id: int, user: str, url: Optional[str] = None) -> dict:
    now = utcnow()
    async with session_scope(url) as s:
        result = await s.execute(
            sa.update(Ticket).where(Ticket.id == ticket_id, Ticket.status == "waiting")
            .values(status="active", assignee=user, claimed_at=now, updated_at=now)
            .execution_options(synchronize_session=False))
        t = await _holder(s, ticket_id)
        if result.rowcount != 1:
            if t.status == "closed":
                raise TicketError("这个工单已经结束了")
            if t.assignee == user:
                return ticket_dict(t, now)
            raise TicketError(f"这个工单已经由 {t.assignee} 接手了", holder=t.assignee)
        return ticket_dict(t, now)


async def transfer(ticket_id: int, user: str, to_user: str, url: Optional[str] = None,
                   force: bool = False) -> dict:
    """Pass an active ticket to a colleague; only its holder (or an admin with ``force``) may."""
    now = utcnow()
    async with session_scope(url) as s:
        cond = [Ticket.id == ticket_id, Ticket.status == "active", Ticket.handed_back_at.is_(None)]
        if not force:
            cond.append(Ticket.assignee == user)
        result = await s.execute(sa.update(Ticket).where(*cond).values(assignee=to_user, updated_at=now)
                                 .execution_options(synchronize_session=False))
        t = await _holder(s, ticket_id)
        if result.rowcount != 1:
            raise TicketError(f"只有接手的人（{t.assignee or '无'}）可以转交这个工单", holder=t.assignee)
        return ticket_dict(t, now)


async def require_holder(ticket_id: int, user: str, url: Optional[str] = None) -> dict:
    async with session_scope(url) as s:
        t = await _holder(s, ticket_id)
        if t.status != "active" or t.assignee != user:
            if t.status == "waiting":
                raise TicketError("请先接手这个工单")
            if t.status == "closed":
                raise TicketError("这个工单已经结束了")
            raise TicketError(f"这个工单由 {t.assignee} 负责", holder=t.assignee)
        return ticket_dict(t)


async def mark_handed_back(ticket_id: int, user: str, url: Optional[str] = None) -> dict:
    now = utcnow()
    async with session_scope(url) as s:
        result = await s.execute(
            sa.update(Ticket).where(Ticket.id == ticket_id, Ticket.status == "active", Ticket.assignee == user,
                                    Ticket.handed_back_at.is_(None))
            .values(handed_back_at=now, updated_at=now).execution_options(synchronize_session=False))
        t = await _holder(s, ticket_id)
        if result.rowcount != 1 and t.handed_back_at is None:
            raise TicketError(f"这个工单由 {t.assignee or '无人'} 负责", holder=t.assignee)
        return ticket_dict(t, now)


async def close(ticket_id: int, user: str, outcome: str, url: Optional[str] = None) -> dict:
    outcome = (outcome or "").strip()
    if not outcome:
        raise ValueError("请写一句处理结果再结束工单")
    now = utcnow()
    async with session_scope(url) as s:
        result = await s.execute(
            sa.update(Ticket).where(Ticket.id == ticket_id, Ticket.status == "active", Ticket.assignee == user,
                                    Ticket.handed_back_at.isnot(None))
            .values(status="closed", closed_at=now, outcome=outcome[:2000], updated_at=now)
            .execution_options(synchronize_session=False))
        t = await _holder(s, ticket_id)
        if result.rowcount != 1:
            if t.status == "closed":
                raise TicketError("这个工单已经结束了")
            if t.assignee != user:
                raise TicketError(f"这个工单由 {t.assignee or '无人'} 负责", holder=t.assignee)
            raise TicketError("请先把对话交还给惠民助手，再结束工单：居民不能没人应答")
        return ticket_dict(t, now)


async def record_resident_activity(ticket_id: int, count: int, last_text: Optional[str],
                                   last_at: Optional[dt.datetime], url: Optional[str] = None) -> bool:
    """Store what the tracker watcher saw; True when it is news."""
    now = utcnow()
    async with session_scope(url) as s:
        result = await s.execute(
            sa.update(Ticket).where(Ticket.id == ticket_id, Ticket.resident_messages < count)
            .values(resident_messages=count, last_resident_text=(last_text or "")[:500], last_resident_at=last_at,
                    updated_at=now).execution_options(synchronize_session=False))
        return result.rowcount == 1


async def changed_since(since: Optional[dt.datetime], url: Optional[str] = None) -> List[dict]:
    q = sa.select(Ticket).order_by(Ticket.updated_at)
    if since is not None:
        q = q.where(Ticket.updated_at > since)
    else:
        q = q.where(Ticket.status.in_(OPEN))
    async with session_scope(url) as s:
        now = utcnow()
        return [ticket_dict(t, now) for t in (await s.execute(q.limit(500))).scalars()]


# --- staff messages -------------------------------------------------------------------------------------------

async def add_message(ticket_id: int, author: str, text: str, url: Optional[str] = None) -> dict:
    async with session_scope(url) as s:
        m = StaffMessage(ticket_id=ticket_id, author=author, text=text, status="pending", attempts=0,
                         created_at=utcnow())
        s.add(m)
        await s.flush()
        return message_dict(m)


async def get_message(message_id: int, url: Optional[str] = None) -> dict:
    async with session_scope(url) as s:
        m = await s.get(StaffMessage, message_id)
        if m is None:
            raise NotFound("没有这条消息")
        return message_dict(m)


async def mark_message(message_id: int, delivered: bool, error: Optional[str] = None,
                       url: Optional[str] = None) -> dict:
    async with session_scope(url) as s:
        m = await s.get(StaffMessage, message_id)
        m.attempts = (m.attempts or 0) + 1
        m.status = "delivered" if delivered else "failed"
        m.error = None if delivered else (error or "")[:500]
        if delivered:
            m.delivered_at = utcnow()
        await s.execute(sa.update(Ticket).where(Ticket.id == m.ticket_id).values(updated_at=utcnow())
                        .execution_options(synchronize_session=False))
        await s.flush()
        return message_dict(m)


async def list_messages(ticket_id: int, url: Optional[str] = None) -> List[dict]:
    async with session_scope(url) as s:
        rows = (await s.execute(sa.select(StaffMessage).where(StaffMessage.ticket_id == ticket_id)
                                .order_by(StaffMessage.id))).scalars()
        return [message_dict(m) for m in rows]
