"""The lock store: in-memory only for one Rasa process; several Sanic workers without Redis are refused."""
import pytest


def test_several_workers_need_redis(monkeypatch):
    from rasa.core.lock_store import InMemoryLockStore

    from bot.rasa.lock_store import HuiminLockStore

    monkeypatch.setenv("HUIMIN_REDIS_URL", "")
    monkeypatch.setenv("SANIC_WORKERS", "1")
    assert isinstance(HuiminLockStore(), InMemoryLockStore)
    monkeypatch.setenv("SANIC_WORKERS", "2")
    with pytest.raises(RuntimeError, match="HUIMIN_REDIS_URL"):
        HuiminLockStore()


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_a_message_waiting_behind_a_dead_replica_is_answered(backend, monkeypatch):
    # A replica killed mid-message never gives its ticket back; the waiting message's own ticket runs out with
    # it. Rasa 3.6 then waits forever (until the HTTP request times out); Huimin's lock store lets it go on.
    import asyncio
    import os
    import uuid

    from bot.rasa.lock_store import HuiminLockStore
    from tests.conftest import unavailable

    url = os.environ.get("HUIMIN_TEST_REDIS_URL", "") if backend == "redis" else ""
    if backend == "redis" and not url:
        unavailable("HUIMIN_TEST_REDIS_URL is not set")
    monkeypatch.setenv("HUIMIN_REDIS_URL", url)
    monkeypatch.delenv("SANIC_WORKERS", raising=False)
    from bot.settings import get_settings

    if hasattr(get_settings, "cache_clear"):
        get_settings.cache_clear()
    store = HuiminLockStore()
    conversation = f"lock-test-{uuid.uuid4().hex[:8]}"
    store.issue_ticket(conversation, lock_lifetime=0.5)  # the dead replica's ticket, never cleaned up

    async def answer() -> bool:
        async with store.lock(conversation, lock_lifetime=0.5, wait_time_in_seconds=0.1):
            return True

    assert await asyncio.wait_for(answer(), timeout=5)
    assert not store.get_lock(conversation) or not store.get_lock(conversation).tickets
