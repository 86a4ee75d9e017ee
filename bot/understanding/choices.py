"""A choice among the buttons of the last answer, typed instead of tapped: "第二个", "选1", "要头一个吧",
"最后那个". Residents on WeChat often cannot tap (voice input, an old phone) and answer a list by its position.
Pure functions; the action server finds the buttons in the conversation (``actions/understanding.py``)."""
from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

_POSITIONS = {"一": 1, "1": 1, "头": 1, "首": 1, "二": 2, "两": 2, "2": 2, "三": 3, "3": 3, "四": 4, "4": 4,
              "五": 5, "5": 5, "六": 6, "6": 6}
# Only a short message that is nothing but a position: "第二个", "选2", "就第一个吧", "最后一个".
_CHOICE = re.compile(r"^(?:我)?(?:选|要|就|点|看|想要|想看|选择)?(?:第)?(一|二|两|三|四|五|六|1|2|3|4|5|6|头|首|最后)"
                     r"(?:一)?(?:个|项|条|种|样|号)?(?:吧|的|那个|这个|呗|啊|呀)?$")
_PAYLOAD = re.compile(r"^/(?P<intent>[a-z_]+)(?P<entities>\{.*\})?$")


def position(text: str) -> Optional[int]:
    """1-based position chosen (-1 for the last), or None when the text is not a bare choice."""
    m = _CHOICE.match(text or "")
    if not m:
        return None
    word = m.group(1)
    return -1 if word == "最后" else _POSITIONS.get(word)


def choose(text: str, buttons: Sequence[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The button the text chooses by position, if any."""
    n = position(text)
    if n is None or not buttons:
        return None
    if n == -1:
        return buttons[-1]
    return buttons[n - 1] if n <= len(buttons) else None


def parse_payload(payload: str) -> Optional[Tuple[str, Dict[str, Any]]]:
    """("/ask_overview{\\"program\\": \\"dibao\\"}") → ("ask_overview", {"program": "dibao"})."""
    m = _PAYLOAD.match((payload or "").strip())
    if not m:
        return None
    entities: Dict[str, Any] = {}
    if m.group("entities"):
        try:
            loaded = json.loads(m.group("entities"))
        except ValueError:
            return None
        if not isinstance(loaded, dict):
            return None
        entities = {str(k): v for k, v in loaded.items() if isinstance(v, (str, int, float))}
    return m.group("intent"), entities


def last_buttons(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The buttons of the assistant's last message before the latest user message (rasa-sdk event dicts)."""
    seen_user = False
    for event in reversed(events):
        kind = event.get("event")
        if kind == "user":
            if seen_user:
                return []
            seen_user = True
        elif kind == "bot" and seen_user:
            buttons = (event.get("data") or {}).get("buttons") or []
            if buttons:
                return [b for b in buttons if isinstance(b, dict) and b.get("payload")]
    return []


# Words on a button that say what it does, not what it is about.
_BUTTON_VERBS = ("了解", "预约", "看看", "问")


def by_name(text: str, buttons: Sequence[Dict[str, Any]], min_chars: int = 2) -> Optional[Dict[str, Any]]:
    """The one button whose name shares the longest run of characters (at least ``min_chars``) with the text:
    "改造那个 要自己掏钱吗" under a list with 了解适老化改造."""
    best: List[Tuple[int, Dict[str, Any]]] = []
    for button in buttons:
        name = str(button.get("title") or "")
        for verb in _BUTTON_VERBS:
            name = name.removeprefix(verb)
        longest = max((n for n in range(len(name), min_chars - 1, -1)
                       if any(name[i:i + n] in text for i in range(len(name) - n + 1))), default=0)
        if longest:
            best.append((longest, button))
    best.sort(key=lambda b: -b[0])
    if not best or (len(best) > 1 and best[0][0] == best[1][0]):
        return None
    return best[0][1]


def programs_offered(buttons: Sequence[Dict[str, Any]], kinds: Sequence[str] = ("program",)) -> List[str]:
    """Ids of the programmes (or other ``kinds`` of entry: service, service_item) the buttons lead to, in order."""
    out: List[str] = []
    for button in buttons:
        parsed = parse_payload(str(button.get("payload") or ""))
        for kind in kinds:
            value = parsed[1].get(kind) if parsed else None
            if isinstance(value, str) and value not in out:
                out.append(value)
    return out


# What the buttons of a list of entries do (a recommendation, a programme picker): open one, book one, or ask for a
# person — never ask an aspect of the programme just answered.
ENTRY_INTENTS = ("ask_overview", "book_service", "request_human")


def is_list_of_entries(buttons: Sequence[Dict[str, Any]]) -> bool:
    """The buttons offer two or more entries and nothing else (a choice "named in part" is among such a list)."""
    parsed = [parse_payload(str(b.get("payload") or "")) for b in buttons]
    if not parsed or any(p is None or p[0] not in ENTRY_INTENTS for p in parsed):
        return False
    return len(programs_offered(buttons, ("program", "service", "service_item"))) >= 2
