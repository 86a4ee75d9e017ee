"""The tracker store's old name: it is ``bot.rasa.tracker_store`` now. Kept only for tests/test_insights.py, which
another change is rewriting; remove this module once that test imports the new name."""
from bot.rasa.tracker_store import HuiminTrackerStore  # noqa: F401
