"""Text messages to a resident's mobile (one-time codes), through a pluggable sender.

``HUIMIN_SMS_SENDER`` names the sender as ``module:attribute`` — a class or factory taking no arguments that
returns an object with ``async send(phone: str, text: str) -> None`` (see ``SmsSender``). The default,
``bot.sms:LoggingSender``, only writes the message to the log (the number masked): for development and tests.
The bureau's gateway is plugged in by writing such a class (its credentials read from the environment) and
setting ``HUIMIN_SMS_SENDER`` to it; ``send`` raises ``SmsError`` when the gateway refuses the message.
"""
from __future__ import annotations

import importlib
import logging
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import yaml

from bot.privacy import mask_phone
from bot.settings import get_settings

logger = logging.getLogger(__name__)

DEFAULT_SENDER = "bot.sms:LoggingSender"
TEXTS_FILE = Path(__file__).with_name("texts.yml")


class SmsError(RuntimeError):
    """The message could not be sent (gateway down, number refused)."""


class SmsSender(Protocol):
    async def send(self, phone: str, text: str) -> None:  # pragma: no cover - interface
        """Send ``text`` to the mainland mobile ``phone`` (11 digits); raise ``SmsError`` on failure."""


class LoggingSender:
    """Development sender: the message goes to the log instead of a phone (the number masked)."""

    async def send(self, phone: str, text: str) -> None:
        logger.warning("SMS (development sender, not sent) to %s: %s", mask_phone(phone), text)


@lru_cache(maxsize=4)
def _load(spec: str) -> SmsSender:
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"HUIMIN_SMS_SENDER must be module:attribute, not {spec!r}")
    return getattr(importlib.import_module(module), attr)()


def get_sender() -> SmsSender:
    return _load(get_settings().sms_sender or DEFAULT_SENDER)


@lru_cache(maxsize=1)
def texts() -> dict:
    return yaml.safe_load(TEXTS_FILE.read_text(encoding="utf-8"))
