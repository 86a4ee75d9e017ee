"""Resident-facing text the console sends outside a Rasa action (e.g. a booking cancelled by staff), read
from the domain files so that the wording lives with every other response."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DOMAIN_DIR = Path(__file__).resolve().parent.parent / "domain"


def response_text(name: str, **values: Any) -> str:
    for path in sorted(DOMAIN_DIR.glob("*.yml")):
        responses = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {}
        if name in responses:
            template = responses[name][0]["text"]
            return template.format_map({k: ("" if v is None else v) for k, v in values.items()})
    raise KeyError(name)
