"""Personal data: keyed hashes, masks, redaction of ID/phone numbers in free text, and the encryption of the
few numbers staff must be able to read in full (call-back numbers, booking phones).

Used by the application records, bookings, the handoff, the tracker store, log records and the console,
so that one definition of "what is personal" holds everywhere.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import unicodedata
from typing import Any, Optional

from cryptography.fernet import Fernet, InvalidToken

from bot.settings import get_settings

# An 18-character resident ID anywhere in text (Chinese text has no word boundaries, so use look-arounds).
ID_NUMBER_RE = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5})(\d{8})(\d{3})([0-9Xx])(?![0-9A-Za-z])")
# A mainland mobile number: 11 digits starting 1[3-9], optionally written 3-4-4 with spaces or dashes.
MOBILE_RE = re.compile(r"(?<!\d)(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)")
# A bare run of 6 characters a resident types as "the last 6 of my ID" is masked when we know it is an answer.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def to_halfwidth(text: str) -> str:
    """Full-width digits/letters/punctuation to ASCII (NFKC also folds compatibility forms)."""
    return unicodedata.normalize("NFKC", text)


def id_number_valid(value: str) -> bool:
    value = value.upper()
    if not re.fullmatch(r"[1-9]\d{16}[0-9X]", value):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == value[17]


def keyed_hash(value: str, purpose: str) -> str:
    """HMAC-SHA256 with the server secret; ``purpose`` separates e.g. ID hashes from phone hashes."""
    key = get_settings().hash_key.encode()
    msg = f"{purpose}:{value.strip().upper()}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def _fernet(purpose: str) -> Fernet:
    # A key per purpose, derived from the server secret: the secret itself never touches a ciphertext, and a
    # ciphertext of one purpose cannot be read as another's.
    key = hmac.new(get_settings().secret_key.encode(), purpose.encode(), hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(value: str, purpose: str) -> str:
    """``value`` encrypted (Fernet) under a key derived from HUIMIN_SECRET_KEY for ``purpose``."""
    return _fernet(purpose).encrypt(value.encode()).decode()


def decrypt(ciphertext: str, purpose: str) -> Optional[str]:
    """The plain value, or None when it was written under another secret key (or is not a ciphertext)."""
    try:
        return _fernet(purpose).decrypt(ciphertext.encode()).decode()
    except (InvalidToken, ValueError):
        return None


def mask_id(value: str) -> str:
    """110105********123X — region prefix and last four only."""
    value = value.strip().upper()
    return value[:6] + "*" * 8 + value[-4:] if len(value) == 18 else "*" * len(value)


def mask_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return digits[:3] + "****" + digits[-4:] if len(digits) == 11 else "*" * len(digits)


def mask_name(name: str) -> str:
    """张*国 / 李* — the display form staff and residents see."""
    name = name.strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def redact_text(text: Any) -> Any:
    """Mask every full ID number and mobile number in ``text`` (non-strings are returned unchanged)."""
    if not isinstance(text, str) or not text:
        return text
    folded = to_halfwidth(text)
    folded = ID_NUMBER_RE.sub(lambda m: m.group(1) + "*" * 8 + "****", folded)
    folded = MOBILE_RE.sub(lambda m: m.group(1) + "****" + m.group(3), folded)
    return folded if folded != to_halfwidth(text) else text


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string must not lose the record
        message = str(record.msg)
    redacted = redact_text(message)
    if redacted != message:
        record.msg, record.args = redacted, ()


class RedactingFilter(logging.Filter):
    """Masks personal numbers in every log record that passes through the handler it is attached to."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


_record_factory_installed = False


def install_log_redaction() -> None:
    """Mask ID and mobile numbers in every log record when it is created (idempotent).

    Rasa and rasa-sdk replace the root handlers with their own (losing handler filters), so redaction is
    installed in the LogRecord factory: it holds for every logger and every handler added later, and exception
    tracebacks are pre-formatted with their personal numbers masked.
    """
    global _record_factory_installed
    if _record_factory_installed:
        return
    previous = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _redact_record(record)
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the traceback is printed masked.
            record.exc_text = redact_text(formatter.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return record

    logging.setLogRecordFactory(factory)
    _record_factory_installed = True
