"""Lock store chosen by the environment: Redis when HUIMIN_REDIS_URL is set (several Rasa processes), else in-memory."""
from __future__ import annotations

import asyncio
import os
import time
from typing import Any
from urllib.parse import urlparse

from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, InMemoryLockStore, LockStore, RedisLockStore

from bot.settings import get_settings


class _KeepsItsPlace(LockStore):
    """Rasa 3.6's ticket lock loses a waiter whose own ticket expires while it waits: when the holder dies (a
    replica killed mid-message) every ticket of that conversation runs out together, the waiter's included, and it
    then waits forever (its number is never "now serving" again) until the HTTP request times out. Here a waiter
    whose ticket has gone, with no earlier ticket still alive, takes its place back at the head of the queue."""

    async def _acquire_lock(self, conversation_id: str, ticket: int, wait_time_in_seconds: float) -> TicketLock:
        while True:
            lock = self.get_lock(conversation_id)
            if not lock:
                lock = TicketLock(conversation_id)
            if lock._ticket_for_ticket_number(ticket) is None and all(t.number > ticket for t in lock.tickets):
                lock.tickets.insert(0, Ticket(ticket, time.time() + LOCK_LIFETIME))
                self.save_lock(lock)
            if not lock.is_locked(ticket):
                return lock
            await asyncio.sleep(wait_time_in_seconds)
            self.update_lock(conversation_id)


class _RedisLockStore(_KeepsItsPlace, RedisLockStore):
    pass


class _InMemoryLockStore(_KeepsItsPlace, InMemoryLockStore):
    pass


class HuiminLockStore:
    """A factory in class form, because Rasa instantiates custom lock stores by module path."""

    def __new__(cls, endpoint_config: Any = None, **kwargs: Any):  # type: ignore[misc]
        redis_url = get_settings().redis_url
        if not redis_url:
            # Rasa lets any custom lock store run several Sanic workers; an in-memory lock in each worker would
            # let two workers answer the same conversation at once (each worker is a process of its own).
            if (os.environ.get("SANIC_WORKERS") or "1").strip() not in ("", "0", "1"):
                raise RuntimeError("SANIC_WORKERS > 1 needs a shared lock store: set HUIMIN_REDIS_URL")
            return _InMemoryLockStore()
        parsed = urlparse(redis_url)
        return _RedisLockStore(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 6379,
            db=int((parsed.path or "/0").lstrip("/") or 0),
            password=parsed.password,
            key_prefix="huimin",
        )
