"""Client of the Rasa server's HTTP API (``--enable-api`` with the token): trackers, pause/resume,
delivering staff replies on the resident's own channel, running an action. Used by the console (handoff,
chat history, insights, errors) and by the handoff's watcher and service."""
from __future__ import annotations

from typing import Any, Dict, List, Optional
from urllib.parse import quote

import aiohttp

from bot.http_client import SessionHolder
from bot.settings import get_settings


class RasaUnavailable(Exception):
    """Rasa could not be reached or refused the call; the caller keeps the work and lets staff retry."""


class RasaAPI(SessionHolder):
    def __init__(self, base_url: Optional[str] = None, token: Optional[str] = None, timeout: float = 10.0):
        settings = get_settings()
        self.base_url = (base_url or settings.rasa_url).rstrip("/")
        self.token = token if token is not None else settings.rasa_token
        super().__init__(timeout)

    def _url(self, conversation_id: str, tail: str) -> str:
        return f"{self.base_url}/conversations/{quote(conversation_id, safe='')}/{tail}"

    async def _call(self, method: str, url: str, params: Optional[Dict[str, str]] = None,
                    json: Any = None) -> Any:
        params = dict(params or {})
        if self.token:
            params["token"] = self.token
        try:
            http = self._http()
            async with http.request(method, url, params=params, json=json) as resp:
                if resp.status >= 400:
                    body = (await resp.text())[:300]
                    raise RasaUnavailable(f"Rasa answered {resp.status}: {body}")
                return await resp.json(content_type=None)
        except RasaUnavailable:
            raise
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise RasaUnavailable(f"Rasa is not reachable ({type(exc).__name__})") from exc
        except Exception as exc:  # asyncio.TimeoutError on 3.10 is not the builtin TimeoutError
            raise RasaUnavailable(f"Rasa call failed ({type(exc).__name__})") from exc

    async def parse(self, text: str) -> Dict[str, Any]:
        """``POST /model/parse``: what the served model understands in ``text`` (intent, entities)."""
        return await self._call("POST", f"{self.base_url}/model/parse", json={"text": text})

    async def reachable(self) -> bool:
        try:
            http = self._http()
            async with http.get(f"{self.base_url}/status", params={"token": self.token}) as resp:
                return resp.status == 200
        except Exception:
            return False

    async def tracker(self, conversation_id: str, include_events: str = "ALL") -> Dict[str, Any]:
        return await self._call("GET", self._url(conversation_id, "tracker"),
                                params={"include_events": include_events})

    async def append_events(self, conversation_id: str, events: List[Dict[str, Any]],
                            execute_side_effects: bool = False) -> Dict[str, Any]:
        params = {"include_events": "NONE"}
        if execute_side_effects:
            params.update(output_channel="latest", execute_side_effects="true")
        return await self._call("POST", self._url(conversation_id, "tracker/events"), params=params, json=events)

    async def pause(self, conversation_id: str) -> None:
        await self.append_events(conversation_id, [{"event": "pause"}])

    async def resume(self, conversation_id: str) -> None:
        await self.append_events(conversation_id, [{"event": "resume"}])

    async def relay(self, conversation_id: str, text: str, staff_name: str) -> None:
        """Deliver a staff reply through the output channel of the resident's latest input channel.

        One call, under Rasa's conversation lock: the ``bot`` event is recorded in the tracker *and* sent
        (socket.io room push on the web page, the customer-service API on WeChat), while the conversation
        stays paused — so Huimin never answers in between.
        """
        await self.append_events(conversation_id, [{
            "event": "bot", "text": text, "data": {}, "metadata": {"human_agent": staff_name}}],
            execute_side_effects=True)

    async def execute(self, conversation_id: str, action: str) -> Dict[str, Any]:
        # /execute runs the action even while paused, and predicts nothing after it.
        return await self._call("POST", self._url(conversation_id, "execute"),
                                params={"output_channel": "latest", "include_events": "NONE"},
                                json={"name": action})

    async def hand_back(self, conversation_id: str) -> None:
        """Run action_handback: it tells the resident Huimin is back and resumes the conversation."""
        await self.execute(conversation_id, "action_handback")
