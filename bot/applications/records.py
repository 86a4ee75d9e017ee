"""Reading application records (staff display, the status answer)."""
from __future__ import annotations

from typing import List, Optional

import sqlalchemy as sa

from bot.applications.models import Application, ApplicationChange
from bot.db import session_scope


async def get_application(application_no: str, url: Optional[str] = None) -> Optional[Application]:
    async with session_scope(url) as session:
        result = await session.execute(sa.select(Application).where(Application.application_no == application_no))
        return result.scalar_one_or_none()


async def history(application_id: int, url: Optional[str] = None) -> List[ApplicationChange]:
    async with session_scope(url) as session:
        result = await session.execute(
            sa.select(ApplicationChange).where(ApplicationChange.application_id == application_id)
            .order_by(ApplicationChange.changed_at, ApplicationChange.id))
        return list(result.scalars())


async def last_status_change(application_id: int, url: Optional[str] = None) -> Optional[ApplicationChange]:
    """The change that brought the application into its current status (or its creation)."""
    async with session_scope(url) as session:
        result = await session.execute(
            sa.select(ApplicationChange)
            .where(ApplicationChange.application_id == application_id,
                   ApplicationChange.field.in_(("status", "created")))
            .order_by(ApplicationChange.changed_at.desc(), ApplicationChange.id.desc()).limit(1))
        return result.scalar_one_or_none()


# How the demo seed's import is recorded (bot/applications/seed.py imports with source_name "demo seed"); the
# production demo-data guard (bot/demo_guard.py) counts the same records.
DEMO_SEED_SOURCE = "import demo seed"


async def is_demo_record(application_id: int, url: Optional[str] = None) -> bool:
    """True when the record was created by the demo seed (a fictitious applicant for `make run`)."""
    async with session_scope(url) as session:
        result = await session.execute(
            sa.select(sa.func.count()).select_from(ApplicationChange)
            .where(ApplicationChange.application_id == application_id, ApplicationChange.field == "created",
                   ApplicationChange.source.like(DEMO_SEED_SOURCE + "%")))
        return bool(result.scalar())

