"""Web-chat session ids: a credential the page keeps (it names the conversation), so the server signs the ids it
issues and stops honouring one that has been idle too long — on a shared computer in a community centre the next
person must not see the previous person's answers. Used by the socket.io channel (which issues and checks ids)
and the console's /chat endpoints (which check them)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from typing import Any, Optional

from bot.settings import get_settings

SESSION_ID_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_RANDOM_HEX = 24  # 96 bits of randomness
_MAC_CHARS = 22   # 132 bits of HMAC-SHA256, base64url


def _mac(random_part: str, key: Optional[str] = None) -> str:
    key = key if key is not None else get_settings().secret_key
    digest = hmac.new(key.encode(), b"huimin-chat-session:" + random_part.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:_MAC_CHARS]


def new_session_id(key: Optional[str] = None) -> str:
    random_part = secrets.token_hex(_RANDOM_HEX // 2)
    return f"{random_part}_{_mac(random_part, key)}"


def is_signed(session_id: Any, key: Optional[str] = None) -> bool:
    """True for an id this server issued (whatever its age); False for anything else, never an exception."""
    if not isinstance(session_id, str) or not SESSION_ID_RE.fullmatch(session_id):
        return False
    random_part, _, mac = session_id.partition("_")
    if len(random_part) != _RANDOM_HEX or len(mac) != _MAC_CHARS:
        return False
    return hmac.compare_digest(mac, _mac(random_part, key))


def idle_limit_seconds() -> float:
    return get_settings().chat_idle_minutes * 60.0


def is_idle(last_event_at: Optional[float], paused: bool, now: Optional[float] = None) -> bool:
    """A conversation nobody has touched for longer than the limit is over for the page. One that waits for a
    person (paused) is kept: the answer may come the next morning."""
    if paused or not last_event_at:
        return False
    return (now or time.time()) - float(last_event_at) > idle_limit_seconds()
