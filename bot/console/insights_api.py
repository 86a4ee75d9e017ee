"""The insights JSON API (``/api/insights/...``, role editor) behind ``/editor/insights``: what residents asked
that Huimin could not answer, grouped; charts; acting on a group; replaying acted-on groups after a retrain.

The tracker store is read incrementally when the page asks (``refresh=1``) and every
``HUIMIN_INSIGHTS_INTERVAL`` seconds (default 300; 0 turns the timer off) — in the console, never in Rasa.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from aiohttp import web

from bot.console.auth import require_role
from bot.console.errors import ApiError, int_param, read_json
from bot.editor.retraining import served_model
from bot.editor.service import EditorError
from bot.editor.training import TrainingConfig
from bot.rasa.http_api import RasaUnavailable
from bot.insights import actions, feedback, second_reading
from bot.insights.service import Insights, InsightsError, for_app
from bot.retention.policies import CONVERSATION_DAYS_ENV, CONVERSATION_DEFAULT_DAYS, Policy
from bot.understanding.lexicon import concept_choices

log = logging.getLogger(__name__)


def _insights(request: web.Request) -> Insights:
    return for_app(request.app)


async def _call(coro):
    try:
        return await coro
    except InsightsError as exc:
        raise ApiError(exc.status, exc.error, exc.message)


def _retention_days() -> int:
    try:
        return Policy("conversations", "events", "timestamp", CONVERSATION_DAYS_ENV, CONVERSATION_DEFAULT_DAYS).days()
    except ValueError:
        return CONVERSATION_DEFAULT_DAYS


async def _replay(app: web.Application, group_ids=None) -> dict:
    """Replay acted-on groups (those not yet replayed on the served model, or the given ones)."""
    model = await served_model(app["settings"])
    if model is None:
        raise ApiError(503, "rasa_unavailable", "连不上 Rasa 服务器，暂时不能重放")
    insights = for_app(app)
    ids = group_ids if group_ids is not None else await insights.stale_replays(model)
    if not ids:
        return {"model": model, "groups": []}
    try:
        results = await insights.replay(app["rasa"].parse, model, ids,
                                        second_reading.understood(app["editor"].knowledge_dir))
    except RasaUnavailable as exc:
        raise ApiError(503, "rasa_unavailable", f"重放没有完成：{exc}")
    return {"model": model, "groups": results}


@require_role("editor")
async def overview(request: web.Request) -> web.Response:
    """Charts and top groups; refresh=1 reads new conversations first and replays groups the served model has
    not seen"""
    insights = _insights(request)
    if request.query.get("refresh") == "1":
        await insights.refresh()
        with contextlib.suppress(ApiError):
            await _replay(request.app)
    data = await insights.overview()
    data.update(weeks_available=await insights.weeks(), retention_days=_retention_days(),
                served_model=await served_model(request.app["settings"]))
    return web.json_response(data)


@require_role("editor")
async def groups(request: web.Request) -> web.Response:
    """Groups of similar unanswered messages; sort=count|recent, week=YYYY-Www, acted=1|0"""
    sort = request.query.get("sort", "count")
    if sort not in ("count", "recent"):
        raise ApiError(400, "invalid_field", "sort 只能是 count 或 recent", field="sort")
    acted = {"1": True, "0": False}.get(request.query.get("acted", ""))
    rows = await _insights(request).groups(sort=sort, week=request.query.get("week") or None, acted=acted)
    return web.json_response({"groups": rows})


@require_role("editor")
async def group(request: web.Request) -> web.Response:
    """One group with every distinct message (masked as stored), and the concepts of knowledge/understanding.yml
    (for a situation's ``when``) with how many of the messages mention each"""
    gid = int_param(request.match_info["group_id"], "group_id")
    data = await _call(_insights(request).group(gid))
    kdir = request.app["editor"].knowledge_dir
    loop = asyncio.get_running_loop()
    found = await loop.run_in_executor(None, actions.concepts_found, kdir, data["texts"])
    choices = await loop.run_in_executor(None, concept_choices, kdir)
    data["concepts"] = [{**c, "found": found.get(c["id"], 0)} for c in choices]
    return web.json_response(data)


@require_role("editor")
async def act(request: web.Request) -> web.Response:
    """Act on a group: examples / alias / situation (saved through the editor), out_of_scope, task"""
    gid = int_param(request.match_info["group_id"], "group_id")
    body = await read_json(request)
    root = TrainingConfig.from_env(request.app["settings"]).source_root
    try:
        result = await _call(actions.act(_insights(request), request.app["editor"], root, gid, body,
                                         request["user"].name))
    except EditorError as exc:
        raise ApiError(exc.status, exc.error, exc.message,
                       **{k: v for k, v in exc.extra.items() if k != "current_text"})
    return web.json_response(result)


@require_role("editor")
async def replay(request: web.Request) -> web.Response:
    """Replay every acted-on group's messages through the served model now (/model/parse)"""
    ids = await _insights(request).acted_groups()
    return web.json_response(await _replay(request.app, ids))


@require_role("editor")
async def tasks(request: web.Request) -> web.Response:
    """The editors' "needs new content" list (status=open|done|all)"""
    status = request.query.get("status", "open")
    if status not in ("open", "done", "all"):
        raise ApiError(400, "invalid_field", "status 只能是 open、done 或 all", field="status")
    return web.json_response({"tasks": await _insights(request).tasks(None if status == "all" else status)})


@require_role("editor")
async def task_done(request: web.Request) -> web.Response:
    """Mark a task done"""
    tid = int_param(request.match_info["task_id"], "task_id")
    return web.json_response(await _call(_insights(request).finish_task(tid)))


@require_role("editor")
async def program_feedback(request: web.Request) -> web.Response:
    """Residents' votes on one programme's answers, per aspect, with the latest 缺了什么 notes"""
    program = request.query.get("program", "")
    if not program or len(program) > 128:
        raise ApiError(400, "missing_field", "缺少 program", field="program")
    return web.json_response(await feedback.for_program(request.app["db_url"], program))


async def _timer(app: web.Application) -> None:
    interval = float(os.environ.get("HUIMIN_INSIGHTS_INTERVAL", "300") or 0)
    if interval <= 0:
        return

    async def loop():
        while True:
            await asyncio.sleep(interval)
            try:
                await for_app(app).refresh()
            except Exception:  # the tracker store may be briefly unreachable; try again next time
                log.exception("insights refresh failed")
    app["insights_timer"] = asyncio.get_running_loop().create_task(loop())


async def _stop_timer(app: web.Application) -> None:
    task = app.get("insights_timer")
    if task:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


OPENAPI_BODIES = {
    "POST /api/insights/groups/{group_id}/action": {
        "action": "examples|alias|situation|out_of_scope|task",
        "entry": "string: e.g. program:dibao (examples, alias, situation; situation also service:meal)",
        "why": "string: the reason residents read (situation)",
        "when": "array of concept ids of knowledge/understanding.yml, all needed (situation)",
        "aspect": "string: the aspect whose example questions get the texts (examples)",
        "texts": "array of strings: messages of the group (examples, situation, out_of_scope)",
        "alias": "string (alias)", "title": "string (task)", "note": "string (task)"},
}


def add_insights_routes(app: web.Application) -> None:
    for_app(app)
    bodies = app.get("openapi_bodies") or {}
    bodies.update(OPENAPI_BODIES)
    app["openapi_bodies"] = bodies
    trainer = app.get("editor_trainer")
    if trainer is not None:
        async def after_training(model_path: str) -> None:
            # The retrained model is served now: show how many of the acted-on messages it understands.
            await _replay(app)
        trainer.on_model_loaded.append(after_training)
    app.on_startup.append(_timer)
    app.on_cleanup.append(_stop_timer)
    r = app.router
    r.add_get("/api/insights/overview", overview)
    r.add_get("/api/insights/groups", groups)
    r.add_get("/api/insights/groups/{group_id}", group)
    r.add_post("/api/insights/groups/{group_id}/action", act)
    r.add_post("/api/insights/replay", replay)
    r.add_get("/api/insights/tasks", tasks)
    r.add_post("/api/insights/tasks/{task_id}/done", task_done)
    r.add_get("/api/insights/feedback", program_feedback)
