"""What staff read instead of codes: programme names for ids (dibao → 低保), application statuses in words
(public_notice → 公示中), booking services and sites by name, channels in words. Read from the knowledge
base and the booking catalogue, so the console never keeps its own copy of these names."""
from __future__ import annotations

import logging
from typing import Dict

from aiohttp import web

from bot.console.auth import require_role

log = logging.getLogger(__name__)

# The product's own channel ids (bot/credentials.yml), not content: these are the console's words for them.
CHANNELS = {"socketio": "网页", "wechat": "微信", "rest": "测试接口", "cmdline": "命令行"}


def programme_names() -> Dict[str, str]:
    try:
        from bot.knowledge.loader import default_store
        return {pid: (p.short_name or p.name) for pid, p in default_store().get().programs.items()}
    except Exception as exc:  # the console still works with codes
        log.warning("programme names unavailable: %s", type(exc).__name__)
        return {}


def locality_names() -> Dict[str, str]:
    try:
        from bot.knowledge.loader import default_store
        return {lid: (loc.short_name or loc.name) for lid, loc in default_store().get().localities.items()}
    except Exception as exc:
        log.warning("locality names unavailable: %s", type(exc).__name__)
        return {}


def status_words() -> Dict[str, str]:
    from bot.applications.statuses import STATUS_WORDS
    words = dict(STATUS_WORDS)
    try:
        from bot.applications.status_text import load_status_texts
        words.update({code: t.label for code, t in load_status_texts().items()})
    except Exception as exc:
        log.warning("status labels unavailable: %s", type(exc).__name__)
    return words


def catalogue_names() -> Dict[str, Dict[str, str]]:
    try:
        from bot.booking.catalogue import get_catalogue
        cat = get_catalogue()
        return {"services": {k: s.name for k, s in cat.services.items()},
                "sites": {k: s.name for k, s in cat.sites.items()}}
    except Exception as exc:
        log.warning("booking catalogue unavailable: %s", type(exc).__name__)
        return {"services": {}, "sites": {}}


def all_labels() -> dict:
    return {"programs": programme_names(), "statuses": status_words(), "channels": CHANNELS,
            "booking_statuses": {"booked": "已预约", "cancelled": "已取消"}, **catalogue_names()}


@require_role("staff")
async def labels(request: web.Request) -> web.Response:
    """Names for the codes the console shows: programmes, statuses, channels, services, sites."""
    return web.json_response(all_labels())


def add_labels_routes(app: web.Application) -> None:
    app.router.add_get("/api/labels", labels)
