"""The status codes of the welfare system's export, and the Chinese words its CSV may use instead.

These are the data contract of the CSV (issue 3), not resident-facing wording: what each status means for a
resident lives in knowledge/application_status.yml.
"""
from __future__ import annotations

from typing import Dict, Optional

# code -> the word the export uses
STATUS_WORDS: Dict[str, str] = {
    "submitted": "已受理",
    "reviewing": "审核中",
    "public_notice": "公示中",
    "approved": "已批准",
    "rejected": "未通过",
    "need_more_documents": "需补充材料",
}

_BY_WORD = {word: code for code, word in STATUS_WORDS.items()}


def parse_status(value: str) -> Optional[str]:
    """'public_notice', 'Public_Notice', '公示中' -> 'public_notice'; None if it is none of them."""
    value = (value or "").strip()
    code = value.lower().replace("-", "_").replace(" ", "_")
    if code in STATUS_WORDS:
        return code
    return _BY_WORD.get(value)
