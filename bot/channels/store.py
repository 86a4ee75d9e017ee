"""State the WeChat channel shares between Rasa replicas: retry de-duplication, the access token, the numbered
choices last shown to each user, and the record of undeliverable messages.

Redis holds the short-lived state when ``HUIMIN_REDIS_URL`` is set; otherwise the database does (tables in
``bot/channels/models.py``). Undeliverable messages always go to the database: they are a record, not a cache.
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any, Dict, List, Optional, Tuple

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.channels.models import WeChatChoice, WeChatSeen, WeChatToken, WeChatUndelivered
from bot.db import session_scope
from bot.privacy import redact_text
from bot.settings import get_settings

_PREFIX = "huimin:wechat:"


def _now() -> int:
    return int(time.time())


def _redact_body(body: Dict[str, Any]) -> str:
    """The stored copy of an API body, with ID and phone numbers masked wherever they appear."""
    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return redact_text(value)
    return json.dumps(walk(body), ensure_ascii=False)


class ChannelStore:
    """Database-backed state (the default, and the only backend for undelivered messages)."""

    def __init__(self, database_url: Optional[str] = None) -> None:
        self.database_url = database_url

    # -- retry de-duplication -------------------------------------------------------------------------------
    async def claim(self, key: str, ttl: int) -> bool:
        """True for the first caller of ``key`` within ``ttl`` seconds (across processes), False for the rest."""
        now = _now()
        try:
            async with session_scope(self.database_url) as s:
                await s.execute(sa.insert(WeChatSeen).values(key=key, expires_at=now + ttl))
        except IntegrityError:
            # A row exists: it is ours to take again only if it has expired (an atomic conditional update).
            async with session_scope(self.database_url) as s:
                res = await s.execute(sa.update(WeChatSeen)
                                      .where(WeChatSeen.key == key, WeChatSeen.expires_at < now)
                                      .values(expires_at=now + ttl))
                return res.rowcount == 1
        if random.random() < 0.02:  # keep the table small without a separate job
            async with session_scope(self.database_url) as s:
                await s.execute(sa.delete(WeChatSeen).where(WeChatSeen.expires_at < now))
        return True

    # -- access token ---------------------------------------------------------------------------------------
    async def get_token(self, appid: str) -> Optional[Tuple[str, int]]:
        async with session_scope(self.database_url) as s:
            row = (await s.execute(sa.select(WeChatToken).where(WeChatToken.appid == appid))).scalar_one_or_none()
            if row is None or row.expires_at <= _now():
                return None
            return row.access_token, row.expires_at

    async def set_token(self, appid: str, token: str, expires_at: int) -> None:
        async with session_scope(self.database_url) as s:
            res = await s.execute(sa.update(WeChatToken).where(WeChatToken.appid == appid)
                                  .values(access_token=token, expires_at=expires_at))
            if res.rowcount == 0:
                s.add(WeChatToken(appid=appid, access_token=token, expires_at=expires_at))

    async def drop_token(self, appid: str, token: str) -> None:
        """Forget ``token`` (rejected by WeChat) unless another worker has already replaced it."""
        async with session_scope(self.database_url) as s:
            await s.execute(sa.delete(WeChatToken).where(WeChatToken.appid == appid,
                                                         WeChatToken.access_token == token))

    async def refresh_lock(self, appid: str) -> "asyncio.Lock":
        return _process_lock(f"token:{appid}")

    # -- numbered choices -----------------------------------------------------------------------------------
    async def set_choices(self, openid: str, payloads: List[str], ttl: int) -> None:
        expires = _now() + ttl
        data = json.dumps(payloads, ensure_ascii=False)
        async with session_scope(self.database_url) as s:
            res = await s.execute(sa.update(WeChatChoice).where(WeChatChoice.openid == openid)
                                  .values(payloads=data, expires_at=expires))
            if res.rowcount == 0:
                s.add(WeChatChoice(openid=openid, payloads=data, expires_at=expires))

    async def get_choices(self, openid: str) -> List[str]:
        async with session_scope(self.database_url) as s:
            row = (await s.execute(sa.select(WeChatChoice).where(WeChatChoice.openid == openid))).scalar_one_or_none()
            if row is None or row.expires_at <= _now():
                return []
            return list(json.loads(row.payloads))

    async def clear_choices(self, openid: str) -> None:
        async with session_scope(self.database_url) as s:
            await s.execute(sa.delete(WeChatChoice).where(WeChatChoice.openid == openid))

    # -- undeliverable messages -----------------------------------------------------------------------------
    async def record_undelivered(self, openid: str, body: Dict[str, Any], errcode: Optional[int],
                                 reason: str, attempts: int) -> None:
        async with session_scope(self.database_url) as s:
            s.add(WeChatUndelivered(openid=openid, body=_redact_body(body), errcode=errcode,
                                    reason=reason[:255], attempts=attempts))

    async def list_undelivered(self, limit: int = 100) -> List[WeChatUndelivered]:
        async with session_scope(self.database_url) as s:
            rows = await s.execute(sa.select(WeChatUndelivered).where(WeChatUndelivered.delivered_at.is_(None))
                                   .order_by(WeChatUndelivered.id).limit(limit))
            return list(rows.scalars())

    async def mark_delivered(self, row_id: int) -> None:
        async with session_scope(self.database_url) as s:
            await s.execute(sa.update(WeChatUndelivered).where(WeChatUndelivered.id == row_id)
                            .values(delivered_at=sa.func.now()))

    async def close(self) -> None:
        pass


class RedisChannelStore(ChannelStore):
    """Redis for the short-lived state (atomic SET NX, TTLs); the database for the undelivered record."""

    def __init__(self, redis_url: str, database_url: Optional[str] = None) -> None:
        super().__init__(database_url)
        import redis.asyncio as aioredis

        self.redis = aioredis.from_url(redis_url, decode_responses=True)

    async def claim(self, key: str, ttl: int) -> bool:
        return bool(await self.redis.set(_PREFIX + "seen:" + key, "1", nx=True, ex=ttl))

    async def get_token(self, appid: str) -> Optional[Tuple[str, int]]:
        raw = await self.redis.get(_PREFIX + "token:" + appid)
        if not raw:
            return None
        data = json.loads(raw)
        return (data["token"], int(data["expires_at"])) if data["expires_at"] > _now() else None

    async def set_token(self, appid: str, token: str, expires_at: int) -> None:
        await self.redis.set(_PREFIX + "token:" + appid, json.dumps({"token": token, "expires_at": expires_at}),
                             ex=max(1, expires_at - _now()))

    async def drop_token(self, appid: str, token: str) -> None:
        key = _PREFIX + "token:" + appid
        # Compare-and-delete in one step, so a token another replica has just stored is kept.
        script = ("local v = redis.call('GET', KEYS[1]); "
                  "if v and cjson.decode(v)['token'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end; "
                  "return 0")
        await self.redis.eval(script, 1, key, token)

    async def refresh_lock(self, appid: str):
        return _RedisLock(self.redis, _PREFIX + "token-lock:" + appid)

    async def set_choices(self, openid: str, payloads: List[str], ttl: int) -> None:
        await self.redis.set(_PREFIX + "choices:" + openid, json.dumps(payloads, ensure_ascii=False), ex=ttl)

    async def get_choices(self, openid: str) -> List[str]:
        raw = await self.redis.get(_PREFIX + "choices:" + openid)
        return list(json.loads(raw)) if raw else []

    async def clear_choices(self, openid: str) -> None:
        await self.redis.delete(_PREFIX + "choices:" + openid)

    async def close(self) -> None:
        await self.redis.close()


class _RedisLock:
    """A best-effort cross-replica lock around the token fetch (one fetcher; the others wait and re-read)."""

    def __init__(self, redis: Any, key: str, ttl: int = 15) -> None:
        self.redis, self.key, self.ttl = redis, key, ttl
        self.local = _process_lock(key)

    async def __aenter__(self) -> "_RedisLock":
        await self.local.acquire()
        deadline = time.monotonic() + self.ttl
        while not await self.redis.set(self.key, "1", nx=True, ex=self.ttl):
            if time.monotonic() > deadline:
                break  # the holder died; its key expires anyway
            await asyncio.sleep(0.1)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.redis.delete(self.key)
        finally:
            self.local.release()


_locks: Dict[str, asyncio.Lock] = {}  # few keys: one per appid and loop


def _process_lock(name: str) -> asyncio.Lock:
    # Per event loop: the command line runs its own loops, and an asyncio.Lock belongs to one loop.
    key = f"{id(asyncio.get_running_loop())}:{name}"
    lock = _locks.get(key)
    if lock is None:
        lock = _locks[key] = asyncio.Lock()
    return lock


def make_store() -> ChannelStore:
    settings = get_settings()
    if settings.redis_url:
        return RedisChannelStore(settings.redis_url, settings.database_url)
    return ChannelStore(settings.database_url)
