"""Issue 12 item 7: with an EncodingAESKey a plaintext push is refused (through the running stack), and in
plaintext mode a captured signature cannot carry a second body (a real Sanic server with the channel)."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, WECHAT_TEST, free_port


def _sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _text_push(openid: str, content: str, msg_id: int) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_huimin]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


@pytest.mark.stack
def test_plaintext_push_is_refused_when_safe_mode_is_configured(stack, wechat_api):
    openid = "oPlain" + uuid.uuid4().hex[:16]
    stamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    params = {"signature": _sign(WECHAT_TEST["token"], stamp, nonce), "timestamp": stamp, "nonce": nonce,
              "openid": openid}
    resp = requests.post(f"{stack.rasa_url}/webhooks/wechat/webhook", params=params,
                         data=_text_push(openid, "查一下我的预约", 7001).encode(), timeout=30)
    assert resp.status_code == 403 and resp.json()["error"] == "encryption_required", resp.text
    time.sleep(1.5)
    tracker = requests.get(f"{stack.rasa_url}/conversations/wx:{openid}/tracker",
                           params={"token": stack.token}, timeout=30).json()
    assert not [e for e in tracker.get("events") or [] if e.get("event") == "user"]
    assert wechat_api.messages_to(openid) == []


SERVER = """
import json, sys
from sanic import Sanic
from bot.channels.wechat import WeChatInput

port, out, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]

async def on_new_message(message):
    with open(out, "a", encoding="utf-8") as f:
        f.write(json.dumps({"sender": message.sender_id, "text": message.text}, ensure_ascii=False) + "\\n")

channel = WeChatInput(token=token, appid="wx0123456789abcdef", secret="s", aes_key="",
                      api_base="http://127.0.0.1:9")
app = Sanic("wechat_plain_mode")
app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/wechat")
app.run("127.0.0.1", port, workers=1, access_log=False)
"""


@pytest.fixture
def plain_channel(tmp_path, sqlite_url):
    """The WeChat channel in plaintext mode (no EncodingAESKey), served by Sanic as in Rasa; what reaches the
    assistant is written to a file."""
    port, out, token = free_port(), tmp_path / "received.jsonl", "plain-mode-token"
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    env = {"HUIMIN_DATABASE_URL": sqlite_url, "HUIMIN_REDIS_URL": "", "PYTHONPATH": str(ROOT),
           "PATH": "/usr/bin:/bin"}
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, str(script), str(port), str(out), token], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/webhooks/wechat"
    for _ in range(300):
        try:
            if requests.get(url + "/", timeout=1).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail((tmp_path / "server.log").read_text())
    yield url + "/webhook", out, token
    proc.terminate()
    proc.wait(10)


def _received(out: Path):
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] if out.exists() else []


def test_a_captured_signature_cannot_carry_another_body(plain_channel):
    url, out, token = plain_channel
    victim, stamp, nonce = "oVictim" + uuid.uuid4().hex[:12], str(int(time.time())), "384729"
    query = {"signature": _sign(token, stamp, nonce), "timestamp": stamp, "nonce": nonce, "openid": victim}
    first = requests.post(url, params=query, data=_text_push(victim, "你好", 9001).encode(), timeout=30)
    assert (first.status_code, first.text) == (200, "success")
    # Someone who saw that request (a proxy log, a shared network) re-sends its query with a body of their own.
    forged = requests.post(url, params=query, data=_text_push(victim, "取消我的预约", 9002).encode(), timeout=30)
    assert forged.status_code in (200, 403)
    # A new signature (what WeChat sends for its next push) is accepted.
    nonce2 = "384730"
    query2 = dict(query, signature=_sign(token, stamp, nonce2), nonce=nonce2)
    assert requests.post(url, params=query2, data=_text_push(victim, "谢谢", 9003).encode(), timeout=30).ok
    time.sleep(1.0)
    assert [m["text"] for m in _received(out)] == ["你好", "谢谢"], urllib.parse.urlencode(query)
