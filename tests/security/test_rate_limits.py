"""Issue 12 item 6: rate limits — per client at the public door (nginx), per conversation and per client in
front of the status lookup's per-application lockout, and a handoff watcher whose cost does not grow with the
number of open tickets."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from tests.security.console_helpers import client_from, nginx_in_front, status_of

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]


async def _flood(session, method: str, url: str, n: int, **kw) -> list:
    return [await status_of(session, method, url, **kw) for _ in range(n)]


def test_public_paths_are_limited_per_client_at_nginx(stack, tmp_path):
    async def run(front):
        handshake = f"{front.url}/socket.io/"
        params = {"EIO": "4", "transport": "polling"}
        async with client_from("127.0.0.2") as a, client_from("127.0.0.3") as b:
            chat = await _flood(a, "GET", handshake, 80, params=params)
            assert chat[0] == 200
            assert 429 in chat, f"80 socket.io handshakes at once from one address were all let through: {chat}"
            async with a.get(handshake, params=params) as r:
                assert r.status == 429 and "稍等" in await r.text()
            # Another address is not affected by the first one's flood.
            assert await status_of(b, "GET", handshake, params=params) == 200

            login = f"{front.url}/api/auth/login"
            guesses = await _flood(a, "POST", login, 30, json={"username": "admin", "password": "guess-1234"})
            assert 429 in guesses, f"30 password guesses from one address reached the console: {guesses}"
            assert guesses.count(429) >= 15
            assert await status_of(b, "POST", login, json={"username": "admin", "password": "x"}) != 429

            wechat = await _flood(a, "GET", f"{front.url}/webhooks/wechat/webhook", 300,
                                  params={"signature": "0", "timestamp": "0", "nonce": "0", "echostr": "0"})
            assert 429 in wechat

    with nginx_in_front(stack, tmp_path / "nginx") as front:
        asyncio.run(run(front))


def test_rate_limit_exempt_addresses_are_not_counted(stack, tmp_path):
    async def run(front):
        async with client_from("127.0.0.1") as s:
            codes = await _flood(s, "GET", f"{front.url}/socket.io/", 80, params={"EIO": "4", "transport": "polling"})
        assert 429 not in codes

    with nginx_in_front(stack, tmp_path / "nginx", rate_limit_exempt=("127.0.0.1",)) as front:
        asyncio.run(run(front))


def test_watcher_follows_250_open_tickets_with_bounded_rasa_load(stack, sqlite_url):
    """250 open tickets: the resident's message on the last one still reaches the console, and the watcher
    never has more than a handful of tracker reads in flight, nor reads every tracker every second."""
    from bot.handoff import tickets
    from bot.rasa.http_api import RasaAPI
    from bot.handoff.watcher import Watcher

    async def run():
        run_id = uuid.uuid4().hex[:8]
        ids = []
        for i in range(250):
            t, _ = await tickets.create_ticket(f"sec-watch-{run_id}-{i:03d}", "rest", "requested",
                                               summary=f"#{i}", url=sqlite_url)
            ids.append(t["id"])
        rasa = RasaAPI(stack.rasa_url, stack.token)
        last = f"sec-watch-{run_id}-249"
        await rasa.append_events(last, [{"event": "user", "text": "请问还有人在吗", "timestamp": time.time() + 1,
                                         "parse_data": {"intent": {"name": "ask_human", "confidence": 1.0}}}])

        in_flight, peak, per_tick = 0, 0, []
        real_tracker = rasa.tracker

        async def counted(conversation_id, include_events="ALL"):
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            per_tick[-1] += 1
            try:
                return await real_tracker(conversation_id, include_events)
            finally:
                in_flight -= 1

        rasa.tracker = counted
        published = []
        watcher = Watcher(rasa, lambda kind, data: published.append((kind, data)), {}, sqlite_url, interval=1.0)
        seen = False
        try:
            for _ in range(14):  # 250 tickets, at most 25 reads per interval: every ticket within 10 ticks
                per_tick.append(0)
                await watcher.tick()
                if (await tickets.get_ticket(ids[-1], sqlite_url))["resident_messages"] == 1:
                    seen = True
                    break
        finally:
            await rasa.close()
        assert seen, "the 250th open ticket's resident message never reached the console"
        assert ("message", {"ticket_id": ids[-1], "text": "请问还有人在吗"}) in \
            [(k, {"ticket_id": d.get("ticket_id"), "text": d.get("text")}) for k, d in published if k == "message"]
        assert peak <= 5, f"{peak} tracker reads in flight at once"
        assert max(per_tick) <= 25, f"tracker reads per interval: {per_tick}"

    asyncio.run(run())


class WebResident:
    """The chat page's socket.io session, connecting through nginx from a chosen address."""

    def __init__(self, front_url: str, address: str):
        from tests.handoff_helpers import Resident

        self.front_url, self.address = front_url, address
        self.resident = Resident(front_url)

    async def __aenter__(self):
        r = self.resident
        self.http = client_from(self.address, cookies=True)
        import socketio

        sio = socketio.AsyncClient(reconnection=False, http_session=self.http)
        for event, handler in r.sio.handlers.get("/", {}).items():
            sio.on(event, handler)
        r.sio = sio
        await sio.connect(self.front_url, socketio_path="/socket.io", transports=["polling"])
        await sio.emit("session_request", {"session_id": r.session_id})
        await asyncio.wait_for(r._confirmed.wait(), 20)
        return self

    async def __aexit__(self, *exc):
        await self.resident.close()
        await self.http.close()

    async def turn(self, text: str, expect) -> str:
        """Say ``text``; the texts of the answer once one of them satisfies ``expect``."""
        before = len(self.resident.received)
        await self.resident.say(text)
        await self.resident.wait_for(lambda m: expect(m.get("text") or ""), timeout=60, after=before)
        await asyncio.sleep(0.3)  # the rest of the same turn
        return "\n".join(self.resident.texts(before))


LOCKED, NOT_MATCHED, ASK_ANSWER = "输错次数太多", "对不上", "为了保护您的信息"


def _answered(text: str) -> bool:
    return LOCKED in text or NOT_MATCHED in text or "张*国" in text


def test_a_stranger_cannot_lock_the_applicant_out_of_the_status_lookup(stack, tmp_path):
    """A stranger types the applicant's number and wrong answers — over and over, in new conversations — then
    the applicant asks from another address: answered. Before, five wrong answers locked the application."""
    from bot.applications.importer import import_csv
    from bot.applications.seed import DEMO_CSV

    asyncio.run(import_csv(DEMO_CSV, url=stack.database_url, skip_invalid=True))

    async def run(front):
        tries = []  # wrong answers each conversation could give before it was told to wait
        for conversation in range(3):
            async with WebResident(front.url, "127.0.0.5") as stranger:
                said = await stranger.turn("查询 MZ2026000101", lambda t: ASK_ANSWER in t or LOCKED in t)
                n = 0
                while LOCKED not in said and n < 6:
                    n += 1
                    said = await stranger.turn(f"{100000 + 10 * conversation + n}", _answered)
                tries.append(n)
        # 3 per conversation, 4 per address: never the 5 that lock the application.
        assert tries == [3, 1, 1], tries
        async with WebResident(front.url, "127.0.0.6") as applicant:
            await applicant.turn("查询 MZ2026000101", lambda t: ASK_ANSWER in t)
            result = await applicant.turn("我的手机是138 0013 8001", _answered)
        assert "张*国" in result and LOCKED not in result, result

    with nginx_in_front(stack, tmp_path / "nginx") as front:
        asyncio.run(run(front))
