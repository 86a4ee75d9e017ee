"""What is kept how long. Each policy names a table, its timestamp column, the environment variable holding
the number of days, and whether expired rows are deleted or have their personal columns blanked.

Anonymising (instead of deleting) keeps what statistics need — how many tickets, for which reason, which
service was booked when — and drops the person: names, addresses, phone masks, hashes and encrypted numbers,
free text, the conversation id that links a row to a conversation.

Not covered, on purpose: ``applications``/``application_changes`` are the bureau's official records, imported
from its own system and governed by its retention rules, not ours; ``editor_*`` and ``console_users`` hold no
resident data; ``booking_slots`` are counters.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, Tuple


@dataclass(frozen=True)
class Policy:
    name: str
    table: str
    timestamp_column: str
    days_env: str
    default_days: int
    # Columns set to the given value instead of deleting the row (keeps statistics, drops the person).
    anonymise: Dict[str, object] = field(default_factory=dict)
    # Only rows matching this SQL condition expire (e.g. closed tickets, finished bookings).
    where: str = ""
    # The timestamp column holds Unix seconds (an expiry time), not a DATETIME.
    epoch: bool = False

    def days(self) -> int:
        raw = os.environ.get(self.days_env, "").strip()
        if not raw:
            return self.default_days
        try:
            days = int(raw)
        except ValueError:
            raise ValueError(f"{self.days_env} must be a whole number of days, not {raw!r}") from None
        if days < 0:
            raise ValueError(f"{self.days_env} must not be negative")
        return days


_CLOSED_TICKETS = "ticket_id IN (SELECT id FROM handoff_tickets WHERE status = 'closed')"

# Application-database tables (the tracker store is handled separately: whole conversations expire together).
# Order matters: a ticket's staff messages go before the ticket itself is anonymised.
POLICIES: Tuple[Policy, ...] = (
    # Staff replies to residents (free text, may name the person): deleted with their closed ticket's period.
    Policy("handoff messages", "handoff_messages", "created_at", "HUIMIN_RETENTION_TICKET_DAYS", 365,
           where=_CLOSED_TICKETS),
    # Closed tickets keep reason/office/times for statistics; summary, texts and the conversation link go.
    Policy("handoff tickets", "handoff_tickets", "closed_at", "HUIMIN_RETENTION_TICKET_DAYS", 365,
           anonymise={"conversation_id": "", "summary": "", "context": "", "outcome": None,
                      "last_resident_text": None},
           where="status = 'closed'"),
    # Bookings whose time has passed, and cancelled ones: the service, site and time stay, the person goes.
    Policy("past bookings", "bookings", "end", "HUIMIN_RETENTION_BOOKING_DAYS", 365,
           anonymise={"person": "", "address": None, "phone_masked": "", "phone_hash": "", "phone_cipher": None,
                      "conversation_id": None, "cancel_reason": None}),
    Policy("cancelled bookings", "bookings", "cancelled_at", "HUIMIN_RETENTION_BOOKING_DAYS", 365,
           anonymise={"person": "", "address": None, "phone_masked": "", "phone_hash": "", "phone_cipher": None,
                      "conversation_id": None, "cancel_reason": None},
           where="status = 'cancelled'"),
    # Who saw or changed whose data: kept long enough for an inspection, then deleted.
    Policy("audit records", "console_audit", "at", "HUIMIN_RETENTION_AUDIT_DAYS", 1095),
    # Verification attempts (application number + outcome) and stale lock-out counters.
    Policy("verification attempts", "verification_attempts", "created_at", "HUIMIN_RETENTION_VERIFICATION_DAYS",
           180),
    Policy("verification counters", "verification_counters", "window_started_at",
           "HUIMIN_RETENTION_VERIFICATION_DAYS", 180),
    # WeChat: de-duplication keys and numbered choices past their own expiry; undelivered messages (masked).
    Policy("wechat dedup keys", "wechat_seen", "expires_at", "HUIMIN_RETENTION_WECHAT_DEDUP_DAYS", 1, epoch=True),
    Policy("wechat choices", "wechat_choices", "expires_at", "HUIMIN_RETENTION_WECHAT_DEDUP_DAYS", 1, epoch=True),
    Policy("wechat undelivered", "wechat_undelivered", "created_at", "HUIMIN_RETENTION_WECHAT_UNDELIVERED_DAYS", 30),
    # Insights (bot/insights): resident messages copied (masked) from the tracker store and residents' feedback
    # follow the conversations' own period; a group goes when its newest message has gone.
    Policy("insights messages", "insights_messages", "at", "HUIMIN_RETENTION_CONVERSATION_DAYS", 180),
    Policy("insights groups", "insights_groups", "last_seen", "HUIMIN_RETENTION_CONVERSATION_DAYS", 180),
    Policy("insights feedback", "insights_feedback", "created_at", "HUIMIN_RETENTION_CONVERSATION_DAYS", 180),
    # Booking mobiles kept encrypted per conversation until a booking copies them (bot/booking/contacts.py):
    # they follow the conversation's own period (the booking's copy goes with the booking's person, above).
    Policy("booking contacts", "booking_contacts", "created_at", "HUIMIN_RETENTION_CONVERSATION_DAYS", 180),
    # Call-back numbers residents left for staff (encrypted, bot/handoff/callbacks.py): only until called back.
    Policy("call-back numbers", "handoff_callbacks", "created_at", "HUIMIN_RETENTION_CALLBACK_DAYS", 30),
    # Failed console logins per account and address (lock-outs): stale rows.
    Policy("console login failures", "console_login_failures", "updated_at", "HUIMIN_RETENTION_SESSION_DAYS", 30),
    # Console login sessions long idle (logins are audited separately).
    Policy("console sessions", "console_sessions", "last_seen_at", "HUIMIN_RETENTION_SESSION_DAYS", 30),
)

CONVERSATION_DAYS_ENV = "HUIMIN_RETENTION_CONVERSATION_DAYS"
CONVERSATION_DEFAULT_DAYS = 180
