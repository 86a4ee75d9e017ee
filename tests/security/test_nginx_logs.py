"""Issue 12 item 8 (nginx part): the access log records paths, never query strings — they carry the console's
Rasa token, WeChat signatures and session ids — and never the conversation id in a Rasa API path."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from tests.security.console_helpers import assert_absent, client_from, nginx_in_front, status_of

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]


def test_access_log_has_paths_without_query_strings(stack, tmp_path):
    signature, nonce, echo = uuid.uuid4().hex, uuid.uuid4().hex[:12], "echo" + uuid.uuid4().hex[:8]
    engine_sid = "sid" + uuid.uuid4().hex[:10]
    session_id = "websession" + uuid.uuid4().hex[:12]

    async def run(front):
        async with client_from("127.0.0.1") as s:
            # What the console sends to Rasa's HTTP API through the internal balancer.
            assert await status_of(s, "GET", f"{front.rasa_api_url}/status", params={"token": stack.token}) == 200
            # ...and a conversation's tracker: its id is a web-chat session id (or a WeChat OpenID).
            assert await status_of(s, "GET", f"{front.rasa_api_url}/conversations/{session_id}/tracker",
                                   params={"token": stack.token}) == 200
            await status_of(s, "GET", f"{front.url}/webhooks/wechat/webhook",
                            params={"signature": signature, "timestamp": str(int(time.time())), "nonce": nonce,
                                    "echostr": echo})
            await status_of(s, "GET", f"{front.url}/socket.io/",
                            params={"EIO": "4", "transport": "polling", "sid": engine_sid})
        await asyncio.sleep(1.5)  # the log buffer is flushed every second

    with nginx_in_front(stack, tmp_path / "nginx") as front:
        asyncio.run(run(front))
        log = front.access_log()
    assert "/status" in log and "/webhooks/wechat/webhook" in log and "/socket.io/" in log, log
    assert "/conversations/*/tracker" in log, log
    assert_absent(log, stack.token, signature, nonce, echo, engine_sid, session_id, "token=", "?")
