"""UTC time, one way: now as an aware datetime, and values read back from the database (SQLite returns naive
datetimes for what was written in UTC) made aware again."""
from __future__ import annotations

import datetime as dt
from typing import Optional


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def as_utc(value: Optional[dt.datetime]) -> Optional[dt.datetime]:
    """``value`` as an aware UTC datetime; a naive one is taken to be UTC already."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def iso_utc(value: Optional[dt.datetime]) -> Optional[str]:
    """ISO 8601 with the UTC offset, for JSON; None stays None."""
    aware = as_utc(value)
    return aware.isoformat() if aware is not None else None
