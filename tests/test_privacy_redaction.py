"""Redaction before persistence (the tracker store) and in logs (Rasa's and rasa-sdk's own logging set-up).

The end-to-end proof with the running stack is tests/test_privacy_tracker.py; these pin down the rules.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, ActiveLoop, BotUttered, SessionStarted, SlotSet,
                                     UserUttered)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa.tracker_store import REDACTED, HuiminTrackerStore

ROOT = Path(__file__).resolve().parent.parent
ID_NUMBER = "11010519491231002X"
PHONE = "13800138001"


def user(text: str, intent: str = "inform", entities=None) -> UserUttered:
    return UserUttered(text, {"name": intent, "confidence": 0.9},
                       entities or [], parse_data={"text": text, "intent": {"name": intent, "confidence": 0.9},
                                                   "entities": entities or []})


def lookup_events():
    return [
        SessionStarted(), ActionExecuted("action_listen"),
        user("帮我查下 MZ2026000101 办得怎么样了", "check_status"),
        ActionExecuted("status_form"), ActiveLoop("status_form"),
        SlotSet("application_no", "MZ2026000101"), SlotSet("requested_slot", "status_answer"),
        BotUttered("请告诉我身份证号的最后 6 位"), ActionExecuted("action_listen"),
        user("后六位是31002X", entities=[{"entity": "id_last6", "value": "31002X", "start": 4, "end": 10}]),
        ActionExecuted("status_form"), SlotSet("status_answer", "31002X"), SlotSet("status_answer", "verified"),
        SlotSet("requested_slot", None), ActiveLoop(None),
        ActionExecuted("action_status_result"), BotUttered("查到了。申请人：张*国"),
        ActionExecuted("action_listen"),
        user(f"顺便说一下我手机是{PHONE}，身份证{ID_NUMBER}", "inform"),
        SlotSet("phone", PHONE),
    ]


def test_tracker_store_saves_redacted_events_and_appends_correctly(tmp_path):
    domain = Domain.load(str(ROOT / "bot" / "domain"))
    db = tmp_path / "tracker.db"
    store = HuiminTrackerStore(domain=domain, url=f"sqlite:///{db}")
    events = lookup_events()
    tracker = DialogueStateTracker.from_events("resident", events[:12], slots=domain.slots)
    # The running turn sees the answer in clear (the form validated it before the save).
    assert tracker.latest_message.text == "后六位是31002X"

    import asyncio
    asyncio.run(store.save(tracker))
    for event in events[12:]:
        tracker.update(event)
    asyncio.run(store.save(tracker))  # only the new events are appended, redacted with the right context

    with sqlite3.connect(db) as conn:
        rows = [json.loads(d) for (d,) in conn.execute("SELECT data FROM events ORDER BY id")]
    assert len(rows) == len(events)
    raw = db.read_bytes().decode("utf-8", errors="replace")
    for secret in ("31002X", PHONE, ID_NUMBER, "31002"):
        assert secret not in raw and secret not in json.dumps(rows, ensure_ascii=False)
    texts = [r.get("text") for r in rows if r["event"] == "user"]
    assert texts[0] == "帮我查下 MZ2026000101 办得怎么样了"  # the application number is not personal
    assert texts[1] == "后六位是******"
    assert texts[2] == "顺便说一下我手机是138****8001,身份证110105************"  # folded to half-width
    answer = next(r for r in rows if r["event"] == "user" and r["text"] == "后六位是******")
    assert answer["parse_data"]["text"] == "后六位是******"
    assert answer["parse_data"]["entities"][0]["value"] == REDACTED
    slot_values = [(r["name"], r["value"]) for r in rows if r["event"] == "slot"]
    assert ("status_answer", REDACTED) in slot_values and ("status_answer", "verified") in slot_values
    assert ("phone", "138****8001") in slot_values

    restored = asyncio.run(store.retrieve("resident"))
    assert restored.get_slot("status_answer") == "verified" and len(restored.events) == len(events)


def test_a_secret_entity_is_masked_outside_the_lookup_too():
    from bot.rasa.tracker_store import redact_event

    event = user("我的后六位 31002X 对吗", entities=[{"entity": "id_last6", "value": "31002X"}]).as_dict()
    out = redact_event(event)
    assert "31002X" not in json.dumps(out) and out["text"] == "我的后六位 ******* 对吗".replace("*******", "******")


LOGGING_PROBE = r"""
import logging, sys
{setup}
log = logging.getLogger("rasa.core.processor")
log.warning("Received user message '我的身份证{id}' with phone %s", "{phone}")
try:
    raise ValueError("bad value {id}")
except ValueError:
    log.exception("action failed")
logging.getLogger("sanic.root").warning("late handler sees {phone} too")
"""

RASA_SETUP = """
from rasa.utils.common import configure_logging_and_warnings
from rasa.utils.io import configure_colored_logging
configure_logging_and_warnings(logging.INFO, "bot/logging.yml")
configure_colored_logging(logging.INFO)  # what `rasa run` does next: replaces the root stream handler
"""

SDK_SETUP = """
from rasa_sdk import utils
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
utils.configure_colored_logging(logging.INFO)
utils.configure_file_logging(logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), None, logging.INFO, "bot/logging.yml")
"""


def _probe(setup: str) -> str:
    code = LOGGING_PROBE.replace("{setup}", setup).replace("{id}", ID_NUMBER).replace("{phone}", PHONE)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_rasa_server_logging_masks_personal_numbers():
    out = _probe(RASA_SETUP)
    assert "Received user message" in out and "action failed" in out and "late handler" in out
    assert ID_NUMBER not in out and PHONE not in out
    assert "110105************" in out and "138****8001" in out


def test_action_server_logging_masks_personal_numbers():
    out = _probe(SDK_SETUP)
    assert "Received user message" in out and "ValueError" in out
    assert ID_NUMBER not in out and PHONE not in out
