"""The handoff's part in the tracker store (bot/rasa/tracker_store.py finds it by ``bot.capability_modules``): what a
resident types while a person has the conversation may be a call-back number, kept encrypted for staff
(``callbacks.py``) — the events the store writes have it masked."""
from __future__ import annotations

from typing import List

from bot.handoff import callbacks


async def paused_messages(conversation_id: str, texts: List[str]) -> None:
    await callbacks.keep(conversation_id, texts)
