"""The cached action-result validation (bot/rasa/fixes.py) accepts and rejects exactly what Rasa's own does."""
import pytest
from jsonschema import ValidationError

from bot.rasa import fixes as rasa_fixes



async def _serve_webhook(webhook):
    """A real HTTP server on a free local port answering POST /webhook (the action server's side of the call)."""
    from aiohttp import web

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]

def test_action_results_are_validated_as_before():
    from rasa.core.actions.action import RemoteAction

    rasa_fixes.install()
    action = RemoteAction("action_answer_knowledge", None)
    good = {"events": [{"event": "slot", "name": "program", "value": "dibao", "timestamp": None}],
            "responses": [{"text": "您好"}]}
    assert action._validate_action_result(good) is True
    with pytest.raises(ValidationError) as caught:
        action._validate_action_result({"events": [{"event": "slot"}], "responses": []})  # a SlotSet needs a name
    assert "Failed to validate Action server response" in caught.value.message
    with pytest.raises(ValidationError):
        action._validate_action_result({"events": "not a list"})


def test_event_classes_by_name_are_rasas():
    from rasa.shared.core.events import Event
    from rasa.shared.utils.common import all_subclasses

    rasa_fixes.install()
    for cls in all_subclasses(Event):
        expected = next(c for c in all_subclasses(Event) if c.type_name == cls.type_name)
        assert Event.resolve_by_type(cls.type_name) is expected
        assert Event.resolve_by_type(cls.type_name) is expected  # the second time from the cache
    assert Event.resolve_by_type("no-such-event", default=Event) is Event
    assert Event.resolve_by_type("topic") is None
    with pytest.raises(ValueError):
        Event.resolve_by_type("no-such-event")


def _conversation():
    """Turns with fallbacks (rewinds), a reverted action, a form and slots: every kind of reset Rasa replays."""
    from rasa.shared.core.events import (ActionExecuted, ActionReverted, ActiveLoop, BotUttered, SessionStarted,
                                         SlotSet, UserUttered, UserUtteranceReverted)

    t = [1000.0]

    def ts():
        t[0] += 1
        return t[0]

    events = [ActionExecuted("action_session_start", timestamp=ts()), SessionStarted(timestamp=ts()),
              ActionExecuted("action_listen", timestamp=ts())]
    for i in range(12):
        events += [UserUttered(f"问题{i}", {"name": "ask_amount", "confidence": 0.9}, timestamp=ts()),
                   SlotSet("program", f"p{i}", timestamp=ts()),
                   ActionExecuted("action_answer_knowledge", timestamp=ts()), BotUttered(f"答{i}", timestamp=ts())]
        if i % 3 == 1:
            events += [UserUtteranceReverted(timestamp=ts()), SlotSet("fallback_count", float(i), timestamp=ts())]
        if i == 5:
            events += [ActionExecuted("booking_form", timestamp=ts()), ActiveLoop("booking_form", timestamp=ts()),
                       SlotSet("requested_slot", "date", timestamp=ts())]
        if i == 7:
            events += [ActionExecuted("utter_x", timestamp=ts()), ActionReverted(timestamp=ts()),
                       ActiveLoop(None, timestamp=ts())]
        events.append(ActionExecuted("action_listen", timestamp=ts()))
    return events


def _state(tracker):
    from rasa.shared.core.trackers import EventVerbosity

    return (tracker.current_state(EventVerbosity.ALL), {n: (s.value, s.has_been_set) for n, s in tracker.slots.items()},
            tracker.followup_action, tracker.is_paused(), tracker.latest_bot_utterance, tracker.active_loop,
            tracker.latest_message, tracker.latest_action)


def test_a_tracker_is_rebuilt_as_rasa_replays_it():
    from rasa.shared.core.slots import AnySlot, FloatSlot, TextSlot
    from rasa.shared.core.trackers import DialogueStateTracker

    rasa_fixes.install()
    slots = [TextSlot("program", []), FloatSlot("fallback_count", []), AnySlot("requested_slot", [])]
    events = _conversation()
    for n in range(len(events) + 1):  # every prefix: the last reset anywhere, or none
        expected = DialogueStateTracker("c", slots)
        for e in events[:n]:
            expected.update(e)  # Rasa's own path: each rewind replays everything before it
        rebuilt = DialogueStateTracker.from_events("c", events[:n], slots)
        assert _state(rebuilt) == _state(expected), n
        assert _state(rebuilt.copy()) == _state(expected), n
        back = DialogueStateTracker("c", slots)
        for e in events[:n]:
            if e.timestamp > 1020.0:
                break
            back.update(e)
        assert _state(rebuilt.travel_back_in_time(1020.0)) == _state(back), n


def _huimin_turns():
    """Turn after turn of a conversation with everything that changes states: knowledge answers with slots,
    fallbacks (rewinds), a form that asks, is interrupted, rejected and ends, rule-only (hidden) turns, a
    follow-up action, and the per-prediction featurization events."""
    from rasa.shared.core.events import (ActionExecuted, ActionExecutionRejected, ActiveLoop, BotUttered,
                                         DefinePrevUserUtteredFeaturization, FollowupAction, LoopInterrupted,
                                         SlotSet, UserUttered, UserUtteranceReverted)

    def user(text, intent, entities=()):
        ents = [{"entity": e, "value": v, "start": 0, "end": 1} for e, v in entities]
        return UserUttered(text, {"name": intent, "confidence": 0.9}, ents)

    def answer(action="action_answer_knowledge", hidden=False, slots=()):
        return ([DefinePrevUserUtteredFeaturization(False), ActionExecuted(action, hide_rule_turn=hidden)]
                + [SlotSet(k, v) for k, v in slots] + [BotUttered("答"), ActionExecuted("action_listen")])

    turns = [[ActionExecuted("action_listen")]]
    for i in range(14):
        turns.append([user(f"问{i}", "ask_amount", [("program", f"p{i % 3}")]), SlotSet("program", f"p{i % 3}")]
                     + answer(slots=[("aspect", "amount"), ("booking_outcome", ("booked", "full")[i % 2])]))
        if i % 4 == 1:  # a fallback, then the rewind
            turns.append([user("嗯嗯", "nlu_fallback"), ActionExecuted("action_default_fallback"),
                          UserUtteranceReverted(), SlotSet("fallback_count", 1.0)])
        if i % 5 == 2:  # a rule-only turn (hidden from the ML policies)
            turns.append([user("你好", "greet")] + answer("utter_greet", hidden=True))
        if i == 6:  # a form: asked, interrupted by a question, rejected, resumed and ended
            turns.append([user("我想预约助餐", "book_service"), DefinePrevUserUtteredFeaturization(False),
                          ActionExecuted("booking_form"), ActiveLoop("booking_form"),
                          SlotSet("booking_service", "meal"), SlotSet("requested_slot", "booking_date"),
                          BotUttered("哪天？"), ActionExecuted("action_listen")])
            turns.append([user("低保多少钱", "ask_amount"), DefinePrevUserUtteredFeaturization(False),
                          ActionExecutionRejected("booking_form"), LoopInterrupted(True),
                          ActionExecuted("action_answer_knowledge"), BotUttered("答"),
                          ActionExecuted("booking_form"), LoopInterrupted(False), BotUttered("哪天？"),
                          ActionExecuted("action_listen")])
            turns.append([user("算了", "stop"), DefinePrevUserUtteredFeaturization(False),
                          ActionExecuted("booking_form"), ActiveLoop(None), SlotSet("requested_slot", None),
                          FollowupAction("utter_ok"), ActionExecuted("utter_ok"), BotUttered("好"),
                          ActionExecuted("action_listen")])
    return turns


def test_states_of_a_history_are_rasas(monkeypatch):
    """The incremental states and applied events (bot/rasa/fixes.py) against Rasa's own computation after every
    event of a long conversation, for every way the policies ask; between turns the stored turns come back as new
    objects (as from the tracker store after another replica wrote), and once an early event is replaced: neither
    may confuse it."""
    import copy

    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import Event, SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker

    rasa_fixes.install()
    domain = Domain.load("bot/domain")
    asks = [dict(), dict(omit_unset_slots=True), dict(ignore_rule_only_turns=True, rule_only_data={
        "slots": ["requested_slot", "fallback_count"], "active_loops": ["booking_form"]})]
    events = []
    compared = 0
    for n, turn in enumerate(_huimin_turns()):
        if n % 3 == 2:  # the history read back: the same events as new objects
            events = [Event.from_parameters(e.as_dict()) for e in events]
        if n == 12:  # an early event replaced (the rest the very same objects): everything after it changes
            early = next(i for i, e in enumerate(events) if isinstance(e, SlotSet) and e.key == "booking_outcome")
            events[early] = SlotSet("booking_outcome", "failed")
        for event in turn:
            events.append(event)
            tracker = DialogueStateTracker.from_events("states-check", list(events), domain.slots)
            assert [id(e) for e in tracker.applied_events()] == [id(e) for e in tracker.rasa_applied_events()]
            replayed = DialogueStateTracker("states-check", domain.slots)
            for e in events:
                replayed.update(e)  # Rasa's own way to a copy
            assert _state(tracker.copy()) == _state(replayed) and list(tracker.copy().events) == list(events)
            for ask in asks:
                expected = domain.rasa_states_for_tracker_history(tracker, **copy.deepcopy(ask))
                got = domain.states_for_tracker_history(tracker, **copy.deepcopy(ask))
                assert got == expected, (n, event, ask)
                for state in got:  # callers change what they get; the next call must not see it
                    state.clear()
                again = domain.states_for_tracker_history(tracker, **copy.deepcopy(ask))  # the same history again
                assert again == expected, (n, event, ask)
                for state in again:
                    state.clear()
                compared += 1
    assert compared > 300


def test_the_action_server_gets_the_recent_turns_and_reads_what_it_read_from_all():
    """The request for a custom action (bot/rasa/fixes.py) holds the events of the last ACTION_CALL_TURNS user
    turns, everything else as Rasa sends it; and whatever Huimin's actions read of the history (latest user
    message, the turn before, the last six messages, rasa-sdk's applied events and slots to validate) is the
    same as from the whole session, at every point of a real conversation (forms, fallbacks, rewinds)."""
    import json
    from pathlib import Path

    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import Event, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.endpoints import EndpointConfig
    from rasa_sdk import Tracker

    from actions.booking import _confirmation_key, _fresh_message
    from actions.knowledge import fresh_pending_aspect
    from bot.applications.attempt_limits import client_of
    from bot.handoff.summary import last_messages

    rasa_fixes.install()
    domain = Domain.load("bot/domain")
    events = [Event.from_parameters(e) for e in
              json.loads((Path(__file__).parent / "fixtures" / "long_conversation.json").read_text())]
    for i in (60, 200, 320):  # the aspect the knowledge action asked about, as it sets it
        events.insert(i, Event.from_parameters({"event": "slot", "name": "pending_aspect", "value": "amount"}))
    action = RemoteAction("action_answer_knowledge", EndpointConfig("http://127.0.0.1:1/webhook"))

    def reads(state: dict) -> tuple:
        t = Tracker.from_dict(state)
        applied = t.applied_events()
        users = [i for i, e in enumerate(applied) if e.get("event") == "user"]
        recent = applied[users[-3]:] if len(users) >= 3 else applied
        return (fresh_pending_aspect(t), _fresh_message(t), _confirmation_key(t), client_of(t.events, t.sender_id),
                last_messages(t.events), t.get_latest_input_channel(), t.slots_to_validate(), recent,
                t.latest_message, t.slots, t.active_loop, t.is_paused(), t.followup_action, t.latest_action_name)

    trimmed = 0
    for n in range(1, len(events) + 1):
        tracker = DialogueStateTracker.from_events("window", events[:n], domain.slots)
        sent = action._action_call_format(tracker, domain)
        whole = rasa_fixes.rasa_action_call_format(action, tracker, domain)
        start = rasa_fixes.action_call_window(events[:n])
        assert {k: v for k, v in sent.items() if k != "tracker"} == {k: v for k, v in whole.items() if k != "tracker"}
        assert ({k: v for k, v in sent["tracker"].items() if k != "events"}
                == {k: v for k, v in whole["tracker"].items() if k != "events"})
        assert sent["tracker"]["events"] == whole["tracker"]["events"][start:]
        assert reads(sent["tracker"]) == reads(whole["tracker"]), n
        if start:
            trimmed += 1
            users = sum(isinstance(e, UserUttered) for e in events[start:n])
            assert rasa_fixes.ACTION_CALL_TURNS <= users < len(events)
    assert trimmed > 300


def test_rewinds_replay_from_the_last_turns_as_rasa_replays_everything(monkeypatch):
    """A rewind or reverted action (bot/rasa/fixes.py) resumes its replay from a kept state: after every event of a
    real long conversation (fallbacks, re-readings, forms) and of one with reverted actions, the tracker is the
    one Rasa's full replay gives — slots and whether they were set, latest message and action, loop, pause."""
    import json
    from pathlib import Path

    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionReverted, Event, UserUtteranceReverted
    from rasa.shared.core.trackers import DialogueStateTracker

    rasa_fixes.install()
    domain = Domain.load("bot/domain")
    real = [Event.from_parameters(e) for e in
            json.loads((Path(__file__).parent / "fixtures" / "long_conversation.json").read_text())]
    kept_apply = UserUtteranceReverted.apply_to

    def rasas_apply(self, tracker):
        tracker._reset()
        tracker.replay_events()

    resets = 0
    for sender, events in (("replay-real", real), ("replay-made", _conversation())):
        ours = DialogueStateTracker(sender, domain.slots)
        theirs = DialogueStateTracker(sender + "-rasa", domain.slots)
        for n, event in enumerate(events):
            ours.update(event)
            monkeypatch.setattr(UserUtteranceReverted, "apply_to", rasas_apply)
            monkeypatch.setattr(ActionReverted, "apply_to", rasas_apply)
            theirs.update(event)
            monkeypatch.setattr(UserUtteranceReverted, "apply_to", kept_apply)
            monkeypatch.setattr(ActionReverted, "apply_to", kept_apply)
            got, expected = _state(ours), _state(theirs)
            assert got[1:] == expected[1:], (sender, n, event)
            resets += isinstance(event, (UserUtteranceReverted, ActionReverted))
    assert resets > 5


def test_a_forms_temporary_tracker_is_the_one_rasa_replays():
    """While a form is active, its temporary tracker (bot/rasa/fixes.py: the tracker copied, the form's events
    applied) is the one Rasa builds by replaying every event, at every point of a real conversation."""
    import json
    from pathlib import Path

    from rasa.core.actions.forms import FormAction
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import Event, SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker

    rasa_fixes.install()
    domain = Domain.load("bot/domain")
    events = [Event.from_parameters(e) for e in
              json.loads((Path(__file__).parent / "fixtures" / "long_conversation.json").read_text())]

    def without_times(tracker):
        return [{k: v for k, v in e.as_dict().items() if k != "timestamp"} for e in tracker.events]

    compared = 0
    for n in range(1, len(events) + 1):
        tracker = DialogueStateTracker.from_events("form-temp", events[:n], domain.slots)
        if not tracker.active_loop_name:
            continue
        form = FormAction(tracker.active_loop_name, None)
        extra = [SlotSet("booking_service", "bath")]
        ours = form._temporary_tracker(tracker, extra, domain)
        theirs = rasa_fixes.rasa_temporary_tracker(form, tracker, extra, domain)
        assert _state(ours)[1:] == _state(theirs)[1:], n
        assert without_times(ours) == without_times(theirs), n
        compared += 1
    assert compared > 20


def test_the_fast_action_result_check_accepts_exactly_what_the_schema_accepts():
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.events import Event
    from rasa.shared.utils.common import all_subclasses

    schema = RemoteAction.action_response_format_spec()
    fast = rasa_fixes._fast_action_result_check(schema)
    assert fast is not None
    full = validator_for(schema)(schema)
    names = sorted({c.type_name for c in all_subclasses(Event) if getattr(c, "type_name", None)}) + ["nonsense"]
    events = [{"event": n} for n in names]
    events += [{"event": "slot", "name": "program", "value": "dibao"}, {"event": "slot", "name": 3, "value": 1},
               {"event": "slot", "value": 1}, {"event": "user", "text": "你好", "parse_data": {"intent": {"name": 1}}},
               {"event": "user", "text": "你好", "parse_data": {"intent": {"name": "greet", "confidence": 0.9},
                                                               "entities": [{"entity": "program", "value": "x"}]}},
               {"event": "user", "parse_data": {"entities": [{"entity": "program"}]}},
               {"event": "action", "name": "utter_x", "policy": None, "confidence": 1.0, "hide_rule_turn": False},
               {"event": "action", "name": 5}, {"event": "bot", "text": "答", "data": {}, "metadata": {}},
               {"event": "bot", "timestamp": "late"}, {"event": "entities", "entities": []}, {"event": "entities"},
               {"event": 7}, {"name": "program"}, "slot", None, [], {"event": "followup", "name": "utter_ok"}]
    results = [{}, {"events": []}, {"events": None}, {"events": "x"}, {"responses": [{"text": "好"}]},
               {"responses": [1]}, {"responses": {}}, {"responses": [{"text": 1}]}, [], "x", {"other": 1}]
    results += [{"events": [e], "responses": []} for e in events]
    results += [{"events": events[i:i + 3]} for i in range(len(events))]
    accepted = 0
    for result in results:
        assert fast(result) == full.is_valid(result), result
        accepted += fast(result)
    assert accepted > 20
    # Through the action: a refused result still gets Rasa's own error.
    action = RemoteAction("action_answer_knowledge", None)
    with pytest.raises(ValidationError) as caught:
        action._validate_action_result({"events": [{"event": "slot", "value": 1}]})
    assert "is not valid under any of the given schemas. Failed to validate Action server" in caught.value.message


def test_a_new_tracker_copies_the_slots_as_copy_copy_does(monkeypatch):
    import copy

    from rasa.shared.core.slots import AnySlot, BooleanSlot, CategoricalSlot, FloatSlot, ListSlot, TextSlot
    from rasa.shared.core.trackers import DialogueStateTracker

    rasa_fixes.install()

    class Custom(TextSlot):
        def __copy__(self):
            new = TextSlot.__new__(type(self))
            new.__dict__.update(self.__dict__)
            new.copied = True
            return new

    slots = [TextSlot("program", [], initial_value="dibao"), FloatSlot("n", [], initial_value=1.0),
             BooleanSlot("b", []), CategoricalSlot("c", [], values=["a", "b"]), ListSlot("l", []),
             AnySlot("requested_slot", []), Custom("x", [])]
    for s in slots:
        s.value = s.value  # set, to see the reset
    copied = []
    real_copy = copy.copy
    monkeypatch.setattr(copy, "copy", lambda x: copied.append(type(x)) or real_copy(x))
    ours = DialogueStateTracker("c", slots)
    assert copied == [Custom]  # Rasa's own slot classes are copied directly
    monkeypatch.undo()
    expected = DialogueStateTracker.__new__(DialogueStateTracker)
    rasa_fixes.rasa_tracker_init(expected, "c", slots)
    assert list(ours.slots) == list(expected.slots)
    for name, slot in ours.slots.items():
        assert type(slot) is type(expected.slots[name])
        assert vars(slot) == vars(expected.slots[name]), name
        assert slot is not next(s for s in slots if s.name == name)
    assert ours.slots["x"].copied  # a class with its own copy still gets it
    assert vars(copy.copy(slots[0])) == vars(slots[0])
    assert _state(ours) == _state(expected)


def test_endpoint_requests_keep_their_connection_and_answer_as_rasas():
    """Rasa's requests to an endpoint (the action server) reuse one kept connection (bot/rasa/fixes.py) and give
    what Rasa's own request gives: the JSON answer, None for a body that is not JSON, ClientResponseError for an
    error status; a server that closes its connections is still answered."""
    import asyncio

    from aiohttp import web
    from rasa.utils.endpoints import ClientResponseError, EndpointConfig

    rasa_fixes.install()
    peers = []

    async def webhook(request):
        peers.append(request.transport.get_extra_info("peername"))
        body = await request.json()
        if body.get("fail"):
            return web.json_response({"error": "no"}, status=500)
        if body.get("text"):
            return web.Response(text="plain")
        headers = {"Connection": "close"} if body.get("close") else {}
        return web.json_response({"events": [], "echo": body, "token": request.headers.get("X-T")}, headers=headers)

    async def main():
        runner, port = await _serve_webhook(webhook)
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", headers={"X-T": "secret"})
        try:
            answers = [await endpoint.request(json={"n": i}) for i in range(5)]
            assert answers == [await rasa_fixes.rasa_endpoint_request(endpoint, json={"n": i}) for i in range(5)]
            assert answers[3] == {"events": [], "echo": {"n": 3}, "token": "secret"}
            assert len(set(peers[:5])) == 1  # one kept connection (Rasa's own opened one each: peers[5:])
            assert len(set(peers[5:])) == 5
            assert await endpoint.request(json={"text": 1}) is None
            with pytest.raises(ClientResponseError) as caught:
                await endpoint.request(json={"fail": 1})
            assert caught.value.status == 500
            for i in range(3):
                assert (await endpoint.request(json={"close": 1, "n": i}))["echo"]["n"] == i
            assert (await endpoint.request(json={"n": 9}))["echo"] == {"n": 9}
        finally:
            for session in endpoint.__dict__.get("_huimin_sessions", {}).values():
                await session.close()
            await runner.cleanup()

    asyncio.run(main())


def _sparse_parts(rng, rows, widths, dtypes, origin_names):
    from rasa.shared.nlu.training_data.features import Features
    from scipy.sparse import coo_matrix

    parts = []
    for width, dtype, origin in zip(widths, dtypes, origin_names):
        dense = (rng.random((rows, width)) < 0.3) * rng.integers(1, 4, (rows, width))
        matrix = coo_matrix(dense.astype(dtype))
        parts.append(Features(matrix, "sequence" if rows > 1 else "sentence", "text", origin))
    return parts


def test_sparse_features_are_combined_as_rasa_combines_them():
    import copy

    import numpy as np
    from rasa.shared.nlu.training_data.features import Features
    from rasa.shared.nlu.training_data.message import Message
    from scipy.sparse import coo_matrix

    rasa_fixes.install()
    rng = np.random.default_rng(16)
    cases = [(1, [5, 7], [np.float64, np.float64]), (4, [3, 9, 2], [np.int64, np.int64, np.float64]),
             (6, [11, 1, 40], [np.float32, np.int64, np.float64]), (3, [4, 4], [np.int64, np.int64]),
             (2, [0, 3], [np.float64, np.float64])]
    for rows, widths, dtypes in cases:
        parts = _sparse_parts(rng, rows, widths, dtypes, [f"f{i}" for i in range(len(widths))])
        mine = Message._combine_features(copy.deepcopy(parts), ["a", "b"])
        theirs = rasa_fixes.rasa_combine_features(copy.deepcopy(parts), ["a", "b"])
        assert type(mine) is type(theirs) is Features and type(mine.features) is type(theirs.features) is coo_matrix
        assert mine.features.shape == theirs.features.shape
        for name in ("data", "row", "col"):
            a, b = getattr(mine.features, name), getattr(theirs.features, name)
            assert a.dtype == b.dtype and np.array_equal(a, b), (rows, widths, name)
        assert (mine.type, mine.attribute, mine.origin, mine._cached_fingerprint) == (
            theirs.type, theirs.attribute, theirs.origin, theirs._cached_fingerprint)
        assert mine.fingerprint() == theirs.fingerprint()
        # The parts are left as they were (Rasa copies the first before combining).
        assert all(p.features.shape[1] == w for p, w in zip(parts, widths))
    # One part, dense parts and rows that do not match take Rasa's own path (and its error).
    one = _sparse_parts(rng, 2, [3], [np.float64], ["x"])
    assert Message._combine_features(one, ["x"]).features.shape == (2, 3)
    dense = [Features(np.ones((1, 3)), "sentence", "text", "d1"), Features(np.ones((1, 2)), "sentence", "text", "d2")]
    assert Message._combine_features(dense, []).features.shape == (1, 5)
    bad = _sparse_parts(rng, 2, [3], [np.float64], ["x"]) + _sparse_parts(rng, 3, [2], [np.float64], ["y"])
    with pytest.raises(ValueError):
        Message._combine_features(bad, [])


def test_an_action_call_is_sent_as_the_same_json_with_the_domain_serialised_once():
    """The body of a custom-action call (bot/rasa/fixes.py action_call_body) is byte for byte what aiohttp makes of
    ``json=body``; the domain's JSON is made once and follows a new domain."""
    import json

    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.endpoints import EndpointConfig

    from bot.settings import ROOT

    rasa_fixes.install()
    domain = Domain.load(str(ROOT / "bot" / "domain"))
    tracker = DialogueStateTracker.from_events("s1", [
        ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"),
        UserUttered("高龄津贴多少钱 \"引号\" \\ 😀", {"name": "ask_amount", "confidence": 0.9},
                    [{"entity": "program", "value": "elderly_allowance", "start": 0, "end": 4}])], domain.slots)
    action = RemoteAction("action_answer_knowledge", EndpointConfig("http://127.0.0.1:1/webhook"))
    body = action._action_call_format(tracker, domain)
    assert rasa_fixes.action_call_body(body) == json.dumps(body).encode("utf-8")
    assert rasa_fixes.action_call_body(body) == json.dumps(body).encode("utf-8")  # the kept domain JSON
    other = Domain.from_dict({**domain.as_dict(), "responses": {"utter_x": [{"text": "新的"}]}})
    body2 = action._action_call_format(tracker, other)
    assert rasa_fixes.action_call_body(body2) == json.dumps(body2).encode("utf-8")
    odd = {1: "a", "domain": {"x": 1}}
    assert rasa_fixes.action_call_body(odd) == json.dumps(odd).encode("utf-8")


def test_an_action_call_reaches_the_server_as_rasas_does():
    import asyncio

    from aiohttp import web
    from rasa.utils.endpoints import EndpointConfig

    rasa_fixes.install()
    seen = []

    async def webhook(request):
        seen.append((await request.read(), request.headers.get("Content-Type")))
        return web.json_response({"events": []})

    async def main():
        runner, port = await _serve_webhook(webhook)
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook")
        body = {"next_action": "action_x", "sender_id": "s", "tracker": {"events": []}, "version": "3.6",
                "domain": {"responses": {"utter_a": [{"text": "您好"}]}}}
        try:
            assert await endpoint.request(json=body) == {"events": []}
            assert await rasa_fixes.rasa_endpoint_request(endpoint, json=body) == {"events": []}
        finally:
            for session in endpoint.__dict__.get("_huimin_sessions", {}).values():
                await session.close()
            await runner.cleanup()

    asyncio.run(main())
    assert seen[0] == seen[1]


def test_rasa_deep_copies_only_for_debug_messages_and_only_when_they_are_written():
    """Every ``copy.deepcopy`` of the patched Rasa modules is an argument of a ``structlogger.debug`` call, so passing
    the value itself while debug messages are filtered changes nothing but the CPU spent."""
    import ast
    import importlib
    import inspect

    import structlog

    rasa_fixes.install()
    for name in rasa_fixes.DEBUG_COPY_MODULES:
        module = importlib.import_module(name)
        tree = ast.parse(inspect.getsource(module))
        debug_args = set()
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "debug"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "structlogger"):
                debug_args |= {id(n) for n in ast.walk(node)}
        copies = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
                  and n.value.id == "copy"]
        assert copies and all(n.attr == "deepcopy" and id(n) in debug_args for n in copies), name
        value = {"a": [1, {"b": 2}]}
        old = structlog.get_config()["wrapper_class"]
        try:
            structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(20))
            assert not rasa_fixes.structlog_debug_on() and module.copy.deepcopy(value) is value
            structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(10))
            assert rasa_fixes.structlog_debug_on()
            copied = module.copy.deepcopy(value)
            assert copied == value and copied is not value and copied["a"][1] is not value["a"][1]
        finally:
            structlog.configure(wrapper_class=old)
        assert module.copy.copy is __import__("copy").copy
