"""The short summary a staff member reads before taking a conversation: the last messages and what was
being discussed. Personal numbers are masked (bot.privacy)."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List

from bot.privacy import redact_text

# Slots that say what the resident was dealing with (set by the knowledge, booking and status actions).
CONTEXT_SLOTS = ("program", "service_item", "service", "site", "locality", "application_no")
CONTEXT_LABELS = {"program": "政策", "service_item": "养老服务", "service": "预约服务", "site": "服务点",
                  "locality": "地区", "application_no": "申请编号"}


def last_messages(events: Iterable[Dict[str, Any]], limit: int = 6) -> List[str]:
    lines: List[str] = []
    for e in events:
        if e.get("event") == "user" and e.get("text"):
            lines.append("居民：" + str(redact_text(e["text"]))[:200])
        elif e.get("event") == "bot" and e.get("text"):
            who = "工作人员" if (e.get("metadata") or {}).get("human_agent") else "惠民"
            lines.append(f"{who}：" + str(redact_text(e["text"])).replace("\n", " ")[:120])
    return lines[-limit:]


def context_line(slots: Dict[str, Any]) -> str:
    parts = [f"{CONTEXT_LABELS[k]}：{redact_text(str(slots[k]))}" for k in CONTEXT_SLOTS if slots.get(k)]
    return "；".join(parts)


def summarise(events: Iterable[Dict[str, Any]], slots: Dict[str, Any]) -> Dict[str, str]:
    return {"summary": "\n".join(last_messages(events)), "context": context_line(slots)}
