"""Staff API for handoff tickets: queue, claim, pass on, conversation view, reply, retry, hand back, close,
reveal (audited)."""
from __future__ import annotations

import datetime as dt

from aiohttp import web

from bot.console.auth import audit, require_role
from bot.console.errors import ApiError, int_param, read_json, text_field
from bot.handoff import service, tickets
from bot.handoff.offices import load_offices
from bot.handoff.rasa_api import RasaUnavailable, transcript
from bot.privacy import redact_text

VIEWS = ("waiting", "mine", "active", "open", "closed")


def _ticket_id(request: web.Request) -> int:
    return int_param(request.match_info["ticket_id"], "ticket_id")


def _conflict(exc: tickets.TicketError) -> ApiError:
    if isinstance(exc, tickets.NotFound):
        return ApiError(404, "not_found", exc.message)
    extra = {"holder": exc.holder} if exc.holder else {}
    return ApiError(409, "conflict", exc.message, **extra)


def _publish(request: web.Request, ticket: dict) -> None:
    request.app["hub"].publish("ticket", ticket)


@require_role("staff")
async def queue(request: web.Request) -> web.Response:
    view = request.query.get("view", "waiting")
    if view not in VIEWS:
        raise ApiError(400, "invalid_field", f"view 只能是 {', '.join(VIEWS)}", field="view")
    items = await tickets.list_tickets(view, request["user"].name, url=request.app["db_url"])
    offices = load_offices()
    for t in items:
        office = offices.get(t["office"] or None)
        t["highlight"] = t["status"] == "waiting" and t["waiting_seconds"] > office.highlight_after_minutes * 60
    return web.json_response({"view": view, "tickets": items, "status": request.app["status"]})


@require_role("staff")
async def ticket_detail(request: web.Request) -> web.Response:
    ticket_id = _ticket_id(request)
    try:
        ticket = await tickets.get_ticket(ticket_id, request.app["db_url"])
    except tickets.TicketError as exc:
        raise _conflict(exc)
    messages = await tickets.list_messages(ticket_id, request.app["db_url"])
    office = load_offices().get(ticket["office"] or None)
    body = {"ticket": ticket, "staff_messages": messages, "canned_replies": office.canned_replies,
            "office": {"id": office.id, "name": office.name}, "transcript": None, "rasa_error": None,
            "records": await _records(request, ticket)}
    try:
        tracker = await request.app["rasa"].tracker(ticket["conversation_id"])
        # Masked by default; a reveal goes through the audited endpoint.
        body["transcript"] = [dict(e, text=redact_text(e.get("text")), index=i)
                              for i, e in enumerate(transcript(tracker))]
        body["paused"] = bool(tracker.get("paused"))
        body["latest_input_channel"] = tracker.get("latest_input_channel")
    except RasaUnavailable:
        body["rasa_error"] = "惠民助手的对话服务暂时连不上，聊天记录暂时看不到；您发的消息会保存，稍后可重发。"
    return web.json_response(body)


async def _records(request: web.Request, ticket: dict) -> dict:
    """The resident's bookings and verified applications, if those capabilities can tell."""
    finder = request.app.get("resident_records")
    if finder is None:
        return {"bookings": [], "applications": []}
    try:
        return await finder(ticket["conversation_id"])
    except Exception:
        return {"bookings": [], "applications": [], "error": "预约和申请记录暂时查不到"}


@require_role("staff")
async def claim(request: web.Request) -> web.Response:
    try:
        ticket = await tickets.claim(_ticket_id(request), request["user"].name, request.app["db_url"])
    except tickets.TicketError as exc:
        raise _conflict(exc)
    _publish(request, ticket)
    return web.json_response({"ticket": ticket})


@require_role("staff")
async def transfer(request: web.Request) -> web.Response:
    data = await read_json(request)
    to_user = text_field(data, "to", max_len=64)
    if to_user not in await _staff_names(request):
        raise ApiError(400, "invalid_field", f"没有可以接手的同事 {to_user}", field="to")
    user = request["user"]
    try:
        ticket = await tickets.transfer(_ticket_id(request), user.name, to_user, request.app["db_url"],
                                        force=user.role == "admin")
    except tickets.TicketError as exc:
        raise _conflict(exc)
    await audit(user.name, "ticket_transferred", f"ticket:{ticket['id']}", f"to {to_user}", request.app["db_url"])
    _publish(request, ticket)
    return web.json_response({"ticket": ticket})


async def _staff_names(request: web.Request) -> list:
    from bot.console.auth import user_names
    return await user_names(request.app["db_url"], role="staff")


@require_role("staff")
async def reply(request: web.Request) -> web.Response:
    data = await read_json(request)
    text = text_field(data, "text", max_len=1000)
    try:
        message = await service.reply(request.app["rasa"], _ticket_id(request), request["user"].name, text,
                                      request.app["db_url"])
    except tickets.TicketError as exc:
        raise _conflict(exc)
    request.app["hub"].publish("staff_message", message)
    status = 201 if message["status"] == "delivered" else 202
    body = {"message": message}
    if message["status"] != "delivered":
        body["warning"] = "消息已保存，但暂时没能发给居民（对话服务连不上）。可以稍后点“重发”。"
    return web.json_response(body, status=status)


@require_role("staff")
async def retry(request: web.Request) -> web.Response:
    message_id = int_param(request.match_info["message_id"], "message_id")
    try:
        message = await service.retry(request.app["rasa"], message_id, request["user"].name, request.app["db_url"])
    except tickets.TicketError as exc:
        raise _conflict(exc)
    request.app["hub"].publish("staff_message", message)
    return web.json_response({"message": message}, status=200 if message["status"] == "delivered" else 202)


@require_role("staff")
async def hand_back(request: web.Request) -> web.Response:
    try:
        ticket = await service.hand_back(request.app["rasa"], _ticket_id(request), request["user"].name,
                                         request.app["db_url"])
    except tickets.TicketError as exc:
        raise _conflict(exc)
    _publish(request, ticket)
    return web.json_response({"ticket": ticket})


@require_role("staff")
async def close(request: web.Request) -> web.Response:
    data = await read_json(request)
    outcome = text_field(data, "outcome", max_len=2000)
    try:
        ticket = await tickets.close(_ticket_id(request), request["user"].name, outcome, request.app["db_url"])
    except tickets.TicketError as exc:
        raise _conflict(exc)
    _publish(request, ticket)
    return web.json_response({"ticket": ticket})


@require_role("staff")
async def reveal(request: web.Request) -> web.Response:
    """The unmasked text of one transcript entry; who asked and when goes to the audit log first."""
    ticket_id = _ticket_id(request)
    data = await read_json(request)
    index = int_param(data.get("index"), "index")
    try:
        ticket = await tickets.get_ticket(ticket_id, request.app["db_url"])
    except tickets.TicketError as exc:
        raise _conflict(exc)
    tracker = await request.app["rasa"].tracker(ticket["conversation_id"])
    entries = transcript(tracker)
    if not 0 <= index < len(entries):
        raise ApiError(404, "not_found", "没有这条记录")
    await audit(request["user"].name, "reveal", f"ticket:{ticket_id}", f"transcript entry {index}",
                request.app["db_url"])
    return web.json_response({"index": index, "text": entries[index].get("text"),
                              "revealed_at": dt.datetime.now(dt.timezone.utc).isoformat()})


@require_role("staff")
async def office_info(request: web.Request) -> web.Response:
    cfg = load_offices()
    now = cfg.now()
    return web.json_response({"offices": [
        {"id": o.id, "name": o.name, "open_now": o.is_open(now), "canned_replies": o.canned_replies,
         "highlight_after_minutes": o.highlight_after_minutes} for o in cfg.offices.values()]})


def add_handoff_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/tickets", queue)
    r.add_get("/api/tickets/{ticket_id}", ticket_detail)
    r.add_post("/api/tickets/{ticket_id}/claim", claim)
    r.add_post("/api/tickets/{ticket_id}/transfer", transfer)
    r.add_post("/api/tickets/{ticket_id}/messages", reply)
    r.add_post("/api/messages/{message_id}/retry", retry)
    r.add_post("/api/tickets/{ticket_id}/handback", hand_back)
    r.add_post("/api/tickets/{ticket_id}/close", close)
    r.add_post("/api/tickets/{ticket_id}/reveal", reveal)
    r.add_get("/api/offices", office_info)
