"""Near-real-time view of tickets for the console: polls the database for ticket changes and the Rasa
tracker of every open ticket for messages the resident typed while paused.

Why polling: new tickets are written by the action server (another process, maybe another machine) and
resident messages land in Rasa's tracker store; polling the shared database and Rasa's HTTP API needs no
extra infrastructure (no event broker), works with any number of Rasa and console replicas, and survives
restarts. The cost is bounded however many tickets are open: one indexed query per interval, and at most
``per_tick`` tracker reads (``concurrency`` at a time), taken round-robin — tickets a staff member is talking in
(active) sooner, otherwise the ones read longest ago — so with hundreds of open tickets each is still read every few
seconds and Rasa is never asked for hundreds of trackers at once. The watcher also re-pauses a conversation
that slipped out of its pause while its ticket is open (e.g. the resident typed /restart), so Huimin never
talks over a person.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any, Callable, Dict, List, Optional

from bot.handoff import tickets
from bot.handoff.transcript import resident_messages_since
from bot.rasa.http_api import RasaAPI, RasaUnavailable

log = logging.getLogger(__name__)

PER_TICK = 25
CONCURRENCY = 5
# An active ticket counts as read this many seconds earlier than it was: staff see the resident's words
# sooner there, yet waiting tickets are never starved by many active ones.
ACTIVE_HEAD_START = 10.0


class Watcher:
    def __init__(self, rasa: RasaAPI, publish: Callable[[str, Any], None], status: Dict[str, Any],
                 url: Optional[str] = None, interval: float = 1.0, per_tick: int = PER_TICK,
                 concurrency: int = CONCURRENCY):
        self.rasa, self.publish, self.status, self.url, self.interval = rasa, publish, status, url, interval
        self.per_tick = per_tick
        self._since: Optional[dt.datetime] = None
        self._limit = asyncio.Semaphore(concurrency)
        # ticket id -> monotonic time of its last tracker read
        self._read_at: Dict[int, float] = {}

    def _set_status(self, key: str, ok: bool) -> None:
        if self.status.get(key) != ok:
            self.status[key] = ok
            self.publish("status", dict(self.status))

    async def tick(self) -> None:
        try:
            changed = await tickets.changed_since(self._since, self.url)
            self._set_status("database", True)
        except Exception as exc:
            log.warning("ticket poll failed: %s", type(exc).__name__)
            self._set_status("database", False)
            return
        for t in changed:
            self.publish("ticket", t)
            ts = dt.datetime.fromisoformat(t["updated_at"])
            if self._since is None or ts > self._since:
                self._since = ts
        if self._since is None:
            self._since = tickets.utcnow() - dt.timedelta(seconds=1)
        try:
            held = await tickets.held_tickets(url=self.url)
        except Exception:
            return
        due = self._due(held)
        results = await asyncio.gather(*(self._watch_limited(t) for t in due), return_exceptions=True)
        if due:
            self._set_status("rasa", not any(isinstance(r, RasaUnavailable) for r in results))

    def _due(self, held: List[dict]) -> List[dict]:
        """This tick's share of the held tickets: active ones first, then the least recently read."""
        ids = {t["id"] for t in held}
        for gone in [i for i in self._read_at if i not in ids]:
            del self._read_at[gone]
        def key(t: dict) -> float:
            last = self._read_at.get(t["id"])
            if last is None:
                return float("-inf")
            return last - (ACTIVE_HEAD_START if t["status"] == "active" else 0.0)
        ordered = sorted(held, key=key)
        return ordered[:self.per_tick]

    async def _watch_limited(self, ticket: dict) -> None:
        async with self._limit:
            self._read_at[ticket["id"]] = time.monotonic()
            await self._watch(ticket)

    async def _watch(self, ticket: dict) -> None:
        tracker = await self.rasa.tracker(ticket["conversation_id"], include_events="AFTER_RESTART")
        created = dt.datetime.fromisoformat(ticket["created_at"]).timestamp()
        said = resident_messages_since(tracker, created)
        # The message that triggered the handoff is logged a moment before the ticket exists.
        if len(said) > ticket["resident_messages"]:
            last = said[-1]
            at = dt.datetime.fromtimestamp(last.get("timestamp") or 0, dt.timezone.utc)
            if await tickets.record_resident_activity(ticket["id"], len(said), last.get("text"), at, self.url):
                self.publish("message", {"ticket_id": ticket["id"], "text": last.get("text"),
                                         "at": at.isoformat()})
        if not tracker.get("paused"):
            # Re-read: a hand-back may have happened while we were fetching the tracker.
            fresh = await tickets.get_ticket(ticket["id"], self.url)
            if fresh["status"] != "closed" and not fresh["handed_back_at"]:
                log.info("ticket %s: conversation was not paused; pausing again", ticket["id"])
                await self.rasa.pause(ticket["conversation_id"])

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("watcher tick failed")
            await asyncio.sleep(self.interval)
