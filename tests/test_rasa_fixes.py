"""The cached action-result validation (bot/rasa_fixes.py) accepts and rejects exactly what Rasa's own does."""
import pytest
from jsonschema import ValidationError

from bot import rasa_fixes


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
            tracker.followup_action, tracker.is_paused(), tracker.latest_bot_utterance)


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
