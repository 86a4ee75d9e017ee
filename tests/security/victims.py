"""What an outsider would be after: a resident's booking, planted straight into the stack's database."""
from __future__ import annotations

import datetime as dt
import uuid


async def plant_booking(url: str, conversation_id: str, phone: str, days_ahead: int = 5) -> str:
    """An upcoming 上门探访 for ``conversation_id`` under ``phone``; returns its code."""
    from bot.booking.models import Booking
    from bot.booking.understand import PHONE_PURPOSE
    from bot.db import session_scope
    from bot.privacy import keyed_hash, mask_phone

    start = dt.datetime.combine(dt.date.today() + dt.timedelta(days=days_ahead), dt.time(9, 0))
    code = "YY" + start.strftime("%y%m%d") + f"{uuid.uuid4().int % 100000:05d}"
    async with session_scope(url) as session:
        session.add(Booking(code=code, service_id="visit", mode="home", site_id="dayanggou", start=start,
                            end=start + dt.timedelta(hours=1), person="我妈", address="白下路100号",
                            phone_masked=mask_phone(phone), phone_hash=keyed_hash(phone, PHONE_PURPOSE),
                            conversation_id=conversation_id, status="booked",
                            idempotency_key=f"planted-{uuid.uuid4().hex}"))
    return code
