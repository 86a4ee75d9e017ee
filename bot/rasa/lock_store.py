"""Lock store chosen by the environment: Redis when HUIMIN_REDIS_URL is set (several Rasa processes), else in-memory."""
from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

from rasa.core.lock_store import InMemoryLockStore, RedisLockStore

from bot.settings import get_settings


class HuiminLockStore:
    """A factory in class form, because Rasa instantiates custom lock stores by module path."""

    def __new__(cls, endpoint_config: Any = None, **kwargs: Any):  # type: ignore[misc]
        redis_url = get_settings().redis_url
        if not redis_url:
            # Rasa lets any custom lock store run several Sanic workers; an in-memory lock in each worker would
            # let two workers answer the same conversation at once (each worker is a process of its own).
            if (os.environ.get("SANIC_WORKERS") or "1").strip() not in ("", "0", "1"):
                raise RuntimeError("SANIC_WORKERS > 1 needs a shared lock store: set HUIMIN_REDIS_URL")
            return InMemoryLockStore()
        parsed = urlparse(redis_url)
        return RedisLockStore(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 6379,
            db=int((parsed.path or "/0").lstrip("/") or 0),
            password=parsed.password,
            key_prefix="huimin",
        )
