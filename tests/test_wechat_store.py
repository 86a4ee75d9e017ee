"""The WeChat channel's shared state, on the migrated database and on Redis: a push is claimed by exactly one of
several concurrent workers, a rejected token is dropped only if nobody replaced it, numbered choices per user."""
from __future__ import annotations

import asyncio
import json
import os
import uuid

import pytest

from bot.channels.store import ChannelStore, RedisChannelStore
from tests.conftest import unavailable

# Set by .ci/run when Redis answers (and by the developer's test command).
REDIS_URL = os.environ.get("HUIMIN_TEST_REDIS_URL", "")


def _redis_available() -> bool:
    import redis

    if not REDIS_URL:
        return False
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


@pytest.fixture(params=["database", "redis"])
def store(request, db_url):
    if request.param == "database":
        return ChannelStore(db_url)
    if not _redis_available():
        unavailable(f"Redis is not configured or does not answer (HUIMIN_TEST_REDIS_URL={REDIS_URL!r})")
    return RedisChannelStore(REDIS_URL, db_url)


async def test_a_push_is_claimed_once_among_concurrent_workers(store):
    key = f"msg:{uuid.uuid4().int % 10**18}"
    results = await asyncio.gather(*(store.claim(key, 60) for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]
    assert await store.claim(key, 60) is False
    await store.close()


async def test_an_expired_claim_can_be_taken_again(store):
    key = f"evt:{uuid.uuid4().hex}"
    assert await store.claim(key, 1)
    await asyncio.sleep(2.1)
    assert await store.claim(key, 60)
    assert not await store.claim(key, 60)
    await store.close()


async def test_token_is_shared_and_dropped_only_if_unchanged(store):
    import time

    appid = "wx" + uuid.uuid4().hex[:16]
    assert await store.get_token(appid) is None
    await store.set_token(appid, "TOKEN-A", int(time.time()) + 3600)
    assert (await store.get_token(appid))[0] == "TOKEN-A"
    # Another worker already stored a newer token: dropping the old one must not lose it.
    await store.set_token(appid, "TOKEN-B", int(time.time()) + 3600)
    await store.drop_token(appid, "TOKEN-A")
    assert (await store.get_token(appid))[0] == "TOKEN-B"
    await store.drop_token(appid, "TOKEN-B")
    assert await store.get_token(appid) is None
    await store.set_token(appid, "TOKEN-C", int(time.time()) - 1)  # already expired
    assert await store.get_token(appid) is None
    await store.close()


async def test_choices_replace_and_clear(store):
    openid = "o" + uuid.uuid4().hex
    assert await store.get_choices(openid) == []
    await store.set_choices(openid, ["/ask_materials", "/ask_apply"], 60)
    await store.set_choices(openid, ["/greet"], 60)
    assert await store.get_choices(openid) == ["/greet"]
    await store.clear_choices(openid)
    assert await store.get_choices(openid) == []
    await store.close()


async def test_undelivered_is_recorded_with_numbers_masked(db_url):
    store = ChannelStore(db_url)
    body = {"touser": "oABC", "msgtype": "text",
            "text": {"content": "已为 13812345678 登记，身份证 110105194912310021"}}
    await store.record_undelivered("oABC", body, 45047, "out of response count limit", 1)
    rows = await store.list_undelivered()
    assert len(rows) == 1 and rows[0].errcode == 45047
    stored = json.loads(rows[0].body)["text"]["content"]
    assert "13812345678" not in stored and "110105194912310021" not in stored and "138****5678" in stored
    await store.mark_delivered(rows[0].id)
    assert await store.list_undelivered() == []
