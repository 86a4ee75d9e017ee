"""A conversation as staff read it, from a Rasa tracker (``bot.rasa.http_api.RasaAPI.tracker``)."""
from __future__ import annotations

from typing import Any, Dict, List


def transcript(tracker: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The readable part of a tracker: what the resident, Huimin and staff said, plus pause/resume marks."""
    out: List[Dict[str, Any]] = []
    for e in tracker.get("events") or []:
        kind = e.get("event")
        if kind == "user":
            out.append({"who": "resident", "text": e.get("text") or "", "at": e.get("timestamp"),
                        "intent": ((e.get("parse_data") or {}).get("intent") or {}).get("name")})
        elif kind == "bot":
            agent = (e.get("metadata") or {}).get("human_agent")
            data = e.get("data") or {}
            buttons = [b.get("title") for b in (data.get("buttons") or []) if isinstance(b, dict)]
            out.append({"who": "staff" if agent else "huimin", "staff": agent, "text": e.get("text") or "",
                        "buttons": buttons, "at": e.get("timestamp")})
        elif kind in ("pause", "resume", "session_started"):
            out.append({"who": "system", "event": kind, "at": e.get("timestamp")})
    return out


def resident_messages_since(tracker: Dict[str, Any], since_ts: float) -> List[Dict[str, Any]]:
    return [e for e in tracker.get("events") or []
            if e.get("event") == "user" and (e.get("timestamp") or 0) >= since_ts]
