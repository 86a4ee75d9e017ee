"""``logging.config.dictConfig`` hook for bot/logging.yml (passed to the Rasa server and the action server).

The filter masks records passing the configured handler; ``install_log_redaction`` additionally masks every
record at creation, because Rasa replaces the root handler with its own (see ``bot.privacy``).
"""
from __future__ import annotations

from bot.privacy import RedactingFilter, install_log_redaction


def redacting_filter() -> RedactingFilter:
    """Factory for the ``redact`` filter in bot/logging.yml."""
    install_log_redaction()
    return RedactingFilter()
