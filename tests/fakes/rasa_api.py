"""A local stand-in for the Rasa server's HTTP API (the endpoints the console uses), for API tests that
must not need a trained model. It checks the token and records what the console asked of it: the events it
appended, what those would have delivered, and the actions it asked Rasa to run. It does not run actions: what
Rasa's action_handback says and does is checked against the real stack (tests/test_handoff_e2e.py)."""
from __future__ import annotations

import time
from typing import Dict, List

from aiohttp import web


class FakeRasa:
    def __init__(self, token: str = "fake-token"):
        self.token = token
        self.trackers: Dict[str, dict] = {}
        self.delivered: List[dict] = []  # bot messages sent through the output channel
        self.executed: List[dict] = []   # POST /conversations/{id}/execute calls
        self.down = False

    def conversation(self, cid: str, channel: str = "socketio") -> dict:
        return self.trackers.setdefault(cid, {"sender_id": cid, "events": [], "paused": False,
                                              "latest_input_channel": channel})

    def resident_says(self, cid: str, text: str) -> None:
        self.conversation(cid)["events"].append({"event": "user", "text": text, "timestamp": time.time(),
                                                 "parse_data": {"intent": {"name": "inform"}}})

    def _check(self, request: web.Request) -> None:
        if self.down:
            raise web.HTTPServiceUnavailable()
        if request.query.get("token") != self.token:
            raise web.HTTPUnauthorized()

    async def status(self, request):
        self._check(request)
        return web.json_response({"model_file": "fake"})

    async def tracker(self, request):
        self._check(request)
        return web.json_response(self.conversation(request.match_info["cid"]))

    async def events(self, request):
        self._check(request)
        t = self.conversation(request.match_info["cid"])
        body = await request.json()
        for e in body if isinstance(body, list) else [body]:
            e = dict(e, timestamp=time.time())
            t["events"].append(e)
            if e["event"] == "pause":
                t["paused"] = True
            elif e["event"] == "resume":
                t["paused"] = False
            elif e["event"] == "bot" and request.query.get("execute_side_effects") == "true":
                self.delivered.append({"to": t["sender_id"], "text": e["text"],
                                       "channel": request.query.get("output_channel")})
        return web.json_response(t)

    async def execute(self, request):
        self._check(request)
        t = self.conversation(request.match_info["cid"])
        name = (await request.json())["name"]
        self.executed.append({"conversation": t["sender_id"], "action": name,
                              "output_channel": request.query.get("output_channel")})
        if name == "action_handback":  # its one effect the console relies on (tests/test_handoff_e2e.py)
            t["paused"] = False
            t["events"].append({"event": "resume", "timestamp": time.time()})
        return web.json_response({"tracker": t, "messages": []})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/status", self.status)
        app.router.add_get("/conversations/{cid}/tracker", self.tracker)
        app.router.add_post("/conversations/{cid}/tracker/events", self.events)
        app.router.add_post("/conversations/{cid}/execute", self.execute)
        return app
