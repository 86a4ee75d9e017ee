"""Rasa tracker store: SQL (SQLite by default, PostgreSQL in production), URL from HUIMIN_TRACKER_DB_URL.

Personal data is masked **before** anything is written: full ID numbers and mobile numbers in any text, parse
data, entity or slot (``bot.privacy.redact_text``); the verification answer of the status lookup (a slot that
is never stored in clear, and the user message that answered it, digits masked); entities that are
verification factors (``id_last6``). The running turn still sees the clear values: Rasa keeps the tracker in
memory for the whole turn and only saves it at the end, after the form has checked the answer.
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, Iterable, List, Optional

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActiveLoop, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.engine.url import make_url

from bot import rasa_fixes
from bot.db import sqlite_pragmas
from bot.privacy import install_log_redaction
from bot.privacy import redact_text
from bot.settings import get_settings

# Rasa loads this module at start-up, after it configured logging: make sure its logs are masked too.
install_log_redaction()
rasa_fixes.install()

REDACTED = "[已隐藏]"
# Slots holding a verification answer: only these values may be stored; anything else becomes REDACTED.
SECRET_SLOTS: Dict[str, tuple] = {"status_answer": (None, "verified")}
# While the assistant waits for one of these slots, the resident's reply is a verification answer.
ANSWER_REQUESTS = frozenset(SECRET_SLOTS)
# Entities that are verification factors wherever they appear.
SECRET_ENTITIES = frozenset({"id_last6"})
# Keys whose values are identifiers, not text (masking them would only corrupt them).
_NOT_TEXT_KEYS = frozenset({"event", "message_id", "name", "intent_name", "policy", "input_channel",
                            "timestamp", "confidence", "entity", "extractor", "processors"})
_DIGIT = re.compile(r"[0-9０-９]|(?<=[0-9０-９])[XxＸｘ]")


def _mask_digits(text: Any) -> Any:
    return _DIGIT.sub("*", text) if isinstance(text, str) else text


def _deep_redact(value: Any, key: Optional[str] = None, answer: bool = False) -> Any:
    if isinstance(value, dict):
        return {k: _deep_redact(v, k, answer) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_redact(v, key, answer) for v in value]
    if isinstance(value, str) and key not in _NOT_TEXT_KEYS:
        value = redact_text(value)
        if answer and key in ("text", "value", "raw_value"):
            value = _mask_digits(value)
    return value


def _has_secret_entity(data: Dict[str, Any]) -> bool:
    entities = (data.get("parse_data") or {}).get("entities") or []
    return any(isinstance(e, dict) and e.get("entity") in SECRET_ENTITIES for e in entities)


def redact_event(data: Dict[str, Any], answering: bool = False) -> Dict[str, Any]:
    """The event as it may be stored. ``answering``: the bot had asked for a verification answer."""
    kind = data.get("event")
    if kind == "slot" and data.get("name") in SECRET_SLOTS:
        allowed = SECRET_SLOTS[data["name"]]
        return {**data, "value": data.get("value") if data.get("value") in allowed else REDACTED}
    answer = kind == "user" and (answering or _has_secret_entity(data))
    out = _deep_redact(data, answer=answer)
    if kind == "user":
        for entity in (out.get("parse_data") or {}).get("entities") or []:
            if isinstance(entity, dict) and entity.get("entity") in SECRET_ENTITIES:
                entity["value"] = REDACTED
    return out


def redacted_event_dicts(events: Iterable[Event], start: int = 0) -> List[Dict[str, Any]]:
    """Serialised, redacted events from index ``start`` on; earlier events only provide the context
    (which form is active and which slot it asked for when each user message came)."""
    out: List[Dict[str, Any]] = []
    requested: Optional[str] = None
    loop: Optional[str] = None
    for i, event in enumerate(events):
        if i >= start:
            answering = isinstance(event, UserUttered) and loop is not None and requested in ANSWER_REQUESTS
            out.append(redact_event(event.as_dict(), answering))
        if isinstance(event, SlotSet) and event.key == "requested_slot":
            requested = event.value
        elif isinstance(event, ActiveLoop):
            loop = event.name
            if loop is None:
                requested = None
    return out


class HuiminTrackerStore(SQLTrackerStore):
    def __init__(self, domain: Optional[Domain] = None, event_broker: Any = None, **kwargs: Any) -> None:
        kwargs.pop("host", None)  # Rasa passes the endpoint's `url` as host; ours comes from the environment
        url = make_url(kwargs.pop("url", None) or get_settings().tracker_db_url)
        if url.drivername.startswith("sqlite") and url.database:
            from pathlib import Path
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(
            domain=domain,
            dialect=url.drivername.split("+")[0] if url.drivername.startswith("sqlite") else url.drivername,
            host=url.host,
            port=url.port,
            db=url.database,
            username=url.username,
            password=url.password,
            event_broker=event_broker,
            **kwargs,
        )
        if url.drivername.startswith("sqlite") and url.database:
            self._pool_sqlite_connections()

    def _pool_sqlite_connections(self) -> None:
        # SQLAlchemy 1.4 opens a new SQLite connection per session (NullPool) and SQLite syncs the file on every
        # commit: two of the largest costs of a turn in the profile. Rasa uses the store from its event-loop
        # thread only, so connections can be kept; WAL lets the console read while Rasa writes.
        import sqlalchemy as sa
        from sqlalchemy.pool import QueuePool

        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(url, poolclass=QueuePool, pool_size=5, max_overflow=10,
                                       connect_args={"check_same_thread": False, "timeout": 30})
        sqlite_pragmas(self.engine)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    @classmethod
    def create(cls, domain: Optional[Domain] = None, **kwargs: Any) -> "HuiminTrackerStore":
        return cls(domain=domain, **kwargs)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Like SQLTrackerStore.save, but every new event is redacted before it is serialised."""
        await self.stream_events(tracker)
        with self.session_scope() as session:
            stored = self._event_query(session, tracker.sender_id, fetch_events_from_all_sessions=False).count()
            for data in redacted_event_dicts(tracker.events, start=stored):
                session.add(self.SQLEvent(
                    sender_id=tracker.sender_id,
                    type_name=data.get("event"),
                    timestamp=data.get("timestamp"),
                    intent_name=(data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY),
                    action_name=data.get("name"),
                    data=json.dumps(data),
                ))
            session.commit()

    async def _stream_new_events(self, event_broker: Any, new_events: List[Event], sender_id: str) -> None:
        """An event broker (none by default) gets the same redacted events as the database."""
        for data in redacted_event_dicts(new_events):
            event_broker.publish({"sender_id": sender_id, **data})
