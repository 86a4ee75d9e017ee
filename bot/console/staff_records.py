"""Staff pages and API over the other capabilities' records: bookings (list, filter, cancel with a reason
— the resident is told) and application records (CSV upload with the importer's validation and report,
search by number, status history). Also supplies the resident's records to the handoff conversation view.
Personal details are masked; revealing a booking's name and address (its mobile: bookings_phone_api.py) and
every application look-up are recorded in the audit log."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from aiohttp import web

from bot.console.auth import audit, require_role
from bot.console.errors import ApiError, read_json, text_field
from bot.privacy import keyed_hash, mask_name

PAGES = Path(__file__).resolve().parent / "pages"


def _catalogue():
    from bot.booking.catalogue import get_catalogue
    return get_catalogue()


def _booking_dict(b, cat=None, reveal: bool = False) -> dict:
    service = cat.services.get(b.service_id) if cat else None
    site = cat.sites.get(b.site_id) if cat else None
    return {"code": b.code, "service_id": b.service_id, "service": service.name if service else b.service_id,
            "site_id": b.site_id, "site": site.name if site else b.site_id, "mode": b.mode,
            "start": b.start.isoformat(), "end": b.end.isoformat(),
            "person": _person(b.person, reveal),
            "address": (b.address if reveal else ("（已隐藏）" if b.address else None)),
            "phone": b.phone_masked, "status": b.status, "cancel_reason": b.cancel_reason,
            "conversation_id": b.conversation_id,
            "summary": f"{b.code} {service.name if service else b.service_id} {b.start:%m-%d %H:%M} "
                       f"{site.name if site else b.site_id} {b.status}"}


def _person(raw, reveal: bool) -> str:
    """The booker's name as given (bookings made before the capture fix may hold "我本人，刘福贵"), masked unless
    revealed; 本人 or 我妈 say who, not a name, and are shown as they are."""
    from bot.booking.understand import is_relation, name_as_given
    name = name_as_given(raw or "")
    return name if reveal or is_relation(name) else mask_name(name)


def _date(value, name):
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "invalid_field", f"{name} 应该是 YYYY-MM-DD 格式的日期", field=name)


@require_role("staff")
async def bookings_list(request: web.Request) -> web.Response:
    """Bookings, filtered by date, site, service and status."""
    from bot.booking import bookings
    q = request.query
    status = q.get("status") or None
    if status not in (None, "booked", "cancelled"):
        raise ApiError(400, "invalid_field", "status 只能是 booked 或 cancelled", field="status")
    rows = await bookings.list_bookings(request.app["db_url"], day=_date(q.get("date"), "date"),
                                        site_id=q.get("site") or None, service_id=q.get("service") or None)
    cat = _catalogue()
    items = [_booking_dict(b, cat) for b in rows if status is None or b.status == status]
    return web.json_response({"bookings": items,
                              "sites": {k: s.name for k, s in cat.sites.items()},
                              "services": {k: s.name for k, s in cat.services.items()}})


@require_role("staff")
async def booking_reveal(request: web.Request) -> web.Response:
    """A booking's name and address in full (recorded in the audit log)."""
    from bot.booking import bookings
    b = await bookings.get(request.match_info["code"], request.app["db_url"])
    if b is None:
        raise ApiError(404, "not_found", "没有这个预约")
    await audit(request["user"].name, "reveal", f"booking:{b.code}", "name and address", request.app["db_url"])
    return web.json_response({"booking": _booking_dict(b, _catalogue(), reveal=True)})


@require_role("staff")
async def booking_cancel(request: web.Request) -> web.Response:
    """Cancel a booking with a reason; the resident is told on their own channel."""
    from bot.booking import bookings
    from bot.handoff.offices import load_offices
    from bot.rasa.http_api import RasaUnavailable
    from bot.handoff.wording import response_text

    data = await read_json(request)
    reason = text_field(data, "reason", max_len=500)
    outcome = await bookings.cancel(request.match_info["code"], reason, by="staff", url=request.app["db_url"])
    if outcome.status == bookings.NOT_FOUND:
        raise ApiError(404, "not_found", "没有这个预约")
    if outcome.status == bookings.ALREADY_CANCELLED:
        raise ApiError(409, "conflict", "这个预约已经取消了")
    b = outcome.booking
    cat = _catalogue()
    await audit(request["user"].name, "booking_cancelled", f"booking:{b.code}", reason, request.app["db_url"])
    view = _booking_dict(b, cat)
    notified = False
    if b.conversation_id:
        text = response_text("utter_booking_cancelled_by_staff", service=view["service"], site=view["site"],
                             when=f"{b.start:%m月%d日 %H:%M}", reason=reason, code=b.code,
                             office_phone=load_offices().get().phone)
        try:
            await request.app["rasa"].relay(b.conversation_id, text, request["user"].name)
            notified = True
        except RasaUnavailable:
            notified = False
    return web.json_response({"booking": view, "resident_notified": notified,
                              "message": None if notified else "预约已取消，但没能通知到居民，请电话联系。"})


async def resident_records(app: web.Application, conversation_id: str) -> dict:
    """Bookings made in this conversation and applications the resident verified in it."""
    out = {"bookings": [], "applications": []}
    try:
        from bot.booking import bookings
        cat = _catalogue()
        out["bookings"] = [_booking_dict(b, cat) for b in
                           await bookings.list_bookings(app["db_url"], conversation_id=conversation_id)]
    except ModuleNotFoundError:
        pass
    try:
        import sqlalchemy as sa

        from bot.applications.models import Application, VerificationAttempt
        from bot.db import session_scope
        conv_hash = keyed_hash(conversation_id, "verification.audit")
        async with session_scope(app["db_url"]) as s:
            rows = (await s.execute(
                sa.select(Application).join(VerificationAttempt,
                                            VerificationAttempt.application_no == Application.application_no)
                .where(VerificationAttempt.conversation_hash == conv_hash, VerificationAttempt.outcome == "ok")
                .distinct())).scalars().all()
        out["applications"] = [_application_dict(a) for a in rows]
    except ModuleNotFoundError:
        pass
    return out


async def residents_known(app: web.Application, conversation_ids) -> dict:
    """Who the resident of each conversation is, as far as our own records say — nothing is guessed: the booker
    of the latest booking made in it (name as given, masked) and its service site, else the applicant of an
    application verified in it (masked as imported). Conversations we know nothing of are left out."""
    import sqlalchemy as sa

    from bot.db import session_scope
    ids = [c for c in dict.fromkeys(conversation_ids) if c]
    known: dict = {}
    if not ids:
        return known
    try:
        from bot.booking.models import Booking
        cat = _catalogue()
        async with session_scope(app["db_url"]) as s:
            rows = (await s.execute(sa.select(Booking.conversation_id, Booking.person, Booking.site_id)
                                    .where(Booking.conversation_id.in_(ids))
                                    .order_by(Booking.created_at.desc(), Booking.id.desc()))).all()
        for conv, person, site_id in rows:
            if conv not in known:
                site = cat.sites.get(site_id)
                known[conv] = {"source": "booking", "person": _person(person, False) if person else "",
                               "site": site.name if site else ""}
    except ModuleNotFoundError:
        pass
    try:
        from bot.applications.models import Application, VerificationAttempt
        by_hash = {keyed_hash(c, "verification.audit"): c for c in ids if c not in known}
        if by_hash:
            async with session_scope(app["db_url"]) as s:
                rows = (await s.execute(
                    sa.select(VerificationAttempt.conversation_hash, Application.name_masked)
                    .join(Application, VerificationAttempt.application_no == Application.application_no)
                    .where(VerificationAttempt.conversation_hash.in_(list(by_hash)),
                           VerificationAttempt.outcome == "ok")
                    .order_by(VerificationAttempt.created_at.desc()))).all()
            for conv_hash, name in rows:
                conv = by_hash[conv_hash]
                if conv not in known and name:
                    known[conv] = {"source": "application", "person": name, "site": ""}
    except ModuleNotFoundError:
        pass
    return known


def _application_dict(a) -> dict:
    return {"application_no": a.application_no, "program_id": a.program_id, "applicant": a.name_masked,
            "id_number": a.id_masked, "phone": a.phone_masked, "status": a.status,
            "submitted_at": a.submitted_at.isoformat(), "updated_at": a.updated_at.isoformat(), "note": a.note,
            "summary": f"{a.application_no} {a.program_id} {a.status}"}


@require_role("staff")
async def application_show(request: web.Request) -> web.Response:
    """One application record by its number, with its status history (all personal data masked)."""
    from bot.applications.numbers import canonical_application_no
    from bot.applications.records import get_application, history
    number = canonical_application_no(request.match_info["number"])
    record = await get_application(number, request.app["db_url"]) if number else None
    # Every look-up is recorded, found or not: who searched which number, and when.
    await audit(request["user"].name, "application_viewed", f"application:{(number or '?')[:40]}",
                "found" if record else "not found", request.app["db_url"])
    if record is None:
        raise ApiError(404, "not_found", "没有这个申请编号")
    changes = await history(record.id, request.app["db_url"])
    return web.json_response({"application": _application_dict(record), "history": [
        {"field": c.field, "old": c.old_value, "new": c.new_value, "changed_at": c.changed_at.isoformat(),
         "recorded_at": c.recorded_at.isoformat(), "source": c.source} for c in changes]})


@require_role("importer")
async def application_import(request: web.Request) -> web.Response:
    """Upload a CSV of application records (multipart field ``file``; ``skip_invalid`` optional). Role importer
    (or admin): the records carry the verification factors, so ordinary staff accounts may not overwrite them."""
    from bot.applications.importer import ImportFileError, import_csv
    if not request.content_type.startswith("multipart/"):
        raise ApiError(415, "unsupported_media_type", "请用表单上传 CSV 文件（字段名 file）")
    form = await request.post()
    upload = form.get("file")
    if upload is None or not hasattr(upload, "file"):
        raise ApiError(400, "missing_field", "请选择要上传的 CSV 文件", field="file")
    data = upload.file.read()
    skip = str(form.get("skip_invalid", "")).lower() in ("1", "true", "on", "yes")
    try:
        report = await import_csv(data, url=request.app["db_url"], skip_invalid=skip,
                                  source_name=f"upload:{upload.filename} by {request['user'].name}")
    except ImportFileError as exc:
        raise ApiError(400, "unreadable_file", str(exc))
    await audit(request["user"].name, "applications_imported", f"file:{upload.filename}", report.summary(),
                request.app["db_url"])
    body = {"imported": report.imported, "summary": report.summary(), "rows": report.rows,
            "created": report.created, "updated": report.updated, "unchanged": report.unchanged,
            "skipped": report.skipped, "errors": [str(e) for e in report.errors]}
    return web.json_response(body, status=200 if report.imported else 422)


def _page(name: str):
    @require_role("staff", page=True)
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(PAGES / name, headers={"Cache-Control": "no-store",
                                                       "Content-Type": "text/html; charset=utf-8"})
    return handler


def add_staff_records_routes(app: web.Application) -> None:
    async def finder(conversation_id: str) -> dict:
        return await resident_records(app, conversation_id)

    async def who(conversation_ids) -> dict:
        return await residents_known(app, conversation_ids)

    app["resident_records"] = finder
    app["residents_known"] = who
    r = app.router
    r.add_get("/staff/bookings", _page("bookings.html"))
    r.add_get("/staff/applications", _page("applications.html"))
    r.add_get("/api/bookings", bookings_list)
    r.add_post("/api/bookings/{code}/reveal", booking_reveal)
    r.add_post("/api/bookings/{code}/cancel", booking_cancel)
    r.add_get("/api/applications/{number}", application_show)
    r.add_post("/api/applications/import", application_import)
    app.setdefault("openapi_bodies", {}).update({
        "POST /api/bookings/{code}/cancel": {"reason": "string (told to the resident)"},
    })
