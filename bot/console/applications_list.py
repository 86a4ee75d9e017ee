"""The applications page's list: application records, newest change first, filtered by number, programme and
status (masked personal data only). Every search is a look-up and goes to the audit log."""
from __future__ import annotations

import sqlalchemy as sa
from aiohttp import web

from bot.console.auth import audit, require_role
from bot.console.errors import ApiError

PAGE_SIZE = 50


@require_role("staff")
async def application_list(request: web.Request) -> web.Response:
    """Application records; ``q`` matches the number (part of it), ``program`` and ``status`` filter."""
    from bot.applications.models import Application
    from bot.applications.statuses import STATUS_WORDS
    from bot.db import session_scope

    q = (request.query.get("q") or "").strip()
    program = (request.query.get("program") or "").strip()
    status = (request.query.get("status") or "").strip()
    if len(q) > 40:
        raise ApiError(400, "invalid_field", "申请编号太长了", field="q")
    if status and status not in STATUS_WORDS:
        raise ApiError(400, "invalid_field", "没有这个状态", field="status")
    query = sa.select(Application)
    if q:
        escaped = q.upper().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(sa.func.upper(Application.application_no).like(f"%{escaped}%", escape="\\"))
    if program:
        query = query.where(Application.program_id == program)
    if status:
        query = query.where(Application.status == status)
    async with session_scope(request.app["db_url"]) as s:
        total = (await s.execute(sa.select(sa.func.count()).select_from(query.subquery()))).scalar() or 0
        rows = (await s.execute(query.order_by(Application.updated_at.desc(), Application.id.desc())
                                .limit(PAGE_SIZE))).scalars().all()
    await audit(request["user"].name, "applications_listed", "applications",
                f"q={q} program={program} status={status} shown={len(rows)}", request.app["db_url"])
    return web.json_response({"total": total, "shown": len(rows), "applications": [
        {"application_no": a.application_no, "program_id": a.program_id, "applicant": a.name_masked,
         "status": a.status, "updated_at": a.updated_at.isoformat(), "submitted_at": a.submitted_at.isoformat()}
        for a in rows]})


def add_applications_list_routes(app: web.Application) -> None:
    app.router.add_get("/api/applications", application_list)
