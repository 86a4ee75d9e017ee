"""Understanding the numbers residents type: application numbers and verification answers.

Residents type numbers with spaces, in lower case, with full-width characters, or dictate them by voice
("MZ2026杠000101"); everything is folded to one canonical form before it is compared.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from bot.privacy import id_number_valid, to_halfwidth

# Spoken or typed separators that stand for "-" inside a number.
_DASHES = re.compile(r"[杠横─—–―‐‑‒－\-_~～]")
_SPACES = re.compile(r"\s+")

# An application number: a letter prefix, then digits, optionally separated by spaces or dashes.
_APP_NO_IN_TEXT = re.compile(r"(?<![A-Z0-9])([A-Z]{1,6}(?:[ \-]*[0-9]){6,24})(?![0-9])")
CANONICAL_APP_NO = re.compile(r"[A-Z0-9]{6,40}")


def fold(text: str) -> str:
    """Half-width, upper case, spoken dashes as '-', runs of whitespace as one space."""
    text = to_halfwidth(text or "").upper()
    text = _DASHES.sub("-", text)
    return _SPACES.sub(" ", text).strip()


def canonical_application_no(value: str) -> Optional[str]:
    """'mz 2026-000101' / 'ＭＺ２０２６杠０００１０１' -> 'MZ2026000101'; None if it cannot be a number."""
    folded = fold(value)
    compact = re.sub(r"[ \-.]", "", folded)
    if not CANONICAL_APP_NO.fullmatch(compact) or sum(c.isdigit() for c in compact) < 6:
        return None
    return compact


def find_application_no(text: str, whole_message_is_number: bool = False) -> Optional[str]:
    """The application number inside a message ("帮我查下 MZ2026000101 办得怎么样了").

    With ``whole_message_is_number`` (the assistant just asked for the number), a message that is nothing but
    a number without a letter prefix is accepted too.
    """
    folded = fold(text)
    match = _APP_NO_IN_TEXT.search(folded)
    if match:
        return canonical_application_no(match.group(1))
    if whole_message_is_number:
        bare = re.sub(r"^(编号|申请编号|申请号|号码|是)[:：]?\s*", "", folded).rstrip("。.！!")
        if re.fullmatch(r"[A-Z0-9 \-]+", bare) and not _looks_like_personal_number(bare):
            return canonical_application_no(bare)
    return None


def _looks_like_personal_number(value: str) -> bool:
    digits = re.sub(r"[ \-]", "", value)
    return bool(re.fullmatch(r"1[3-9]\d{9}", digits) or re.fullmatch(r"\d{17}[\dX]", digits))


@dataclass(frozen=True)
class Answer:
    """A second factor as typed: ``kind`` is id_last6, id_number or phone; ``value`` is normalised."""

    kind: str
    value: str


def parse_answer(text: str) -> Optional[Answer]:
    """The second factor in a reply: last 6 characters of the ID, the whole ID, or the mobile number.

    None when the reply is none of these (then the resident is asked again; it does not count as a try).
    """
    folded = fold(text)
    compact = re.sub(r"[ \-]", "", folded)
    # Prefer a run that is exactly one of the shapes; residents add words around it ("后六位是12345X").
    for run in re.findall(r"[0-9X]+", compact):
        if len(run) == 18 and id_number_valid(run):
            return Answer("id_number", run)
        if len(run) == 11 and re.fullmatch(r"1[3-9]\d{9}", run):
            return Answer("phone", run)
        if len(run) == 6 and re.fullmatch(r"\d{5}[\dX]", run):
            return Answer("id_last6", run)
    if compact.startswith("+86") or compact.startswith("86"):
        return parse_answer(compact[3:] if compact.startswith("+") else compact[2:])
    return None


def looks_like_answer_attempt(text: str, min_digits: int = 4) -> bool:
    """The reply contains a run of digits, so it was meant as a number (even if mistyped).

    "80岁以上能领多少" has digits but is a question: callers lower ``min_digits`` only when the NLU says
    the message is a bare value.
    """
    return bool(re.search(r"\d(?:[ \-]?[\dX]){%d,}" % max(0, min_digits - 1), fold(text)))
