"""The editor's part in each action server, run once at its start (``python -m bot actions``, found by
``bot.capability_modules("action_server")``): the knowledge sync of replicas that keep their own copy of
``knowledge/`` (``HUIMIN_KNOWLEDGE_SYNC=db``; see ``bot/editor/publish.py``)."""
from __future__ import annotations

from bot.editor.publish import start_sync_from_env


def start() -> None:
    start_sync_from_env()
