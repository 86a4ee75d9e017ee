"""The production topology against real PostgreSQL, Redis and nginx: 2 Rasa replicas, 2 action servers.

Skipped (with the reason) when PostgreSQL or Redis are not configured — failed instead in CI (CI=true). Run by
`make test` via .ci/run, which sets HUIMIN_TEST_POSTGRES_URL / HUIMIN_TEST_REDIS_URL on machines where they run.
The tests share one topology (module fixture) and run in file order: the replica-killing test and the restart come last.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import random
import re
import signal
import socket
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional

import aiohttp
import pytest
import sqlalchemy as sa

from bot.channels.rest import conversation_id
from bot.stack.actions_server import TOKEN_HEADER
from tests.conftest import ROOT, unavailable
from tests.handoff_helpers import leave

PG = os.environ.get("HUIMIN_TEST_POSTGRES_URL", "")
REDIS = os.environ.get("HUIMIN_TEST_REDIS_URL", "")
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(3600)]

WECHAT_TOKEN = "topology-test-token"
SCRIPT = ["你好", "低保要带什么材料", "在哪儿办", "高龄津贴多少钱", "谢谢"]


class Topo:
    def __init__(self, topo, procs, run_dir: Path):
        self.topo, self.procs, self.run_dir = topo, procs, run_dir
        self.public = f"http://127.0.0.1:{topo.public_port}"
        self.api = f"http://127.0.0.1:{topo.rasa_api_lb_port}"
        self.token = topo.env["HUIMIN_RASA_TOKEN"]
        self.db_url = topo.env["HUIMIN_DATABASE_URL"]

    def proc(self, name):
        return next(p for p in self.procs if p.name == name)

    def replica_url(self, name: str) -> str:
        return f"http://127.0.0.1:{next(s.port for s in self.topo.services if s.name == name)}"

    def rows(self, sql: str, **params) -> List[tuple]:
        from bot.db import to_sync_url

        engine = sa.create_engine(to_sync_url(self.db_url))
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(sa.text(sql), params)]
        finally:
            engine.dispose()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _listening_ports() -> tuple:
    """(public port, base port) for the topology, below the kernel's ephemeral range and with every port it listens
    on free. Above it, an outgoing connection of this or another test process (the suite runs on two workers) can
    take one of them between the check and the bind — a restarted action server once found its port taken."""
    low = _ephemeral_low()
    for _ in range(200):
        base = random.randrange(10000, max(10001, low - 400), 10)
        public = base + 300
        ports = (base, base + 1, base + 100, base + 101, base + 200, public, public + 1, public + 2)
        if all(_bindable(p) for p in ports):
            return public, base
    raise RuntimeError("no free ports for the topology below the ephemeral range")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _start(model, run_dir: Path, suffix: str):
    from bot.prod.cli import prepare, start_topology
    from bot.prod.topology import build
    from bot.stack import processes

    server = PG.rsplit("/", 1)[0].replace("postgresql+asyncpg://", "postgresql://")
    public, base = _listening_ports()
    topo = build(model, public_port=public, base_port=base,
                 pg_url=server, redis_url=REDIS.rsplit("/", 1)[0] + "/2",
                 database=f"huimin_topo_{suffix}", tracker_database=f"huimin_topo_tracker_{suffix}",
                 rate_limit_exempt=("127.0.0.1",))  # its load comes from one address
    prepare(topo)
    procs = start_topology(topo, run_dir, env_extra={"HUIMIN_WECHAT_TOKEN": WECHAT_TOKEN})
    for p in procs:
        if not processes.wait_healthy(p.health_url, 900, p.popen):
            processes.stop(procs)
            raise RuntimeError(f"{p.name} did not start; see {run_dir / 'log'}")
    return Topo(topo, procs, run_dir)


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    from bot.stack import processes
    from bot.stack.training import ensure_model

    if not (PG and REDIS):
        unavailable("PostgreSQL and Redis not configured "
                    "(HUIMIN_TEST_POSTGRES_URL / HUIMIN_TEST_REDIS_URL, set by .ci/run when they answer)")
    # HUIMIN_TOPOLOGY_MODEL: an already trained model (a developer's shortcut while the data is being edited).
    model = Path(os.environ["HUIMIN_TOPOLOGY_MODEL"]) if os.environ.get("HUIMIN_TOPOLOGY_MODEL") else ensure_model()
    suffix = uuid.uuid4().hex[:8]
    run_dir = tmp_path_factory.mktemp("prod")
    t = _start(model, run_dir, suffix)
    t.model, t.suffix = model, suffix
    yield t
    processes.stop(t.procs)
    from bot.prod.cli import drop_topology_databases

    drop_topology_databases(t.topo)


async def _converse(session, url, sender, script, delivered: Dict[str, List[str]], retry_on_error=False):
    for text in script:
        for attempt in range(3 if retry_on_error else 1):
            try:
                async with session.post(url, json={"sender": sender, "message": text}) as resp:
                    if resp.status == 200:
                        await resp.json()
                        delivered.setdefault(sender, []).append(text)
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)


async def _tracker(session, api, token, sender) -> Dict:
    async with session.get(f"{api}/conversations/{conversation_id(sender)}/tracker", params={"token": token}) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _tracker_texts(session, api, token, sender) -> List[str]:
    tracker = await _tracker(session, api, token, sender)
    return [e.get("text") for e in tracker.get("events", []) if e.get("event") == "user"]


async def _run_conversations(t: Topo, n: int, retry_on_error=False, during=None):
    # The REST channel is not public (it trusts the sender): tests reach it through the loopback balancer.
    url = f"{t.api}/webhooks/rest/webhook"
    delivered: Dict[str, List[str]] = {}
    senders = [f"topo-{uuid.uuid4().hex[:10]}" for _ in range(n)]
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        tasks = [asyncio.create_task(_converse(session, url, s, SCRIPT, delivered, retry_on_error)) for s in senders]
        if during:
            await during()
        await asyncio.gather(*tasks)
        trackers = {s: await _tracker_texts(session, t.api, t.token, s) for s in senders}
    return senders, delivered, trackers


def _served_by(t: Topo, path_prefix: str) -> Counter:
    """Upstream addresses nginx used for requests under ``path_prefix`` (its access log, flushed every second)."""
    log = t.run_dir / "nginx-access.log"
    pattern = re.compile(r'"POST ' + re.escape(path_prefix) + r'[^"]*" (\S+)')
    return Counter(m.group(1) for m in pattern.finditer(log.read_text()) if m) if log.exists() else Counter()


def test_every_process_is_healthy_and_the_public_paths_are_routed(topology):
    async def check():
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as s:
            async with s.post(f"{topology.api}/webhooks/rest/webhook",
                              json={"sender": f"topo-{uuid.uuid4().hex[:8]}", "message": "高龄津贴多少钱"}) as r:
                assert r.status == 200
                answer = await r.json()
                assert answer and any(m.get("text") for m in answer), answer
            # ... but not from the public port.
            async with s.post(f"{topology.public}/webhooks/rest/webhook",
                              json={"sender": "wx:someone", "message": "我的预约"}) as r:
                assert r.status == 404
            async with s.get(f"{topology.public}/chat") as r:
                assert r.status == 200 and "text/html" in r.headers["Content-Type"]
            async with s.get(f"{topology.public}/health") as r:
                assert r.status == 200
            # The WeChat path reaches the channel on a replica: the URL check WeChat makes (signed echo) passes.
            stamp, nonce = str(int(time.time())), uuid.uuid4().hex[:8]
            signature = hashlib.sha1("".join(sorted([WECHAT_TOKEN, stamp, nonce])).encode()).hexdigest()
            async with s.get(f"{topology.public}/webhooks/wechat/webhook",
                              params={"signature": signature, "timestamp": stamp, "nonce": nonce,
                                      "echostr": "topo-echo"}) as r:
                assert r.status == 200 and await r.text() == "topo-echo"
            # socket.io's handshake goes through nginx to a Rasa replica.
            async with s.get(f"{topology.public}/socket.io/", params={"EIO": "4", "transport": "polling"}) as r:
                assert r.status == 200 and '"sid"' in await r.text()
            # Rasa's HTTP API is not on the public port (it is on its own loopback balancer).
            async with s.get(f"{topology.public}/status", params={"token": topology.token}) as r:
                assert r.status != 200 or "model_file" not in await r.text()
            async with s.get(f"{topology.api}/status", params={"token": topology.token}) as r:
                assert r.status == 200 and "model_file" in await r.json()
            # Nor are the action servers: each one and their balancer list the actions and run one on request,
            # the public port does neither.
            probe = {"next_action": "action_default_fallback", "sender_id": "topo-probe", "version": "3.6.21",
                         "tracker": {"sender_id": "topo-probe", "slots": {}, "latest_message": {}, "events": [],
                                     "paused": False, "followup_action": None, "active_loop": {},
                                     "latest_action_name": None},
                         "domain": {}}
            action_urls = [topology.replica_url(a.name) for a in topology.topo.of_kind("actions")]
            assert len(action_urls) >= 2
            auth = {TOKEN_HEADER: topology.topo.env["HUIMIN_ACTIONS_TOKEN"]}
            for url in action_urls + [f"http://127.0.0.1:{topology.topo.actions_lb_port}"]:
                async with s.get(f"{url}/actions", headers=auth) as r:
                    assert r.status == 200 and any(a.get("name") for a in await r.json()), url
                # Only Rasa, holding the shared secret, may call them.
                async with s.get(f"{url}/actions") as r:
                    assert r.status == 401, url
            async with s.get(f"{topology.public}/actions") as r:
                body = await r.text()
                assert r.status != 200 or '"name"' not in body, body[:300]
            async with s.post(f"{topology.public}/webhook", json=probe) as r:
                body = await r.text()
                assert r.status != 200 or '"events"' not in body, body[:300]
    asyncio.run(check())


def test_200_concurrent_conversations_nothing_lost_duplicated_or_reordered(topology):
    senders, delivered, trackers = asyncio.run(_run_conversations(topology, 200))
    assert all(delivered.get(s) == SCRIPT for s in senders), \
        f"{sum(delivered.get(s) != SCRIPT for s in senders)} conversations got an error response"
    wrong = {s: trackers[s] for s in senders if trackers[s] != SCRIPT}
    assert not wrong, f"{len(wrong)} trackers differ from what was sent, e.g. {next(iter(wrong.items()))}"
    # Both replicas served resident messages (nginx balances least_conn).
    asyncio.run(asyncio.sleep(1.5))
    served = _served_by(topology, "/webhooks/rest/webhook")
    replicas = {topology.replica_url(n).split("//")[1] for n in ("rasa-1", "rasa-2")}
    assert replicas <= set(served), f"not every replica served messages: {served}"


def test_staff_reply_reaches_a_web_chat_held_by_another_replica(topology):
    """The resident's socket.io connection is on rasa-1; the console's relay lands on rasa-2 (any replica may
    serve the HTTP API): the message reaches the resident through Redis."""
    import socketio

    async def run() -> List[str]:
        received: List[str] = []
        confirmed = asyncio.Event()
        got_reply = asyncio.Event()
        session = {"id": None}
        client = socketio.AsyncClient(reconnection=False)

        @client.on("session_confirm")
        async def _confirm(data):
            session["id"] = data.get("session_id") if isinstance(data, dict) else data  # the server issues ids
            confirmed.set()

        @client.on("bot_uttered")
        async def _uttered(data):
            received.append(data.get("text") or "")
            got_reply.set()

        await client.connect(topology.replica_url("rasa-1"), socketio_path="/socket.io", transports=["polling"])
        try:
            await client.emit("session_request", {"session_id": None})
            await asyncio.wait_for(confirmed.wait(), 30)
            session_id = session["id"]
            await client.emit("user_uttered", {"message": "你好", "session_id": session_id})
            await asyncio.wait_for(got_reply.wait(), 120)
            before = len(received)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
                url = f"{topology.replica_url('rasa-2')}/conversations/{session_id}/tracker/events"
                async with http.post(url, params={"token": topology.token, "output_channel": "latest",
                                                  "execute_side_effects": "true", "include_events": "NONE"},
                                     json=[{"event": "bot", "text": "工作人员：您好，我来帮您。"}]) as r:
                    assert r.status == 200, await r.text()
            for _ in range(100):
                if len(received) > before:
                    break
                await asyncio.sleep(0.1)
            return received[before:]
        finally:
            await leave(client)

    assert asyncio.run(run()) == ["工作人员：您好，我来帮您。"]


def _free_bath_slot(index: int = 0):
    """The ``index``-th bookable bath slot at the Dayanggou site more than a day ahead (so no notice rule expires
    mid-test); tests that book use different indexes."""
    from bot.booking import slots, when
    from bot.booking.catalogue import load_catalogue

    cat = load_catalogue(ROOT / "knowledge")
    offering = cat.offering("dayanggou", "bath", "site")
    now = when.now()
    ahead = [s for s in slots.bookable_slots(cat, offering, now) if s.start > now + dt.timedelta(days=1)]
    return offering, ahead[index]


async def _book(session, t: Topo, sender: str, phone: str, slot_key: str, replicas: List[str]) -> Optional[str]:
    """Drive one real booking conversation, message by message alternating between the replicas' REST channels,
    answering whatever the form asks; returns the booking outcome slot (booked / full / …)."""
    first = '/book_service{"service": "bath", "site": "dayanggou", "booking_when": "%s"}' % slot_key
    answers = {"booking_person": "我本人", "booking_phone": phone, "booking_confirmed": "/affirm"}
    message, asked = first, []
    for turn in range(8):
        url = f"{replicas[turn % len(replicas)]}/webhooks/rest/webhook"
        async with session.post(url, json={"sender": sender, "message": message}) as resp:
            assert resp.status == 200, await resp.text()
            await resp.json()
        tracker = await _tracker(session, t.api, t.token, sender)
        # The outcome as the confirming action set it (a full slot re-opens the form, which may clear it again).
        outcomes = [e.get("value") for e in tracker["events"]
                    if e.get("event") == "slot" and e.get("name") == "booking_outcome" and e.get("value")]
        if outcomes:
            return outcomes[-1]
        requested = tracker["slots"].get("requested_slot")
        if requested in ("booking_time", "booking_date") and "booking_confirmed" in asked:
            return "full"  # taken meanwhile: the form found it full at confirmation and offers other times
        asked.append(requested)
        if requested not in answers:
            raise AssertionError(f"{sender}: unexpected question {requested!r} after {asked}")
        message = answers[requested]
    raise AssertionError(f"{sender}: no outcome after {asked}")


def test_bookings_made_concurrently_through_both_replicas_never_exceed_capacity(topology):
    offering, slot = _free_bath_slot()
    n = 4 * offering.capacity
    replicas = [topology.replica_url("rasa-1"), topology.replica_url("rasa-2")]

    async def run():
        timeout = aiohttp.ClientTimeout(total=300)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            # Each conversation starts on a different replica and alternates between them at every message.
            return await asyncio.gather(*(
                _book(session, topology, f"topo-book-{i}-{uuid.uuid4().hex[:6]}", f"1391234{i:04d}", slot.key,
                      replicas[i % 2:] + replicas[:i % 2]) for i in range(n)))

    outcomes = Counter(asyncio.run(run()))
    assert outcomes == {"booked": offering.capacity, "full": n - offering.capacity}, outcomes
    booked = topology.rows("SELECT count(*) FROM bookings WHERE site_id = 'dayanggou' AND service_id = 'bath' "
                           "AND mode = 'site' AND start = :start AND status = 'booked'", start=slot.start)
    taken = topology.rows("SELECT booked, capacity FROM booking_slots WHERE site_id = 'dayanggou' "
                          "AND service_id = 'bath' AND mode = 'site' AND start = :start", start=slot.start)
    assert booked == [(offering.capacity,)]
    assert taken == [(offering.capacity, offering.capacity)]


def test_killing_a_rasa_replica_and_an_action_server_loses_nothing(topology):
    async def kill_midway():
        await asyncio.sleep(3)
        for name in ("rasa-1", "actions-1"):
            os.killpg(topology.proc(name).popen.pid, signal.SIGKILL)

    senders, delivered, trackers = asyncio.run(_run_conversations(topology, 60, retry_on_error=True,
                                                                  during=kill_midway))
    assert all(delivered.get(s) == SCRIPT for s in senders), "a message was not answered even after a retry"
    for s in senders:
        texts = trackers[s]
        # Every message the resident sent is in the conversation, in order; a retry of a message whose answer
        # was lost with the killed replica may appear twice, never out of order.
        deduped = [x for i, x in enumerate(texts) if i == 0 or texts[i - 1] != x]
        assert deduped == SCRIPT, (s, texts)


def test_restart_keeps_conversations_tickets_and_bookings(topology, tmp_path):
    from bot.stack import processes

    senders, delivered, _ = asyncio.run(_run_conversations(topology, 5))
    # A conversation handed to a person: the ticket is the action server's, in PostgreSQL.
    handed = f"topo-handoff-{uuid.uuid4().hex[:8]}"

    async def ask_for_a_person():
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as s:
            async with s.post(f"{topology.api}/webhooks/rest/webhook",
                              json={"sender": handed, "message": "/request_human"}) as r:
                assert r.status == 200
    asyncio.run(ask_for_a_person())
    tickets = topology.rows("SELECT id, status FROM handoff_tickets WHERE conversation_id = :c",
                            c=conversation_id(handed))
    assert len(tickets) == 1, tickets
    # A booking of this test's own (whatever the earlier tests booked is checked the same way below).
    _, slot = _free_bath_slot(index=1)

    async def book():
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as s:
            # Through the balancer: an earlier test may have killed a replica (the fixture does not restart it).
            return await _book(s, topology, f"topo-restart-{uuid.uuid4().hex[:6]}", "13912349999", slot.key,
                               [topology.api])
    assert asyncio.run(book()) == "booked"
    bookings = topology.rows("SELECT code, start, status FROM bookings ORDER BY code")
    assert [b for b in bookings if b[1] == slot.start and b[2] == "booked"], bookings

    processes.stop(topology.procs)
    t2 = _start(topology.model, tmp_path, topology.suffix)
    topology.procs = t2.procs  # the module fixture stops whatever runs at the end

    async def read():
        async with aiohttp.ClientSession() as session:
            return {s: await _tracker_texts(session, t2.api, t2.token, s) for s in senders + [handed]}

    trackers = asyncio.run(read())
    assert all(trackers[s] == SCRIPT for s in senders)
    assert trackers[handed] == ["/request_human"]
    assert t2.rows("SELECT id, status FROM handoff_tickets WHERE conversation_id = :c",
                   c=conversation_id(handed)) == tickets
    assert t2.rows("SELECT code, start, status FROM bookings ORDER BY code") == bookings
    # Every slot's capacity counter still agrees with the bookings it holds.
    counted = t2.rows("SELECT s.start, s.booked, (SELECT count(*) FROM bookings b WHERE b.site_id = s.site_id "
                      "AND b.service_id = s.service_id AND b.mode = s.mode AND b.start = s.start "
                      "AND b.status = 'booked') FROM booking_slots s")
    assert counted and all(booked == held for _, booked, held in counted), counted
