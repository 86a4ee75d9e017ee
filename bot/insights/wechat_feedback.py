"""有用/没用 on WeChat, without noise under every answer: after the **second** knowledge answer of a conversation
the reply ends with two numbered choices; the resident's number comes back as a payload the channel keeps to
itself (it never reaches Rasa) and is stored like the web page's vote (``bot/insights/feedback.py``).

Runs in the WeChat channel (inside Rasa's process): one read of the conversation's newest events from the
tracker store, only for replies that carry buttons (knowledge answers do), after Rasa has saved the turn.
"""
from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Optional

import yaml

from bot.insights import feedback
from bot.insights.tracker import TrackerReader, turns
from bot.settings import get_settings

log = logging.getLogger(__name__)

PREFIX = "#huimin-feedback:"
ASK_AFTER_ANSWER = 2


@lru_cache(maxsize=1)
def texts() -> Dict[str, str]:
    return yaml.safe_load((Path(__file__).with_name("wechat_feedback.yml")).read_text(encoding="utf-8"))


_readers: Dict[str, TrackerReader] = {}


def _reader() -> TrackerReader:
    url = get_settings().tracker_db_url
    if url not in _readers:
        _readers[url] = TrackerReader(url)
    return _readers[url]


def _question(sender_id: str) -> Optional[Dict[str, Any]]:
    events = _reader().conversation_tail(sender_id, limit=200)
    all_turns = list(turns(events))
    answers = [t.answer_event() for t in all_turns]
    answers = [a for a in answers if a is not None]
    if not all_turns or all_turns[-1].answer_event() is None or len(answers) != ASK_AFTER_ANSWER:
        return None
    answer_id = answers[-1].id
    t = texts()
    return {"text": t["question"], "buttons": [{"title": t["helpful"], "payload": f"{PREFIX}1:{answer_id}"},
                                               {"title": t["unhelpful"], "payload": f"{PREFIX}0:{answer_id}"}]}


async def question_for(sender_id: str) -> Optional[Dict[str, Any]]:
    """The numbered question to add to this reply, or None (not a knowledge answer, or not the second one)."""
    try:
        return await asyncio.get_running_loop().run_in_executor(None, _question, sender_id)
    except Exception:  # feedback must never cost the resident the answer itself
        log.exception("could not decide on asking for feedback")
        return None


def is_vote(text: str) -> bool:
    return text.startswith(PREFIX)


async def record_vote(sender_id: str, payload: str) -> str:
    """Store the vote ``payload`` (from a numbered choice); returns the thanks to send."""
    try:
        helpful, answer_id = payload[len(PREFIX):].split(":", 1)
        await feedback.store(None, _reader(), sender_id, int(answer_id), helpful == "1")
    except Exception:  # a stale or odd payload: thank anyway, nothing to fix for the resident
        log.exception("WeChat feedback could not be stored")
    return texts()["thanks"]
