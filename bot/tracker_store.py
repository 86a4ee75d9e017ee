"""Rasa tracker store: SQL (SQLite by default, PostgreSQL in production), URL from HUIMIN_TRACKER_DB_URL."""
from __future__ import annotations

from typing import Any, Optional

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from sqlalchemy.engine.url import make_url

from bot.settings import get_settings


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

    @classmethod
    def create(cls, domain: Optional[Domain] = None, **kwargs: Any) -> "HuiminTrackerStore":
        return cls(domain=domain, **kwargs)
