"""The one way Huimin's HTTP clients (Rasa's HTTP API, WeChat's server API) hold an aiohttp session: opened on
first use — inside the running event loop, as aiohttp requires — reused for every call, opened again after a
close, with the client's total timeout."""
from __future__ import annotations

from typing import Optional

import aiohttp


class SessionHolder:
    def __init__(self, timeout: float) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: Optional[aiohttp.ClientSession] = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
