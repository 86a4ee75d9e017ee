"""UTC time, one way: now as an aware datetime, and values read back from the database (SQLite returns naive
datetimes for what was written in UTC) made aware again; naive UTC for the columns declared without a time zone."""
from __future__ import annotations

import datetime as dt
from typing import Optional


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def naive_utcnow(whole_seconds: bool = False) -> dt.datetime:
    """UTC now without tzinfo, for the tables whose columns were declared without a time zone (bookings,
    applications, verification attempts): asyncpg refuses an aware value for a PostgreSQL ``timestamp`` column.
    ``whole_seconds``: the verification windows count whole seconds."""
    now = utcnow().replace(tzinfo=None)
    return now.replace(microsecond=0) if whole_seconds else now


def as_utc(value: Optional[dt.datetime]) -> Optional[dt.datetime]:
    """``value`` as an aware UTC datetime; a naive one is taken to be UTC already."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def iso_utc(value: Optional[dt.datetime]) -> Optional[str]:
    """ISO 8601 with the UTC offset, for JSON; None stays None."""
    aware = as_utc(value)
    return aware.isoformat() if aware is not None else None
