"""Call-back numbers a resident left in a handed-over conversation (bot/handoff/callbacks.py): listed masked
with the ticket, revealed in full one at a time — the audit record is written before the number is sent."""
from __future__ import annotations

import datetime as dt

from aiohttp import web

from bot.console.auth import audit, require_role
from bot.console.errors import ApiError, int_param
from bot.handoff import callbacks, tickets


@require_role("staff")
async def callbacks_list(request: web.Request) -> web.Response:
    ticket_id = int_param(request.match_info["ticket_id"], "ticket_id")
    return web.json_response({"callbacks": await callbacks.for_ticket(ticket_id, request.app["db_url"])})


@require_role("staff")
async def callback_reveal(request: web.Request) -> web.Response:
    ticket_id = int_param(request.match_info["ticket_id"], "ticket_id")
    callback_id = int_param(request.match_info["callback_id"], "callback_id")
    try:
        await tickets.get_ticket(ticket_id, request.app["db_url"])
    except tickets.NotFound:
        raise ApiError(404, "not_found", "没有这个工单")
    known = {c["id"] for c in await callbacks.for_ticket(ticket_id, request.app["db_url"])}
    if callback_id not in known:
        raise ApiError(404, "not_found", "没有这个回电号码，可能已经过了保存期限")
    await audit(request["user"].name, "reveal", f"ticket:{ticket_id}", f"call-back number {callback_id}",
                request.app["db_url"])
    number = await callbacks.reveal(ticket_id, callback_id, request.app["db_url"])
    if number is None:
        raise ApiError(404, "not_found", "这个回电号码已经无法解密（密钥换过了），请按工单里的其他方式联系居民")
    return web.json_response({"id": callback_id, "number": number,
                              "revealed_at": dt.datetime.now(dt.timezone.utc).isoformat()})


def add_callback_routes(app: web.Application) -> None:
    app.router.add_get("/api/tickets/{ticket_id}/callbacks", callbacks_list)
    app.router.add_post("/api/tickets/{ticket_id}/callbacks/{callback_id}/reveal", callback_reveal)
