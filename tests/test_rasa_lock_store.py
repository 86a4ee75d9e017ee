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
