"""What is kept how long. Each policy names a table, its timestamp column, the environment variable holding
the number of days, and whether expired rows are deleted or have their personal columns blanked."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, Tuple


@dataclass(frozen=True)
class Policy:
    table: str
    timestamp_column: str
    days_env: str
    default_days: int
    # Columns set to the given value instead of deleting the row (keeps statistics, drops the person).
    anonymise: Dict[str, object] = field(default_factory=dict)
    # Only rows matching this SQL condition expire (e.g. closed tickets, finished bookings).
    where: str = ""

    def days(self) -> int:
        return int(os.environ.get(self.days_env, self.default_days))


# Application-database tables (the tracker store is handled separately: whole conversations expire together).
POLICIES: Tuple[Policy, ...] = ()

CONVERSATION_DAYS_ENV = "HUIMIN_RETENTION_CONVERSATION_DAYS"
CONVERSATION_DEFAULT_DAYS = 180
