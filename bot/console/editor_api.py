"""The knowledge editor's JSON API (``/api/editor/...``), for the ``/editor`` page and scripts.

Role ``editor`` (admins too); every state-changing call needs ``X-CSRF-Token`` (enforced by the console's
middleware). Errors are ``{"error", "message"}``, plus ``problems`` (422: what is wrong, next to which field)
or ``their_change`` (409: what the other editor changed since this one loaded the entry).
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Optional

from aiohttp import web

from bot.console.auth import require_role
from bot.console.errors import ApiError, int_param, read_json
from bot.editor import retraining
from bot.editor.entry_files import KINDS
from bot.editor.service import EditorError, EditorService
from bot.editor.training import Trainer, TrainingBusy, TrainingConfig
from bot.understanding.lexicon import concept_choices

MAX_BODY = 1024 * 1024


def _service(request: web.Request) -> EditorService:
    return request.app["editor"]


def _trainer(request: web.Request) -> Trainer:
    return request.app["editor_trainer"]


def _user(request: web.Request) -> str:
    return request["user"].name


async def _call(fn, *args, **kwargs):
    """Run a service call, turning its errors into the console's JSON errors."""
    try:
        result = fn(*args, **kwargs)
        if asyncio.iscoroutine(result):
            result = await result
        return result
    except EditorError as exc:
        extra = {k: v for k, v in exc.extra.items() if k != "current_text"}
        raise ApiError(exc.status, exc.error, exc.message, **extra)


async def _blocking(request: web.Request, fn, *args):
    # Reading and validating the knowledge base touches many files; keep it off the event loop.
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(None, lambda: fn(*args))
    except EditorError as exc:
        raise ApiError(exc.status, exc.error, exc.message, **exc.extra)


def _kind(request: web.Request) -> str:
    kind = request.match_info["kind"]
    if kind not in KINDS:
        raise ApiError(404, "not_found", f"没有这种条目：{kind}")
    return kind


def _data(body: dict) -> dict:
    data = body.get("data")
    if not isinstance(data, dict):
        raise ApiError(400, "missing_field", "缺少表单内容 data（一个对象）", field="data")
    return data


def _version(body: dict, required: bool = True) -> Optional[str]:
    version = body.get("version")
    if version is None and not required:
        return None
    if not isinstance(version, str) or not version:
        raise ApiError(400, "missing_field", "缺少版本号 version（打开条目时拿到的）", field="version")
    return version


@require_role("editor")
async def editor_kinds(request: web.Request) -> web.Response:
    """The kinds of entries and which can be created from a template"""
    from bot.editor.service import TEMPLATES
    return web.json_response({"kinds": [
        {"kind": k.name, "label": k.label, "can_create": (not k.items) and (TEMPLATES / f"{k.name}.yml").exists()}
        for k in KINDS.values()]})


@require_role("editor")
async def editor_list(request: web.Request) -> web.Response:
    """List entries with review status; filters: status, q (name or alias), kind"""
    status = request.query.get("status") or None
    if status and status not in ("verified", "unverified"):
        raise ApiError(400, "invalid_field", "status 只能是 verified 或 unverified", field="status")
    kind = request.query.get("kind") or None
    if kind and kind not in KINDS:
        raise ApiError(400, "invalid_field", f"没有这种条目：{kind}", field="kind")
    entries = await _blocking(request, _service(request).list_entries, status, request.query.get("q"), kind)
    return web.json_response({"entries": entries})


@require_role("editor")
async def editor_get(request: web.Request) -> web.Response:
    """One entry as a form model (fields, data, version) and as raw YAML"""
    entry = await _blocking(request, _service(request).get_entry, _kind(request), request.match_info["entry_id"])
    return web.json_response(entry)


@require_role("editor")
async def editor_concepts(request: web.Request) -> web.Response:
    """The concepts of knowledge/understanding.yml with a few of their words: the choices of a situation's when"""
    concepts = await _blocking(request, concept_choices, _service(request).knowledge_dir)
    return web.json_response({"concepts": concepts})


@require_role("editor")
async def editor_template(request: web.Request) -> web.Response:
    """A new entry's form from its kind's template (nothing is written until it is created)"""
    model = await _blocking(request, _service(request).new_entry, _kind(request),
                            request.query.get("id", ""), request.query.get("name", ""))
    return web.json_response(model)


@require_role("editor")
async def editor_preview(request: web.Request) -> web.Response:
    """How Huimin would answer each aspect with the unsaved form content, and what saving would reject"""
    body = await read_json(request, MAX_BODY)
    locality = body.get("locality") if isinstance(body.get("locality"), str) else None
    result = await _blocking(request, _service(request).preview, _kind(request), request.match_info["entry_id"],
                             _data(body), locality or None, bool(body.get("new")))
    return web.json_response(result)


@require_role("editor")
async def editor_save(request: web.Request) -> web.Response:
    """Save the form: validated like kb check, written with formatting kept, recorded in the history"""
    body = await read_json(request, MAX_BODY)
    result = await _call(_service(request).save, _kind(request), request.match_info["entry_id"], _data(body),
                         _version(body), _user(request))
    return web.json_response(result.to_json())


@require_role("editor")
async def editor_save_raw(request: web.Request) -> web.Response:
    """Save the entry's raw YAML (same validation, history and locking as the form)"""
    body = await read_json(request, MAX_BODY)
    raw = body.get("raw")
    if not isinstance(raw, str) or not raw.strip():
        raise ApiError(400, "missing_field", "缺少原文 raw", field="raw")
    result = await _call(_service(request).save_raw, _kind(request), request.match_info["entry_id"], raw,
                         _version(body), _user(request))
    return web.json_response(result.to_json())


@require_role("editor")
async def editor_create(request: web.Request) -> web.Response:
    """Create a new entry (programme, service, site, locality) from the template's form"""
    body = await read_json(request, MAX_BODY)
    result = await _call(_service(request).create, _kind(request), _data(body), _user(request))
    return web.json_response(result.to_json(), status=201)


@require_role("editor")
async def editor_review(request: web.Request) -> web.Response:
    """Mark the entry reviewed: status (verified/unverified), today's date and the editor's name"""
    body = await read_json(request)
    status = body.get("status", "verified")
    note = body.get("note") if isinstance(body.get("note"), str) and body.get("note").strip() else None
    result = await _call(_service(request).mark_reviewed, _kind(request), request.match_info["entry_id"],
                         _user(request), _version(body, required=False), status, note)
    return web.json_response(result.to_json())


@require_role("editor")
async def editor_history(request: web.Request) -> web.Response:
    """The entry's recorded changes, newest first, with readable diffs"""
    revisions = await _call(_service(request).history, _kind(request), request.match_info["entry_id"])
    return web.json_response({"revisions": revisions})


@require_role("editor")
async def editor_recent(request: web.Request) -> web.Response:
    """The latest changes to any entry"""
    return web.json_response({"revisions": await _call(_service(request).recent)})


@require_role("editor")
async def editor_revision(request: web.Request) -> web.Response:
    """One recorded change with the entry's text before and after"""
    rid = int_param(request.match_info["revision_id"], "revision_id")
    return web.json_response(await _call(_service(request).revision, rid))


@require_role("editor")
async def editor_restore(request: web.Request) -> web.Response:
    """Restore the entry as it was after (side=after) or before (side=before) a recorded change"""
    body = await read_json(request)
    rid = int_param(body.get("revision_id"), "revision_id")
    side = body.get("side", "after")
    if side not in ("after", "before"):
        raise ApiError(400, "invalid_field", "side 只能是 after 或 before", field="side")
    result = await _call(_service(request).restore, _kind(request), request.match_info["entry_id"], rid,
                         _user(request), _version(body, required=False), side)
    return web.json_response(result.to_json())


@require_role("editor")
async def editor_training_status(request: web.Request) -> web.Response:
    """Does the served model lag behind the knowledge base (aliases, example questions, entries)? Runs."""
    status = await retraining.status(request.app["settings"], request.app["db_url"])
    status["current"] = await _trainer(request).current()
    status["recent"] = await _trainer(request).recent()
    return web.json_response(status)


@require_role("editor")
async def editor_training_start(request: web.Request) -> web.Response:
    """Start a training run in the background (one at a time); the new model is loaded when it succeeds"""
    try:
        job = await _trainer(request).start(_user(request))
    except TrainingBusy as exc:
        raise ApiError(409, "training_running", "已经有一次训练在进行，请等它结束", job=exc.job)
    return web.json_response({"job": job}, status=202)


@require_role("editor")
async def editor_training_job(request: web.Request) -> web.Response:
    """A training run's status, progress and log"""
    job = await _trainer(request).get(int_param(request.match_info["job_id"], "job_id"))
    if job is None:
        raise ApiError(404, "not_found", "没有这次训练")
    return web.json_response({"job": job})


async def _start_sync(app: web.Application) -> None:
    # Consoles with their own copy of knowledge/ follow the others' saves (HUIMIN_KNOWLEDGE_SYNC=db).
    from bot.editor.publish import start_sync_from_env
    start_sync_from_env(Path(app["settings"].knowledge_dir))


async def _close_trainer(app: web.Application) -> None:
    await app["editor_trainer"].close()


OPENAPI_BODIES = {
    "POST /api/editor/entries/{kind}/{entry_id}/preview": {
        "data": "object: the form content (as returned in GET …/entries/{kind}/{entry_id} 'data')",
        "locality": "string, optional: a locality id to preview local answers"},
    "PUT /api/editor/entries/{kind}/{entry_id}": {
        "data": "object: the whole form content", "version": "string: the version the editor loaded"},
    "PUT /api/editor/entries/{kind}/{entry_id}/raw": {
        "raw": "string: the entry's YAML", "version": "string: the version the editor loaded"},
    "POST /api/editor/entries/{kind}": {"data": "object: the new entry's form content (with id)"},
    "POST /api/editor/entries/{kind}/{entry_id}/review": {
        "status": "verified|unverified", "version": "string, optional"},
    "POST /api/editor/entries/{kind}/{entry_id}/restore": {
        "revision_id": "integer", "side": "after|before", "version": "string, optional"},
}


def add_editor_api_routes(app: web.Application) -> None:
    settings = app["settings"]
    app["editor"] = EditorService(Path(settings.knowledge_dir), app["db_url"])
    app["editor_trainer"] = Trainer(app["db_url"], TrainingConfig.from_env(settings))
    bodies = app.get("openapi_bodies") or {}
    bodies.update(OPENAPI_BODIES)
    app["openapi_bodies"] = bodies
    app.on_startup.append(_start_sync)
    app.on_cleanup.append(_close_trainer)
    r = app.router
    r.add_get("/api/editor/kinds", editor_kinds)
    r.add_get("/api/editor/concepts", editor_concepts)
    r.add_get("/api/editor/entries", editor_list)
    r.add_get("/api/editor/revisions", editor_recent)
    r.add_get("/api/editor/revisions/{revision_id}", editor_revision)
    r.add_get("/api/editor/templates/{kind}", editor_template)
    r.add_post("/api/editor/entries/{kind}", editor_create)
    r.add_get("/api/editor/entries/{kind}/{entry_id}", editor_get)
    r.add_put("/api/editor/entries/{kind}/{entry_id}", editor_save)
    r.add_put("/api/editor/entries/{kind}/{entry_id}/raw", editor_save_raw)
    r.add_post("/api/editor/entries/{kind}/{entry_id}/preview", editor_preview)
    r.add_post("/api/editor/entries/{kind}/{entry_id}/review", editor_review)
    r.add_get("/api/editor/entries/{kind}/{entry_id}/history", editor_history)
    r.add_post("/api/editor/entries/{kind}/{entry_id}/restore", editor_restore)
    r.add_get("/api/editor/training", editor_training_status)
    r.add_post("/api/editor/training", editor_training_start)
    r.add_get("/api/editor/training/{job_id}", editor_training_job)
