"""The WeChat server API as the channel uses it: the shared access token, customer-service messages
(``/cgi-bin/message/custom/send``) and the menu (``/cgi-bin/menu/create``), over aiohttp.

wechatpy's ``WeChatClient`` is synchronous (requests) and would block Rasa's event loop, so the HTTP calls are
made here; wechatpy still provides the protocol pieces (signatures, parsing, crypto) in ``wechat.py``.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Dict, Optional, Sequence

import aiohttp

from bot.http_client import SessionHolder
from bot.channels.store import ChannelStore
from bot.privacy import keyed_hash

logger = logging.getLogger(__name__)

TOKEN_ERRORS = {40001, 40014, 42001}  # invalid / not latest / expired access_token
TRANSIENT_ERRORS = {-1, 45009}  # system busy; API frequency limit
TOKEN_MARGIN = 300  # refetch this many seconds before WeChat says the token expires


class WeChatAPIError(Exception):
    def __init__(self, errcode: Optional[int], reason: str) -> None:
        super().__init__(f"{reason} (errcode {errcode})")
        self.errcode, self.reason = errcode, reason
        self.attempts = 1


def user_ref(openid: str) -> str:
    """How logs name a WeChat user: a keyed hash, never the OpenID itself."""
    return keyed_hash(openid, "wechat-log")[:12]


class WeChatAPI(SessionHolder):
    def __init__(self, appid: str, secret: str, api_base: str, store: ChannelStore,
                 retry_delays: Sequence[float] = (0.5, 2.0, 5.0), timeout: float = 10.0) -> None:
        self.appid, self.secret = appid, secret
        self.api_base = api_base.rstrip("/")
        self.store = store
        self.retry_delays = tuple(retry_delays)
        super().__init__(timeout)

    # -- access token -----------------------------------------------------------------------------------------
    async def access_token(self) -> str:
        cached = await self.store.get_token(self.appid)
        if cached:
            return cached[0]
        async with await self.store.refresh_lock(self.appid):
            # Another worker may have fetched it while we waited: fetching again would invalidate theirs.
            cached = await self.store.get_token(self.appid)
            if cached:
                return cached[0]
            token, expires_in = await self._fetch_token()
            await self.store.set_token(self.appid, token, int(time.time()) + max(60, expires_in - TOKEN_MARGIN))
            return token

    async def _fetch_token(self):
        params = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}
        async with self._http().get(self.api_base + "/cgi-bin/token", params=params) as resp:
            if resp.status >= 500:
                raise WeChatAPIError(None, f"token endpoint HTTP {resp.status}")
            data = await resp.json(content_type=None)
        if "access_token" not in data:
            raise WeChatAPIError(data.get("errcode"), "could not fetch the access token: " + str(data.get("errmsg")))
        logger.info("WeChat access token fetched (valid %ss)", data.get("expires_in"))
        return data["access_token"], int(data.get("expires_in", 7200))

    # -- calls ------------------------------------------------------------------------------------------------
    async def call(self, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
        """POST a JSON body with the access token; refetch the token once if WeChat rejects it, and retry
        network errors, 5xx and "system busy" with backoff. Raises WeChatAPIError when it finally fails."""
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")  # WeChat shows \\u escapes literally
        attempt, token_refreshed = 0, False
        while True:
            attempt += 1
            errcode: Optional[int] = None
            try:
                token = await self.access_token()
                async with self._http().post(self.api_base + path, params={"access_token": token}, data=payload,
                                             headers={"Content-Type": "application/json; charset=utf-8"}) as resp:
                    if resp.status >= 500:
                        raise WeChatAPIError(None, f"HTTP {resp.status}")
                    data = await resp.json(content_type=None)
                errcode = int(data.get("errcode", 0) or 0)
                if errcode == 0:
                    return data
                if errcode in TOKEN_ERRORS and not token_refreshed:
                    token_refreshed = True
                    await self.store.drop_token(self.appid, token)
                    logger.warning("WeChat rejected the access token (errcode %s); fetching a new one", errcode)
                    attempt -= 1  # a stale token is not a failure of the call itself
                    continue
                if errcode not in TRANSIENT_ERRORS:
                    raise WeChatAPIError(errcode, str(data.get("errmsg", "error")))
                error = WeChatAPIError(errcode, str(data.get("errmsg", "busy")))
            except WeChatAPIError as exc:
                if exc.errcode is not None and exc.errcode not in TRANSIENT_ERRORS:
                    exc.attempts = attempt
                    raise
                error = exc
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                error = WeChatAPIError(None, type(exc).__name__)
            if attempt > len(self.retry_delays):
                error.attempts = attempt
                raise error
            delay = self.retry_delays[attempt - 1]
            logger.warning("WeChat API %s failed (%s); retry %d in %.1fs", path, error, attempt, delay)
            await asyncio.sleep(delay)

    async def send_custom(self, body: Dict[str, Any]) -> bool:
        """Send one customer-service message; a message that cannot be delivered is recorded, not lost."""
        openid = str(body.get("touser", ""))
        try:
            await self.call("/cgi-bin/message/custom/send", body)
            return True
        except WeChatAPIError as exc:
            logger.error("WeChat message to user %s not delivered: %s", user_ref(openid), exc)
            await self.store.record_undelivered(openid, body, exc.errcode, exc.reason, exc.attempts)
            return False

    async def create_menu(self, menu: Dict[str, Any]) -> Dict[str, Any]:
        return await self.call("/cgi-bin/menu/create", menu)
