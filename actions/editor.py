"""The editor's part in the action server: no actions, only the knowledge sync for replicas that keep their own
copy of ``knowledge/`` (``HUIMIN_KNOWLEDGE_SYNC=db``; see ``bot/editor/publish.py``). rasa_sdk imports every
module of the ``actions`` package, so this runs once in each action server process."""
from bot.editor.publish import start_sync_from_env

start_sync_from_env()
