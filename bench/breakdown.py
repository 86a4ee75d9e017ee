"""Where the time of one message goes (one conversation at a time, no queueing): the whole REST round trip,
Rasa's NLU alone (`POST /model/parse`), and the custom action alone (the same request Rasa sends to the action
server, replayed with the conversation's real tracker). What is left is dialogue prediction, the tracker store
and the lock store."""
from __future__ import annotations

import statistics
import time
import uuid
from typing import Dict, List

import aiohttp

from bot.channels.rest import conversation_id
from bot.settings import get_settings
from bot.stack.actions_server import TOKEN_HEADER

QUESTIONS = ["低保要带什么材料", "高龄津贴多少钱", "残疾人两项补贴是什么", "临时救助怎么申请", "特困供养在哪儿办"]


def _ms(values: List[float]) -> float:
    return round(statistics.median(values), 1) if values else float("nan")


async def measure(rasa_url: str, actions_url: str, token: str, rounds: int = 3) -> Dict[str, float]:
    turn, parse, action = [], [], []
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async with http.get(f"{rasa_url}/domain", params={"token": token},
                            headers={"Accept": "application/json"}) as r:
            domain = await r.json()
        for _ in range(rounds):
            sender = f"bench-bd-{uuid.uuid4().hex[:8]}"
            for text in QUESTIONS:
                started = time.perf_counter()
                async with http.post(f"{rasa_url}/webhooks/rest/webhook",
                                     json={"sender": sender, "message": text}) as r:
                    await r.json()
                turn.append((time.perf_counter() - started) * 1000)

                started = time.perf_counter()
                async with http.post(f"{rasa_url}/model/parse", params={"token": token}, json={"text": text}) as r:
                    await r.json()
                parse.append((time.perf_counter() - started) * 1000)

                conversation = conversation_id(sender)
                async with http.get(f"{rasa_url}/conversations/{conversation}/tracker",
                                    params={"token": token}) as r:
                    tracker = await r.json()
                ran = [e["name"] for e in tracker["events"] if e.get("event") == "action"
                       and e.get("name", "").startswith("action_") and e["name"] not in ("action_listen",
                                                                                       "action_session_start")]
                if not ran:
                    continue
                started = time.perf_counter()
                async with http.post(f"{actions_url}/webhook", json={
                        "next_action": ran[-1], "sender_id": conversation, "tracker": tracker, "domain": domain,
                        "version": "3.6.21"}, headers={TOKEN_HEADER: get_settings().actions_token}) as r:
                    await r.read()
                action.append((time.perf_counter() - started) * 1000)
    out = {"turn_ms": _ms(turn), "nlu_parse_ms": _ms(parse), "action_ms": _ms(action),
           "samples": len(turn)}
    out["rest_ms"] = round(out["turn_ms"] - out["nlu_parse_ms"] - out["action_ms"], 1)
    return out
