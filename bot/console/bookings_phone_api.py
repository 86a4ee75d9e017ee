"""A booking's mobile in full, for the service site to call (kept encrypted, bot/booking/contacts.py): revealed
one booking at a time by accounts that may see bookings, every reveal in the audit log before the number is sent,
and a limit per account and hour so the list cannot be copied out."""
from __future__ import annotations

import datetime as dt

from aiohttp import web

from bot.clock import utcnow
from bot.console.auth import audit, audits_since, require_role
from bot.console.errors import ApiError

# Full mobiles one account may reveal in an hour: a day's calls to residents fit easily; copying out the
# bookings list does not.
PHONE_REVEALS_PER_HOUR = 60
PHONE_REVEALED = "booking_phone_revealed"


@require_role("staff")
async def booking_phone_reveal(request: web.Request) -> web.Response:
    """A booking's mobile in full, for the service site to call. Every reveal is recorded in the audit log (who,
    when, which booking) before the number is sent; an account may reveal PHONE_REVEALS_PER_HOUR an hour."""
    from bot.booking import bookings, contacts
    db_url = request.app["db_url"]
    b = await bookings.get(request.match_info["code"], db_url)
    if b is None:
        raise ApiError(404, "not_found", "没有这个预约")
    user = request["user"].name
    if await audits_since(user, PHONE_REVEALED, utcnow() - dt.timedelta(hours=1), db_url) >= PHONE_REVEALS_PER_HOUR:
        raise ApiError(429, "too_many_reveals", f"一小时内最多显示 {PHONE_REVEALS_PER_HOUR} 个完整号码，请稍后再试")
    cipher = await contacts.of_booking(b.code, db_url)
    await audit(user, PHONE_REVEALED, f"booking:{b.code}", "full mobile" if cipher else "full mobile (not kept)",
                db_url)
    number = contacts.number_of(cipher)
    message = None
    if cipher is None:
        message = f"只有 {b.phone_masked}：这个预约没有保存完整号码（登记得较早，或已过保存期限）"
    elif number is None:
        message = f"只有 {b.phone_masked}：完整号码已经无法解密（系统密钥换过了）"
    return web.json_response({"code": b.code, "number": number, "masked": b.phone_masked, "message": message})


def add_booking_phone_routes(app: web.Application) -> None:
    app.router.add_post("/api/bookings/{code}/phone", booking_phone_reveal)
