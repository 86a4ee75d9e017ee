"""How long a resident's message may be, and what every channel says when it is longer.

Nobody types more than a few sentences to ask about welfare; a message of thousands of characters is pasted by
mistake or sent to tie up the assistant (NLU and the booking parser take time that grows with the length).
Each channel checks before the message reaches Rasa and answers kindly instead.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

MAX_MESSAGE_CHARS = 1000
MESSAGES_FILE = Path(__file__).with_name("messages.yml")


def too_long(text: str) -> bool:
    return len(text) > MAX_MESSAGE_CHARS


@lru_cache(maxsize=1)
def too_long_reply() -> str:
    texts = yaml.safe_load(MESSAGES_FILE.read_text(encoding="utf-8"))
    return texts["too_long"].format(limit=MAX_MESSAGE_CHARS)
