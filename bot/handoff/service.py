"""What staff do with a ticket, across the database and the Rasa server, in an order that never leaves a
resident talking to nobody and never loses a staff message."""
from __future__ import annotations

from typing import Optional

from bot.handoff import tickets
from bot.rasa.http_api import RasaAPI, RasaUnavailable


async def deliver(rasa: RasaAPI, message: dict, conversation_id: str, url: Optional[str] = None) -> dict:
    try:
        await rasa.relay(conversation_id, message["text"], message["author"])
    except RasaUnavailable as exc:
        return await tickets.mark_message(message["id"], False, str(exc), url)
    return await tickets.mark_message(message["id"], True, None, url)


async def reply(rasa: RasaAPI, ticket_id: int, user: str, text: str, url: Optional[str] = None) -> dict:
    """Store first (so nothing is lost), then deliver; a failed delivery stays, marked, for a retry."""
    ticket = await tickets.require_holder(ticket_id, user, url)
    if ticket["handed_back_at"]:
        raise tickets.TicketError("对话已经交还给惠民助手，不能再发消息")
    message = await tickets.add_message(ticket_id, user, text, url)
    return await deliver(rasa, message, ticket["conversation_id"], url)


async def retry(rasa: RasaAPI, message_id: int, user: str, url: Optional[str] = None) -> dict:
    message = await tickets.get_message(message_id, url)
    if message["status"] == "delivered":
        return message
    ticket = await tickets.require_holder(message["ticket_id"], user, url)
    if ticket["handed_back_at"]:
        raise tickets.TicketError("对话已经交还给惠民助手，不能再发消息")
    return await deliver(rasa, message, ticket["conversation_id"], url)


async def hand_back(rasa: RasaAPI, ticket_id: int, user: str, url: Optional[str] = None) -> dict:
    """Mark first (so the tracker watcher stops re-pausing), then let Huimin resume; undo the mark if
    Rasa cannot be reached, so the ticket keeps holding the conversation."""
    ticket = await tickets.require_holder(ticket_id, user, url)
    if ticket["handed_back_at"]:
        return ticket
    ticket = await tickets.mark_handed_back(ticket_id, user, url)
    try:
        await rasa.hand_back(ticket["conversation_id"])
    except RasaUnavailable:
        await _unmark(ticket_id, url)
        raise
    return ticket


async def _unmark(ticket_id: int, url: Optional[str]) -> None:
    import sqlalchemy as sa

    from bot.db import session_scope
    from bot.handoff.models import Ticket

    async with session_scope(url) as s:
        await s.execute(sa.update(Ticket).where(Ticket.id == ticket_id)
                        .values(handed_back_at=None, updated_at=tickets.utcnow())
                        .execution_options(synchronize_session=False))
