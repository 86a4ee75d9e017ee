"""Issue 12 item 1: the action server and the Rasa API are not reachable from the network, the action server
refuses callers without the shared secret, and a disclosing action believes the server's own verification
record, not the slots it is sent. Through the running stack."""
from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid

import pytest

from tests.security.procfs import listeners

pytestmark = pytest.mark.stack

NO_101, LAST6_101 = "MZ2026000101", "31002X"


def _post(url: str, body: dict, headers=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _forged_call(sender: str, slots: dict) -> dict:
    """What Rasa would send to run action_status_result, with whatever slots the caller likes."""
    tracker = {"sender_id": sender, "slots": slots, "latest_message": {"text": "", "intent": {}, "entities": []},
               "events": [], "paused": False, "followup_action": None, "active_loop": {},
               "latest_action_name": "status_form"}
    return {"next_action": "action_status_result", "sender_id": sender, "tracker": tracker,
            "domain": {}, "version": "3.6.2"}


def _verified_slots() -> dict:
    return {"status_verified_no": NO_101, "status_verified_at": time.time(), "status_answer": "verified",
            "application_no": NO_101}


@pytest.fixture(scope="module")
def demo_records(stack):
    from bot.applications.importer import import_csv
    from bot.applications.seed import DEMO_CSV

    asyncio.run(import_csv(DEMO_CSV, url=stack.database_url))
    return stack


def _token() -> str:
    from bot.settings import get_settings

    return get_settings().actions_token


def test_internal_processes_listen_on_loopback_only(stack):
    for url in (stack.actions_url, stack.rasa_url, stack.console_url):
        port = int(url.rsplit(":", 1)[1])
        found = listeners(port)
        assert found, f"nothing listens on {port}"
        assert {addr for addr, _ in found} == {"127.0.0.1"}, f"{url} listens on {found}"


def test_action_server_refuses_calls_without_the_shared_secret(demo_records):
    stack = demo_records
    url = f"{stack.actions_url}/webhook"
    status, body = _post(url, _forged_call(f"forger-{uuid.uuid4().hex[:6]}", _verified_slots()))
    assert status == 401, body
    assert "MZ2026" not in str(body) and "utter_status_result" not in str(body)
    status, _ = _post(url, _forged_call("forger-2", _verified_slots()), {"X-Huimin-Actions-Token": "guess"})
    assert status == 401
    # rasa's own `token` query parameter is not how the secret travels: it would land in access logs.
    status, _ = _post(f"{url}?token={_token()}", _forged_call("forger-3", _verified_slots()))
    assert status == 401


def test_action_list_needs_the_secret_but_health_does_not(stack):
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{stack.actions_url}/actions", timeout=10)
    assert err.value.code == 401
    with urllib.request.urlopen(f"{stack.actions_url}/health", timeout=10) as resp:
        assert resp.status == 200


def test_made_up_verified_slots_disclose_nothing_even_with_the_secret(demo_records):
    from bot.applications import verification
    from bot.applications.numbers import parse_answer

    stack = demo_records
    url, auth = f"{stack.actions_url}/webhook", {"X-Huimin-Actions-Token": _token()}
    sender = f"forger-{uuid.uuid4().hex[:8]}"
    status, body = _post(url, _forged_call(sender, _verified_slots()), auth)
    assert status == 200, body
    assert [r.get("response") for r in body["responses"]] == [], body
    assert "MZ2026000101" not in json.dumps(body["responses"], ensure_ascii=False)

    # Control: the same call for a conversation that really passed the second factor does show the status,
    # so the refusal above is the server-side check, not a broken call.
    result = asyncio.run(verification.verify(NO_101, parse_answer(LAST6_101), sender, url=stack.database_url))
    assert result.outcome == verification.OK
    status, body = _post(url, _forged_call(sender, _verified_slots()), auth)
    assert status == 200 and [r.get("response") for r in body["responses"]] == ["utter_status_result"], body
