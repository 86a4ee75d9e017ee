"""Log redaction that survives every logging set-up of Rasa and rasa-sdk.

``bot/logging.yml`` (passed to both servers with their ``--logging-config-file`` option) attaches
``bot.privacy.RedactingFilter`` to the console handler. Rasa then replaces the root stream handler with its
coloured one, losing handler filters; so the same factory also installs redaction at record *creation*
(a LogRecord factory), which holds for every logger and every handler added later, and pre-formats
exception tracebacks with their personal numbers masked.
"""
from __future__ import annotations

import logging

from bot.privacy import RedactingFilter, redact_text

_installed = False


def install_record_redaction() -> None:
    """Mask ID and mobile numbers in every log record when it is created (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = str(record.msg)
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the traceback is printed masked.
            record.exc_text = redact_text(formatter.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def redacting_filter() -> RedactingFilter:
    """``logging.config.dictConfig`` factory for the ``redact`` filter in bot/logging.yml."""
    install_record_redaction()
    return RedactingFilter()
