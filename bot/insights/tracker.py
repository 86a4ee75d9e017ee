"""Reading Rasa's SQL tracker store (table ``events``; SQLite or PostgreSQL, HUIMIN_TRACKER_DB_URL) and telling,
for each typed resident message, what the assistant did with it.

Rasa saves a whole turn in one transaction, so a batch read by event id holds complete turns. The text is
taken exactly as stored: the tracker store masked ID and phone numbers before writing (bot/rasa/tracker_store.py),
and nothing here can or does unmask it.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import sqlalchemy as sa

from bot.db import to_sync_url

ANSWERED, CLARIFIED, FALLBACK, HANDOVER = "answered", "clarified", "fallback", "handover"
OUTCOMES = (ANSWERED, CLARIFIED, FALLBACK, HANDOVER)
FALLBACK_INTENTS = frozenset({"nlu_fallback"})
FALLBACK_ACTIONS = frozenset({"action_default_fallback"})
HANDOVER_ACTIONS = frozenset({"action_handoff"})
# Actions whose bot message is a knowledge answer residents can rate.
ANSWER_ACTIONS = frozenset({"action_answer_knowledge", "action_answer_service_list"})
# The fallback ladder reads a message again before admitting a miss (actions/core.py): a message it understood
# is either re-logged with this mark in its parse data (actions/rereading.py) or answered in place, and the
# ladder's miss counter is then set to 0; a real miss sets it to 1 or more.
REREAD_MARK = "second_reading"
MISS_COUNTER = "fallback_count"


@dataclass
class Event:
    id: int
    sender_id: str
    type_name: str
    action_name: Optional[str]
    data: Dict[str, Any]


def is_reread(e: Event) -> bool:
    return e.type_name == "user" and bool((e.data.get("parse_data") or {}).get(REREAD_MARK))


@dataclass
class Turn:
    """A resident message and the events that followed it before the next one (a second reading of the same
    message is part of its turn, not a message of its own)."""
    user: Event
    after: List[Event] = field(default_factory=list)
    reread: Optional[Event] = None

    @property
    def text(self) -> str:
        return str(self.user.data.get("text") or "")

    @property
    def intent(self) -> Tuple[Optional[str], Optional[float]]:
        """What the message was understood as in the end (the second reading's intent, when there was one)."""
        intent = ((self.reread or self.user).data.get("parse_data") or {}).get("intent") or {}
        return intent.get("name"), intent.get("confidence")

    def rescued(self) -> bool:
        """The fallback ladder's second reading understood the message (re-read, or answered in place)."""
        if self.reread is not None:
            return True
        return FALLBACK_ACTIONS.issubset(self.actions()) and self.slots().get(MISS_COUNTER) in (0, 0.0)

    def actions(self) -> List[str]:
        return [e.action_name or e.data.get("name") for e in self.after if e.type_name == "action"]

    def slots(self) -> Dict[str, Any]:
        return {e.data.get("name"): e.data.get("value") for e in self.after if e.type_name == "slot"}

    def outcome(self) -> str:
        actions = set(self.actions())
        if actions & HANDOVER_ACTIONS:
            return HANDOVER
        first = ((self.user.data.get("parse_data") or {}).get("intent") or {}).get("name")
        if (first in FALLBACK_INTENTS or actions & FALLBACK_ACTIONS) and not self.rescued():
            return FALLBACK
        if actions & ANSWER_ACTIONS and self.slots().get("pending_aspect"):
            return CLARIFIED  # the knowledge action asked "which programme?" with a picker
        return ANSWERED

    def answer_event(self) -> Optional[Event]:
        """The first bot message of a knowledge answer in this turn (not a clarifying picker)."""
        if self.outcome() != ANSWERED:
            return None
        seen_action = False
        for e in self.after:
            if e.type_name == "action" and (e.action_name or e.data.get("name")) in ANSWER_ACTIONS:
                seen_action = True
            elif seen_action and e.type_name == "bot":
                return e
        return None

    @property
    def model_id(self) -> Optional[str]:
        return (self.user.data.get("metadata") or {}).get("model_id")


def channel_of(sender_id: str) -> str:
    """Conversation ids: WeChat is ``wx:<OpenID>``; the web chat's are bare session ids (docs/contracts.md)."""
    return "wechat" if sender_id.startswith("wx:") else "web"


def is_typed(text: str) -> bool:
    """Button payloads (``/intent{...}``) are choices, not questions."""
    return bool(text.strip()) and not text.startswith("/")


def turns(events: Iterable[Event]) -> Iterator[Turn]:
    """Turns of each conversation, in event-id order; events before a conversation's first message are skipped."""
    current: Dict[str, Turn] = {}
    out: List[Turn] = []
    for e in events:
        if is_reread(e) and e.sender_id in current:
            current[e.sender_id].reread = e
            current[e.sender_id].after.append(e)
        elif e.type_name == "user":
            turn = Turn(e)
            current[e.sender_id] = turn
            out.append(turn)
        elif e.sender_id in current:
            current[e.sender_id].after.append(e)
    return iter(out)


def iso_week(at: dt.datetime) -> str:
    year, week, _ = at.isocalendar()
    return f"{year}-W{week:02d}"


def event_time(e: Event) -> dt.datetime:
    ts = e.data.get("timestamp")
    return dt.datetime.fromtimestamp(float(ts), dt.timezone.utc) if ts else dt.datetime.now(dt.timezone.utc)


class TrackerReader:
    """Synchronous reads of the tracker store (run them off the event loop)."""

    def __init__(self, url: str):
        self.url = to_sync_url(url)
        self._engine: Optional[sa.engine.Engine] = None

    def _exists(self) -> bool:
        if self.url.startswith("sqlite"):
            path = self.url.split(":///", 1)[1]
            if not path or not os.path.exists(path):
                return False  # never create the tracker store from here
        return True

    def engine(self) -> Optional[sa.engine.Engine]:
        if not self._exists():
            return None
        if self._engine is None:
            args = {"timeout": 30} if self.url.startswith("sqlite") else {}
            self._engine = sa.create_engine(self.url, connect_args=args, pool_pre_ping=True)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _select(self, where: str, order: str, params: dict) -> List[Event]:
        """Events matching ``where`` (SQL on the ``events`` table), in ``order``; none without a tracker store."""
        engine = self.engine()
        if engine is None:
            return []
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("events"):
                return []
            rows = conn.execute(sa.text(
                f"SELECT id, sender_id, type_name, action_name, data FROM events WHERE {where} "
                f"ORDER BY {order} LIMIT :limit"), params).fetchall()
        out = []
        for r in rows:
            try:
                data = json.loads(r.data) if r.data else {}
            except ValueError:
                data = {}
            out.append(Event(int(r.id), r.sender_id, r.type_name, r.action_name, data))
        return out

    def events_after(self, last_id: int, limit: int = 5000) -> List[Event]:
        """Events with id > last_id, oldest first, cut at a turn boundary (never half a conversation's turn)."""
        events = self._select("id > :last", "id", {"last": last_id, "limit": limit})
        if len(events) == limit:
            # A full page may end inside a turn: leave the last message and what follows it for the next read.
            last_user = max((e.id for e in events if e.type_name == "user" and not is_reread(e)), default=None)
            if last_user is not None and last_user != events[0].id:
                events = [e for e in events if e.id < last_user]
        return events

    def conversation_tail(self, sender_id: str, limit: int = 80) -> List[Event]:
        """The newest events of one conversation, oldest first."""
        return list(reversed(self._select("sender_id = :s", "id DESC", {"s": sender_id, "limit": limit})))
