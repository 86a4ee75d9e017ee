"""Staff API for handoff tickets: queue, claim, pass on, conversation view, reply, retry, hand back, close
(handing back first when needed), reveal (audited). Tickets and transcripts carry what staff read rather than
codes: the channel in words, the resident's last words, button titles instead of payloads, programme names."""
from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any, Dict, List, Optional

from aiohttp import web

from bot.console.auth import audit, require_role
from bot.console.errors import ApiError, int_param, read_json, text_field
from bot.console.labels import CHANNELS, catalogue_names, locality_names, programme_names
from bot.handoff import service, tickets
from bot.handoff.offices import load_offices
from bot.handoff.summary import CONTEXT_LABELS
from bot.handoff.transcript import transcript
from bot.rasa.http_api import RasaUnavailable
from bot.privacy import redact_text

log = logging.getLogger(__name__)
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


def _last_said(ticket: dict) -> str:
    """What the resident last said: from the tracker watcher, else the last 居民 line of the summary (never
    Huimin's own words, e.g. its emergency advice)."""
    last = ticket.get("last_resident_text") or ""
    if last and not last.startswith("/"):  # a tapped button's payload is not something the resident said
        return last
    for line in reversed((ticket.get("summary") or "").splitlines()):
        if line.startswith("居民：") and not line.startswith("居民：/"):
            return line[len("居民："):]
    return ""


def _readable_context(context: str, names: Dict[str, Dict[str, str]]) -> str:
    """summary.context_line holds slot values as stored (政策：dibao；服务点：dayanggou); staff read names (政策：低保；
    服务点：大阳沟社区养老服务站). ``names``: per label of bot.handoff.summary.CONTEXT_LABELS, id → name."""
    parts = []
    for part in (context or "").split("；"):
        label, sep, value = part.partition("：")
        value = names.get(label, {}).get(value, value) if sep else value
        parts.append(f"{label}{sep}{value}")
    return "；".join(p for p in parts if p)


def context_names(programs: Dict[str, str]) -> Dict[str, Dict[str, str]]:
    labels = CONTEXT_LABELS
    catalogue = catalogue_names()
    return {labels["program"]: programs, labels["service"]: catalogue["services"], labels["site"]: catalogue["sites"],
            labels["locality"]: locality_names()}


def _for_staff(ticket: dict, names: Dict[str, Dict[str, str]], who: Optional[dict] = None) -> dict:
    return dict(ticket, channel_name=CHANNELS.get(ticket["channel"], ticket["channel"] or "未知"),
                last_said=_last_said(ticket), context=_readable_context(ticket.get("context") or "", names),
                resident=who)


async def _residents_known(request: web.Request, items: List[dict]) -> Dict[str, dict]:
    """Name and community of the residents, where the bookings and applications made in the conversations tell."""
    finder = request.app.get("residents_known")
    if finder is None:
        return {}
    try:
        return await finder([t["conversation_id"] for t in items])
    except Exception:  # the queue matters more than the names on it
        log.warning("residents of the queue could not be looked up", exc_info=True)
        return {}


def _payload(text: str) -> Optional[Dict[str, Any]]:
    """``/intent{"slot": "value"}`` → {"intent": ..., "entities": {...}}; None for words the resident typed."""
    if not text.startswith("/"):
        return None
    name, brace, rest = text[1:].partition("{")
    entities: Dict[str, Any] = {}
    if brace:
        try:
            entities = json.loads("{" + rest)
        except ValueError:
            entities = {}
    return {"intent": name.strip(), "entities": entities if isinstance(entities, dict) else {}}


def readable_transcript(tracker: dict, programs: Dict[str, str]) -> List[dict]:
    """The transcript as the resident saw it: a tapped button shows its title (not ``/ask_apply{…}``); a payload
    with no button (the page's greeting, 转人工) is marked as such, with programme names for ids."""
    titles: Dict[str, str] = {}
    tapped: List[Optional[dict]] = []
    for e in tracker.get("events") or []:
        if e.get("event") == "bot":
            data = e.get("data") or {}
            for b in (data.get("buttons") or data.get("quick_replies") or []):
                if isinstance(b, dict) and b.get("payload"):
                    titles[b["payload"]] = b.get("title") or ""
        elif e.get("event") == "user":
            text = e.get("text") or ""
            payload = _payload(text)
            if payload is not None:
                payload["title"] = titles.get(text)
                payload["names"] = [programs.get(str(v), str(v)) for v in payload["entities"].values()
                                    if isinstance(v, (str, int))]
            tapped.append(payload)
    out: List[dict] = []
    users = iter(tapped)
    for i, entry in enumerate(transcript(tracker)):
        entry = dict(entry, index=i)
        if entry["who"] == "resident":
            payload = next(users, None)
            if payload is not None:
                entry.update(text=payload["title"] or "", tapped=payload)
                out.append(entry)
                continue
        entry["text"] = redact_text(entry.get("text"))  # masked by default; reveal is audited
        out.append(entry)
    return out


@require_role("staff")
async def queue(request: web.Request) -> web.Response:
    view = request.query.get("view", "waiting")
    if view not in VIEWS:
        raise ApiError(400, "invalid_field", f"view 只能是 {', '.join(VIEWS)}", field="view")
    items = await tickets.list_tickets(view, request["user"].name, url=request.app["db_url"])
    offices = load_offices()
    names = context_names(programme_names())
    who = await _residents_known(request, items)
    items = [_for_staff(t, names, who.get(t["conversation_id"])) for t in items]
    for t in items:
        office = offices.get(t["office"] or None)
        t["highlight"] = t["status"] == "waiting" and t["waiting_seconds"] > office.highlight_after_minutes * 60
    return web.json_response({"view": view, "tickets": items, "status": request.app["status"],
                              "highlight_after_minutes": offices.get().highlight_after_minutes})


@require_role("staff")
async def ticket_detail(request: web.Request) -> web.Response:
    ticket_id = _ticket_id(request)
    try:
        ticket = await tickets.get_ticket(ticket_id, request.app["db_url"])
    except tickets.TicketError as exc:
        raise _conflict(exc)
    messages = await tickets.list_messages(ticket_id, request.app["db_url"])
    offices = load_offices()
    office = offices.get(ticket["office"] or None)
    programs = programme_names()
    who = await _residents_known(request, [ticket])
    body = {"ticket": _for_staff(ticket, context_names(programs), who.get(ticket["conversation_id"])),
            "staff_messages": messages,
            "canned_replies": office.canned_replies, "office": {"id": office.id, "name": office.name},
            "timezone": offices.timezone, "transcript": None, "rasa_error": None,
            "records": await _records(request, ticket)}
    try:
        tracker = await request.app["rasa"].tracker(ticket["conversation_id"])
        body["transcript"] = readable_transcript(tracker, programs)
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
    """Close with an outcome; a conversation still held is handed back to Huimin first, in the same step (the
    resident must never be left with nobody answering)."""
    data = await read_json(request)
    outcome = text_field(data, "outcome", required=False, max_len=2000)
    if not outcome:
        raise ApiError(400, "missing_field", "请写一句处理结果再结束工单", field="outcome")
    ticket_id, user = _ticket_id(request), request["user"].name
    try:
        current = await tickets.get_ticket(ticket_id, request.app["db_url"])
        if current["status"] == "active" and current["assignee"] == user and not current["handed_back_at"]:
            try:
                await service.hand_back(request.app["rasa"], ticket_id, user, request.app["db_url"])
            except RasaUnavailable:
                raise ApiError(503, "rasa_unavailable",
                               "对话服务连不上，没能把对话交还给惠民助手，所以工单还没有结束。请稍后再试。")
        ticket = await tickets.close(ticket_id, user, outcome, request.app["db_url"])
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
