"""Issue 12 item 2: the REST channel cannot speak inside another channel's conversation, and the production
topology's public door does not route it at all. Through the running stack, and through nginx rendered from
the production template in front of that stack."""
from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from tests.conftest import WECHAT_TEST, free_port
from tests.security.victims import plant_booking

pytestmark = pytest.mark.stack

VICTIM_PHONE = "13912345678"


def _say(base: str, sender: str, text: str):
    req = urllib.request.Request(f"{base}/webhooks/rest/webhook",
                                 data=json.dumps({"sender": sender, "message": text}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=180) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _user_texts(stack, conversation: str):
    url = f"{stack.rasa_url}/conversations/{urllib.parse.quote(conversation, safe=':')}/tracker?token={stack.token}"
    with urllib.request.urlopen(url, timeout=30) as resp:
        tracker = json.loads(resp.read())
    return [e.get("text") for e in tracker.get("events") or [] if e.get("event") == "user"]


@pytest.mark.parametrize("victim", ["wx:oVictim{}", "websession{}"])
def test_a_rest_caller_cannot_act_in_a_wechat_or_web_chat_conversation(stack, victim):
    victim = victim.format(uuid.uuid4().hex[:10])
    code = asyncio.run(plant_booking(stack.database_url, victim, VICTIM_PHONE))
    status, replies = _say(stack.rasa_url, victim, "查一下我的预约")
    assert status == 200, replies
    said = "\n".join(r.get("text") or "" for r in replies)
    assert said, replies  # the assistant did answer ...
    assert code not in said and "白下路" not in said, said  # ... but not with the victim's booking
    assert all(r.get("recipient_id") == victim for r in replies)
    # The victim's conversation got nothing; the caller has one of its own, under the REST namespace.
    assert _user_texts(stack, victim) == []
    assert _user_texts(stack, "rest:" + victim) == ["查一下我的预约"]


def test_malformed_rest_bodies_get_a_reason_not_a_500(stack):
    for body in (b"not json", b"[1, 2]", json.dumps({"message": "你好"}).encode(),
                 json.dumps({"sender": "x" * 500, "message": "你好"}).encode(),
                 json.dumps({"sender": "a", "message": 5}).encode()):
        req = urllib.request.Request(f"{stack.rasa_url}/webhooks/rest/webhook", data=body,
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=30)
        assert err.value.code == 400, body
        assert "message" in json.loads(err.value.read())


@pytest.fixture
def public_door(stack, tmp_path):
    """nginx with the production template (bot/prod/topology.py), its upstreams being the running stack."""
    from bot.prod.cli import nginx_binary
    from bot.prod.topology import render_nginx

    port = lambda url: url.rsplit(":", 1)[1]  # noqa: E731
    public, actions_lb, api_lb = free_port(), free_port(), free_port()
    conf = render_nginx(str(tmp_path), public, actions_lb, api_lb, {
        "rasa": [f"127.0.0.1:{port(stack.rasa_url)}"], "actions": [f"127.0.0.1:{port(stack.actions_url)}"],
        "console": [f"127.0.0.1:{port(stack.console_url)}"]})
    (tmp_path / "nginx.conf").write_text(conf)
    proc = subprocess.Popen([nginx_binary(), "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{public}"
    for _ in range(50):
        try:
            urllib.request.urlopen(f"{base}/nginx-health", timeout=2)
            break
        except OSError:
            time.sleep(0.1)
    yield base, f"http://127.0.0.1:{api_lb}"
    proc.terminate()
    proc.wait(10)


def test_the_public_door_of_the_production_topology_has_no_rest_channel(stack, public_door):
    public, internal = public_door
    status, _ = _say(public, f"wx:oVictim{uuid.uuid4().hex[:8]}", "查一下我的预约")
    assert status == 404
    # The channels residents use still pass: WeChat's signed URL check and the socket.io handshake.
    stamp, nonce = str(int(time.time())), uuid.uuid4().hex[:8]
    signature = hashlib.sha1("".join(sorted([WECHAT_TEST["token"], stamp, nonce])).encode()).hexdigest()
    query = urllib.parse.urlencode({"signature": signature, "timestamp": stamp, "nonce": nonce, "echostr": "e1"})
    with urllib.request.urlopen(f"{public}/webhooks/wechat/webhook?{query}", timeout=30) as resp:
        assert resp.read() == b"e1"
    with urllib.request.urlopen(f"{public}/socket.io/?EIO=4&transport=polling", timeout=30) as resp:
        assert b'"sid"' in resp.read()
    # Tests and benchmarks reach REST on the loopback balancer.
    status, replies = _say(internal, f"t-{uuid.uuid4().hex[:8]}", "你好")
    assert status == 200 and replies
