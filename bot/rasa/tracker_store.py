"""Rasa tracker store: SQL (SQLite by default, PostgreSQL in production), URL from HUIMIN_TRACKER_DB_URL.

Personal data is masked **before** anything is written: full ID numbers and mobile numbers in any text, parse
data, entity or slot (``bot.privacy.redact_text``); the verification answer of the status lookup (a slot that
is never stored in clear, and the user message that answered it, digits masked); entities that are
verification factors (``id_last6``). The running turn still sees the clear values: Rasa keeps the tracker in
memory for the whole turn and only saves it at the end, after the form has checked the answer.

Rasa's SQL store reads, parses and replays every event of the session on every message, so a turn got slower
with every message of the conversation (36 → 161 ms median from message 1–20 to 181–200). This store keeps the
session's events of recent conversations in memory, as they are *stored* (redacted: the cache holds nothing the
database does not), and checks them against the database on every read with one indexed query (number of the
conversation's events, id and timestamp of its newest): events another Rasa process wrote since are read and
appended, anything else (deleted, rewritten, a new session) reads the session again as Rasa does. The state of
the tracker built at the last read is kept with them, so a read applies only the events stored since.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import re
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Tuple

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActiveLoop, Event, SessionStarted, SlotSet, UserUttered, deserialise_events
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.engine.url import make_url

import bot
from bot.db import sqlite_pragmas
from bot.privacy import install_log_redaction
from bot.privacy import redact_text
from bot.rasa import fixes as rasa_fixes
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


def answer_context(events: Iterable[Event], requested: Optional[str] = None,
                   loop: Optional[str] = None) -> Tuple[Optional[str], Optional[str]]:
    """(the slot a form asked for, the active form) after ``events``, from that state before them."""
    for event in events:
        if isinstance(event, SlotSet) and event.key == "requested_slot":
            requested = event.value
        elif isinstance(event, ActiveLoop):
            loop = event.name
            if loop is None:
                requested = None
    return requested, loop


def redacted_event_dicts(events: Iterable[Event], start: int = 0,
                         context: Optional[Tuple[Optional[str], Optional[str]]] = None) -> List[Dict[str, Any]]:
    """Serialised, redacted events from index ``start`` on; earlier events only provide the context (which form
    is active and which slot it asked for when each user message came) — or ``context``, that state at ``start``
    (``answer_context``), and then they are not walked at all."""
    out: List[Dict[str, Any]] = []
    if context is None:
        events = list(events)
        requested, loop = answer_context(events[:start])
    else:
        requested, loop = context
    for event in itertools.islice(events, start, None):
        answering = isinstance(event, UserUttered) and loop is not None and requested in ANSWER_REQUESTS
        out.append(redact_event(event.as_dict(), answering))
        requested, loop = answer_context([event], requested, loop)
    return out


class _Session:
    """The stored events of a conversation's latest session, and what identified the database's state then."""

    __slots__ = ("count", "last_id", "last_timestamp", "events", "state", "state_events", "state_domain", "context")

    def __init__(self, count: int, last_id: int, last_timestamp: Optional[float], events: List[Event]) -> None:
        self.count, self.last_id, self.last_timestamp, self.events = count, last_id, last_timestamp, events
        # The state of the tracker built from the first `state_events` events (rasa_fixes.tracker_state): the next
        # read applies only the events after them instead of replaying the whole session.
        self.state: Optional[tuple] = None
        self.state_events = 0
        self.state_domain: Optional[Domain] = None  # a new model's domain (other slots) starts again
        # (n, requested slot, active form) after the first n events: a save redacts only the new events.
        self.context: Tuple[int, Optional[str], Optional[str]] = (0, None, None)


class EventCache:
    """Least recently used conversations first out, bounded by the number of events held (memory)."""

    def __init__(self, max_events: int) -> None:
        self.max_events = max_events
        self.total = 0
        self._entries: "OrderedDict[str, _Session]" = OrderedDict()

    def get(self, sender_id: str) -> Optional[_Session]:
        entry = self._entries.get(sender_id)
        if entry is not None:
            self._entries.move_to_end(sender_id)
        return entry

    def put(self, sender_id: str, entry: _Session) -> None:
        self.drop(sender_id)
        if len(entry.events) > self.max_events:
            return
        self._entries[sender_id] = entry
        self.total += len(entry.events)
        while self.total > self.max_events:
            _, old = self._entries.popitem(last=False)
            self.total -= len(old.events)

    def extend(self, sender_id: str, entry: _Session, events: List[Event]) -> None:
        self.drop(sender_id)
        entry.events.extend(events)
        self.put(sender_id, entry)  # counts it again and evicts others if needed

    def drop(self, sender_id: str) -> None:
        old = self._entries.pop(sender_id, None)
        if old is not None:
            self.total -= len(old.events)


# Events held in memory per Rasa process; a long conversation (200 messages) is ~1,500 events.
CACHE_EVENTS_ENV = "HUIMIN_TRACKER_CACHE_EVENTS"
DEFAULT_CACHE_EVENTS = 50_000


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
        self._create_sender_index()
        self.cache = EventCache(int(os.environ.get(CACHE_EVENTS_ENV) or DEFAULT_CACHE_EVENTS))

    def _create_sender_index(self) -> None:
        """(sender_id, id): the newest event and the number of events of a conversation from the index alone."""
        import sqlalchemy as sa

        try:
            with self.engine.begin() as conn:
                conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_events_sender_id_id ON events (sender_id, id)"))
        except sa.exc.SQLAlchemyError:  # another replica created it at the same moment: it exists
            pass

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

    def _newest(self, session: Any, sender_id: str) -> Tuple[int, Optional[int], Optional[float]]:
        """(number of events, id and timestamp of the newest) of a conversation, from the (sender_id, id) index."""
        # Plain SQL, written once: the ORM query built, cache-keyed and compiled it twice a message (a third of the
        # store's CPU in the profile under load). Run on the session's own DBAPI connection (in its transaction):
        # SQLAlchemy's execution of even a prepared text statement was still most of this query's CPU, three times
        # a message; the values are the driver's own either way (a text statement's columns are not converted).
        dbapi = self._dbapi_newest
        if dbapi is None:
            row = session.execute(self._newest_sql, {"sender_id": sender_id}).first()
        else:
            sql, params = dbapi
            cursor = session.connection().connection.cursor()
            try:
                cursor.execute(sql, params(sender_id))
                row = cursor.fetchone()
            finally:
                cursor.close()
        return (0, None, None) if row is None else (int(row[2]), int(row[0]), row[1])

    @property
    def _dbapi_newest(self) -> Optional[Tuple[str, Callable[[str], Any]]]:
        """The newest-event query in the driver's own parameter style, or None for a style not written here."""
        if "_dbapi_newest_statement" not in self.__dict__:
            table = self.SQLEvent.__tablename__
            style = getattr(self.engine.dialect, "paramstyle", None)
            marks: Dict[str, Tuple[str, Callable[[str], Any]]] = {
                "qmark": ("?", lambda s: (s, s)), "format": ("%s", lambda s: (s, s)),
                "pyformat": ("%(sender_id)s", lambda s: {"sender_id": s}),
                "named": (":sender_id", lambda s: {"sender_id": s})}
            found = None
            if style in marks and "%" not in table:
                mark, params = marks[style]
                found = (f"SELECT e.id, e.timestamp, (SELECT count(c.id) FROM {table} c WHERE c.sender_id = {mark}) "
                         f"FROM {table} e WHERE e.sender_id = {mark} ORDER BY e.id DESC LIMIT 1", params)
            self.__dict__["_dbapi_newest_statement"] = found
        return self.__dict__["_dbapi_newest_statement"]

    @property
    def _newest_sql(self) -> Any:
        sql = self.__dict__.get("_newest_statement")
        if sql is None:
            import sqlalchemy as sa

            table = self.SQLEvent.__tablename__
            sql = self.__dict__["_newest_statement"] = sa.text(
                f"SELECT e.id, e.timestamp, (SELECT count(c.id) FROM {table} c WHERE c.sender_id = :sender_id) "
                f"FROM {table} e WHERE e.sender_id = :sender_id ORDER BY e.id DESC LIMIT 1")
        return sql

    def _session_events(self, session: Any, sender_id: str) -> Optional[_Session]:
        """The latest session's events, from the cache when the database still matches it."""
        count, last_id, last_ts = self._newest(session, sender_id)
        if not count:
            self.cache.drop(sender_id)
            return None
        entry = self.cache.get(sender_id)
        if entry is not None and (entry.count, entry.last_id, entry.last_timestamp) == (count, last_id, last_ts):
            return entry
        if entry is not None and count > entry.count and last_id > entry.last_id:
            # Written since by another process (or replica): read only those rows.
            rows = (session.query(self.SQLEvent).filter(self.SQLEvent.sender_id == sender_id,
                                                        self.SQLEvent.id > entry.last_id)
                    .order_by(self.SQLEvent.id).all())
            if (len(rows) == count - entry.count and rows[-1].id == last_id
                    and all(r.type_name != SessionStarted.type_name for r in rows)):
                self.cache.extend(sender_id, entry, deserialise_events([json.loads(r.data) for r in rows]))
                entry.count, entry.last_id, entry.last_timestamp = count, last_id, last_ts
                return entry
        rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).all()
        if not rows or rows[-1].id != last_id:  # written meanwhile: the next read checks again
            self.cache.drop(sender_id)
            return _Session(count, last_id, last_ts, deserialise_events([json.loads(r.data) for r in rows]))
        entry = _Session(count, last_id, last_ts, deserialise_events([json.loads(r.data) for r in rows]))
        self.cache.put(sender_id, entry)
        return entry

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        """The latest session, as SQLTrackerStore.retrieve returns it; its events come from the cache when the
        database still matches it. The events are shared with the cache and never changed by Rasa afterwards
        (a tracker appends new events; ``tracker.copy()`` shares them the same way)."""
        with self.session_scope() as session:
            entry = self._session_events(session, sender_id)
        if entry is None or not entry.events or not self.domain:
            return None
        events = list(entry.events)
        if entry.state is not None and entry.state_domain is self.domain and entry.state_events <= len(events):
            done = entry.state_events
            tracker = rasa_fixes.resume(sender_id, self.domain.slots, entry.state, events[:done], events[done:])
        else:
            tracker = DialogueStateTracker.from_events(sender_id, events, self.domain.slots)
        entry.state, entry.state_events = rasa_fixes.tracker_state(tracker), len(events)
        entry.state_domain = self.domain
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Like SQLTrackerStore.save, but every new event is redacted before it is serialised."""
        await self.stream_events(tracker)
        sender_id = tracker.sender_id
        with self.session_scope() as session:
            entry = self._session_events(session, sender_id)
            stored = len(entry.events) if entry is not None else 0
            context = None
            if entry is not None and entry.context[0] <= stored:
                done, requested, loop = entry.context
                requested, loop = answer_context(entry.events[done:stored], requested, loop)
                entry.context = (stored, requested, loop)
                context = (requested, loop)
            new = redacted_event_dicts(tracker.events, start=stored, context=context)
            rows = [{"sender_id": sender_id, "type_name": data.get("event"), "timestamp": data.get("timestamp"),
                     "intent_name": (data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY),
                     "action_name": data.get("name"), "data": json.dumps(data)} for data in new]
            last_id = last_ts = None
            if rows:
                # One executemany of the table's INSERT instead of the ORM's unit of work (an object and an INSERT
                # each, a sixth of a message's store CPU in the profile under load); the newest id is read back in
                # the same transaction. Only this process writes to the conversation while it holds its lock; if
                # another did, its rows are not counted here and the next read sees the count differ.
                session.execute(self.SQLEvent.__table__.insert(), rows)
                _, last_id, last_ts = self._newest(session, sender_id)
            session.commit()
        if not rows:
            return
        if tracker.is_paused():
            await _paused_messages(tracker, stored)
        if (entry is None or self.cache.get(sender_id) is not entry
                or any(d.get("event") == SessionStarted.type_name for d in new)):
            self.cache.drop(sender_id)  # a new session: the next read asks the database
            return
        # If another process wrote to this conversation meanwhile, the count tells the next read.
        self.cache.extend(sender_id, entry, deserialise_events(new))
        entry.count += len(rows)
        entry.last_id, entry.last_timestamp = last_id, last_ts

    async def _stream_new_events(self, event_broker: Any, new_events: List[Event], sender_id: str) -> None:
        """An event broker (none by default) gets the same redacted events as the database."""
        for data in redacted_event_dicts(new_events):
            event_broker.publish({"sender_id": sender_id, **data})


# What a capability does with what a resident types while a person has the conversation (it is paused): its
# ``tracker_plugin`` module's ``async paused_messages(conversation_id, texts)``, found the way every capability
# plug-in is (``bot.capability_modules``), so the store never names a capability above it. The handoff keeps
# call-back numbers there (bot/handoff/tracker_plugin.py), which the stored events have masked.
PLUGIN = "tracker_plugin"
_paused_handlers: Optional[List[Callable[[str, List[str]], Awaitable[Any]]]] = None


def paused_message_handlers() -> List[Callable[[str, List[str]], Awaitable[Any]]]:
    """Found on first use: Rasa loads the store before the capabilities need to be imported."""
    global _paused_handlers
    if _paused_handlers is None:
        _paused_handlers = [m.paused_messages for m in bot.capability_modules(PLUGIN)
                            if hasattr(m, "paused_messages")]
    return _paused_handlers


async def _paused_messages(tracker: DialogueStateTracker, stored: int) -> None:
    texts = [e.text for e in list(tracker.events)[stored:] if isinstance(e, UserUttered) and e.text]
    if not texts:
        return
    for handler in paused_message_handlers():
        try:
            await handler(tracker.sender_id, texts)
        except Exception as exc:  # never lose the conversation over it; staff still see the masked number
            logging.getLogger(__name__).warning("%s.%s failed: %s", handler.__module__, handler.__name__,
                                                type(exc).__name__)
