"""While a conversation waits for a person, Rasa is paused: it logs what the resident types and answers nothing
(rasa/core/processor.py, ``_should_handle_message``). The channels call this after handing a message to Rasa, so
that each such message is acknowledged once instead of vanishing. Runs in the Rasa process."""
from __future__ import annotations

import logging
from typing import Any, Optional

from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

from bot.handoff import wording

log = logging.getLogger(__name__)


def agent_of(sanic_app: Any) -> Any:
    """Rasa's agent, kept on the Sanic app (None before the server has started)."""
    return getattr(getattr(sanic_app, "ctx", None), "agent", None)


def tracker_store_of(agent: Any) -> Any:
    store = getattr(agent, "tracker_store", None)
    return store if store is not None else getattr(getattr(agent, "processor", None), "tracker_store", None)


def swallowed(tracker: Any) -> bool:
    """True when the newest user message landed in a paused conversation and nothing has answered it. The message
    that asked for a person is not one: action_handoff answered it before the pause."""
    if tracker is None or not tracker.is_paused():
        return False
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return True
        if isinstance(event, (ActionExecuted, BotUttered)):
            return False
    return False


async def acknowledgement(agent: Any, sender_id: str) -> Optional[str]:
    """The 已收到 line for the resident's newest message if it was swallowed by the pause, else None."""
    store = tracker_store_of(agent)
    if store is None:
        return None
    try:
        tracker = await store.retrieve(sender_id)
    except Exception as exc:  # the message itself is logged; only the courtesy line is lost
        log.warning("could not read the tracker for an acknowledgement: %s", type(exc).__name__)
        return None
    return wording.text("received") if swallowed(tracker) else None
