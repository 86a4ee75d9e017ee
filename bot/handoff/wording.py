"""Resident-facing text the handoff sends outside a Rasa action: responses of the domain files (e.g. a booking
cancelled by staff) and the handover's own short lines (staff label, waiting banner, 已收到) from
``knowledge/handoff_wording.yml`` — changing those needs no retraining."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Dict, Optional

import yaml

from bot.settings import get_settings

DOMAIN_DIR = Path(__file__).resolve().parent.parent / "domain"
WORDING_FILE = "handoff_wording.yml"


def response_text(name: str, **values: Any) -> str:
    for path in sorted(DOMAIN_DIR.glob("*.yml")):
        responses = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {}
        if name in responses:
            template = responses[name][0]["text"]
            return template.format_map({k: ("" if v is None else v) for k, v in values.items()})
    raise KeyError(name)


_cache: Dict[str, Any] = {}


def _wording() -> Dict[str, str]:
    """The wording file, re-read when it changes (cheap stat; staff may edit it on a running system)."""
    path = get_settings().knowledge_dir / WORDING_FILE
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        raise KeyError(f"{path} is missing")
    if _cache.get("key") != (str(path), mtime):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        _cache.update(key=(str(path), mtime), data={k: str(v) for k, v in data.items()})
    return _cache["data"]


def text(key: str, **values: Any) -> str:
    return _wording()[key].format_map({k: ("" if v is None else v) for k, v in values.items()})


def staff_label(staff_name: Optional[str]) -> str:
    return text("staff_label", name=staff_name or "").strip()


def wechat_staff_text(message: str, staff_name: Optional[str]) -> str:
    """A staff reply as WeChat shows it: the label first, since a WeChat message has no name of its own."""
    return text("wechat_staff_prefix", label=staff_label(staff_name)) + message


def waiting_banner(now: Optional[dt.datetime] = None, office_id: Optional[str] = None) -> str:
    """What the web page keeps showing while a person is awaited: in office hours, or when they will answer."""
    from bot.handoff.offices import load_offices

    offices = load_offices()
    office = offices.get(office_id or None)
    now = now or offices.now()
    if office.is_open(now):
        return text("waiting_banner")
    return text("waiting_banner_after_hours", next_open=next_open_words(office, now))


def next_open_words(office: Any, now: dt.datetime) -> str:
    """When staff are back, in words (明天上午8:30), or the wording for "not within the next two weeks"."""
    from bot.handoff.offices import describe_opening

    opening = office.next_opening(now)
    return describe_opening(opening, now) if opening else text("next_open_unknown")
