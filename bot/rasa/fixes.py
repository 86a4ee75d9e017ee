"""Fixes to Rasa 3.6 itself, installed when the Rasa server imports Huimin's tracker store (every
``bot/endpoints.yml`` configuration loads it, so every Rasa process gets them). Each one computes exactly what
Rasa computed, only without the repeated work; tests/test_rasa_fixes.py checks each against Rasa's own code.

Action-result validation: ``RemoteAction._validate_action_result`` calls ``jsonschema.validate`` on every
custom-action response, and ``jsonschema.validate`` first checks the *schema* against its meta-schema and builds
a new validator each time. Profiled under load (py-spy, 10 concurrent conversations), that was 37 % of the Rasa
process's CPU — more than TED, NLU and the tracker store together. The same schema is now checked once and its
validator reused; responses are validated exactly as before (same schema, same draft, same error message).

Event classes by name: ``Event.resolve_by_type`` walks every subclass of ``Event`` (with ``inspect.isabstract``
on each) for every event it deserialises — 0.2 ms an event, the largest single cost of reading a long
conversation (profile of a 200-message conversation). The class found for a name is now remembered.

Replaying a conversation: a rewind (``UserUtteranceReverted``, after every fallback) and ``ActionReverted`` reset
the tracker and replay the whole history when they are applied, so building a tracker from its events — on every
read from the store and on every ``tracker.copy()`` (twice a turn) — replayed the history once per fallback so
far: quadratic in the length of the conversation. Everything applied before the last such event is thrown away
by its reset, so only the history up to it is replayed (once) and the events after it are applied as before.
"""
from __future__ import annotations

import contextvars
from typing import Any, Callable, Dict, Iterable, Optional, Text

_installed = False


def _cached_validator():
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _install_validator() -> None:
    from jsonschema import ValidationError
    from jsonschema.exceptions import best_match
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    validator = _cached_validator()
    valid_fast = _fast_action_result_check(RemoteAction.action_response_format_spec())

    def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
        if valid_fast is not None and valid_fast(result):
            return True
        error = best_match(validator.iter_errors(result))
        if error is None:
            return True
        assert isinstance(error, ValidationError)
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from the Action "
            f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions")
        raise error

    RemoteAction._validate_action_result = _validate_action_result


def _fast_action_result_check(schema: Dict[Text, Any]) -> Optional[Callable[[Any], bool]]:
    """A check that says True exactly for the action results Rasa's schema accepts, without walking every event
    through all 23 alternatives of the event schema's ``oneOf`` (with an error object built for each alternative
    that fails: about 3 ms of CPU an action call, profiled under load). Each alternative fixes the event's name
    (``"event": {"const": …}``) and no two share one, so an event can match only the alternative of its own name:
    the ``oneOf`` holds exactly when that one alternative does. A result it does not accept (or a schema of
    another shape) goes to the full validation, which gives Rasa's own error. None when the schema is not
    of the expected shape."""
    from jsonschema.validators import validator_for

    try:
        props = schema["properties"]
        event_schema = props["events"]["items"]
        alternatives = event_schema["oneOf"]
        names = [alt["properties"]["event"]["const"] for alt in alternatives]
    except (KeyError, TypeError):
        return None
    if (set(schema) - {"type", "properties"} or schema.get("type") != "object" or set(props) != {"events", "responses"}
            or set(props["events"]) != {"type", "items"} or props["events"]["type"] != "array"
            or len(set(names)) != len(names) or not all(isinstance(n, str) for n in names)):
        return None
    base = {k: v for k, v in event_schema.items() if k != "oneOf"}
    by_name = {}
    for name, alt in zip(names, alternatives):
        one = {**base, "allOf": [alt]}
        cls = validator_for(one)
        by_name[name] = cls(one)
    responses = validator_for(schema)(props["responses"])

    def valid(result: Any) -> bool:
        if not isinstance(result, dict):
            return False
        if "events" in result:
            events = result["events"]
            if not isinstance(events, list):
                return False
            for event in events:
                check = by_name.get(event.get("event")) if isinstance(event, dict) else None
                if check is None or not check.is_valid(event):
                    return False
        return "responses" not in result or responses.is_valid(result["responses"])

    return valid


def _install_event_class_cache() -> None:
    from rasa.shared.core.events import Event

    original = Event.resolve_by_type
    found: Dict[Text, type] = {}

    def resolve_by_type(type_name: Text, default: Optional[type] = None) -> Optional[type]:
        cls = found.get(type_name)
        if cls is None:
            cls = original(type_name, default)
            if cls is not None and cls is not default:
                found[type_name] = cls  # only a real match: a default is the caller's choice, not the name's
        return cls

    Event.resolve_by_type = staticmethod(resolve_by_type)


def apply_events(tracker: Any, events: Iterable[Any], domain: Any = None) -> None:
    """``tracker.update(e, domain)`` for every event, in order, replaying the history at most once."""
    from rasa.shared.core.events import ActionReverted, StoryExported, UserUtteranceReverted

    events = list(events)
    last_reset = None
    for i in range(len(events) - 1, -1, -1):
        if isinstance(events[i], (UserUtteranceReverted, ActionReverted)):
            last_reset = i
            break
    # update() stamps events with the tracker's model/assistant id, and StoryExported writes a file when applied:
    # keep Rasa's own path for those (never the case when a tracker is rebuilt from stored events).
    if (last_reset is None or tracker.model_id or tracker.assistant_id
            or any(isinstance(e, StoryExported) for e in events[:last_reset])):
        for e in events:
            tracker.update(e, domain)
        return
    tracker.events.extend(events[:last_reset + 1])
    events[last_reset].apply_to(tracker)  # resets, then replays the applied events so far
    for e in events[last_reset + 1:]:
        tracker.update(e, domain)


def _install_single_replay() -> None:
    from rasa.shared.core.trackers import DialogueStateTracker

    def from_events(cls, sender_id, evts, slots=None, max_event_history=None, sender_source=None, domain=None):
        tracker = cls(sender_id, slots, max_event_history, sender_source)
        apply_events(tracker, evts, domain)
        return tracker

    def travel_back_in_time(self, target_time: float):
        tracker = self.init_copy()
        until = []
        for event in self.events:
            if event.timestamp <= target_time:
                until.append(event)
            else:
                break
        apply_events(tracker, until)
        return tracker

    def copy(self):
        """A duplicate of this tracker: its state copied (``_snapshot``), not rebuilt by replaying every event —
        the same result, since a tracker's state only ever changes by applying its events (Rasa changes it
        nowhere else), and Rasa copies the tracker for every action it runs."""
        tracker = _restore(self, _snapshot(self))
        tracker.events.extend(self.events)
        return tracker

    DialogueStateTracker.copy = copy
    from_events.__doc__ = DialogueStateTracker.from_events.__doc__
    travel_back_in_time.__doc__ = DialogueStateTracker.travel_back_in_time.__doc__
    DialogueStateTracker.from_events = classmethod(from_events)
    DialogueStateTracker.travel_back_in_time = travel_back_in_time


def _install_inference_load() -> None:
    """Loading DIET and TED for serving builds their weights with one *eager* forward pass and loss on the example
    batch instead of ``model.fit`` on it: fit traces and compiles Keras' whole training step (loss, gradients,
    optimizer) only to throw the step away — most of a Rasa process's start-up (profile of Agent.load). The
    weights are then read from the model exactly as before; the optimizer's saved state, which serving never
    uses, is left unread. Fine-tuning (``finetune_mode``) keeps Rasa's own path, which needs the optimizer."""
    import tensorflow as tf
    from rasa.utils.tensorflow import models
    from rasa.utils.tensorflow.constants import LEARNING_RATE, RUN_EAGERLY
    from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator

    original = models.RasaModel.load.__func__

    def load(cls, model_file_name, model_data_example, predict_data_example=None, finetune_mode=False,
             *args, **kwargs):
        if finetune_mode or not predict_data_example:
            return original(cls, model_file_name, model_data_example, predict_data_example, finetune_mode,
                            *args, **kwargs)
        model = cls(*args, **kwargs)
        config = kwargs.get("config", {})
        model.compile(optimizer=tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001)),
                      run_eagerly=config.get(RUN_EAGERLY))
        model._training = True  # the training-time graph: every layer Rasa's fit would have built
        model.batch_loss(RasaBatchDataGenerator(model_data_example, batch_size=1)[0])
        model._training = False
        status = model.load_weights(model_file_name)
        if status is not None:
            status.expect_partial()  # the optimizer's slots are in the file, not in a serving model
        model.run_inference(predict_data_example)
        return model

    models.RasaModel.load = classmethod(load)


def _snapshot(tracker: Any) -> tuple:
    """What a replayed tracker's state is made of (slots, latest message and action, loop, follow-up, pause),
    without its events: enough to go on replaying from here (``_restore``)."""
    import dataclasses

    return (tuple((name, slot._value, slot._has_been_set) for name, slot in tracker.slots.items()),
            tracker.latest_message,
            dict(tracker.latest_action) if tracker.latest_action is not None else None,
            tracker.latest_bot_utterance, tracker.followup_action, tracker._paused,
            dataclasses.replace(tracker.active_loop) if tracker.active_loop is not None else None)


def _restore(template: Any, snapshot: tuple) -> Any:
    tracker = template.init_copy()
    _restore_into(tracker, snapshot)
    return tracker


def tracker_state(tracker: Any) -> tuple:
    """The state of a tracker built from its events (everything but the events), to resume from (``resume``)."""
    return _snapshot(tracker)


def resume(sender_id: Text, slots: Any, state: tuple, done: list, new: list) -> Any:
    """The tracker ``DialogueStateTracker.from_events(sender_id, done + new, slots)`` builds, from the ``state``
    of one built from ``done`` (``tracker_state``): only the ``new`` events are applied."""
    from rasa.shared.core.trackers import DialogueStateTracker

    tracker = _restore(DialogueStateTracker(sender_id, slots), state)
    tracker.events.extend(done)
    apply_events(tracker, new)
    return tracker


class _Checkpoint:
    __slots__ = ("position", "tracker", "n_states", "last_ml", "hidden")

    def __init__(self, position: int, tracker: Any, n_states: int, last_ml: Any, hidden: bool) -> None:
        self.position, self.tracker, self.n_states, self.last_ml, self.hidden = (
            position, tracker, n_states, last_ml, hidden)


class _History:
    __slots__ = ("events", "states", "checkpoints", "final")

    def __init__(self, events: list, states: list, checkpoints: list) -> None:
        self.events, self.states, self.checkpoints = events, states, checkpoints
        self.final: Optional[list] = None  # every state of these very events, the current one included


def _copy_states(states: list) -> list:
    """Callers delete keys from the states they get (the featurizers): they get copies, with the sub-states
    shared between states (Rasa shares some) still shared."""
    copies: Dict[int, Any] = {}

    def sub(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        found = copies.get(id(value))
        if found is None:
            found = copies[id(value)] = dict(value)
        return found

    return [{k: sub(v) for k, v in state.items()} for state in states]


def _same_prefix(seen: Any, events: Any) -> int:
    """How many leading events of ``events`` are the very same objects as those of ``seen``."""
    import operator

    limit = min(len(seen), len(events))
    if all(map(operator.is_, seen, events)):  # the usual case (events only added), compared at C speed
        return limit
    same = 0
    while same < limit and seen[same] is events[same]:
        same += 1
    return same


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(_freeze(v) for v in value)
    return value


# Set while a policy builds its prediction states: given a history's states, the index of the first one the
# policy can see (``_install_state_windows``); the states before it are neither copied nor handed out.
_STATES_WANTED: "contextvars.ContextVar[Optional[Callable[[list], int]]]" = contextvars.ContextVar(
    "huimin_states_wanted", default=None)


# Snapshots kept per conversation: a new turn resumes from the last one; a rewind or an interrupted form goes back
# a turn or two.
KEEP_CHECKPOINTS = 4


def _install_incremental_states(max_conversations: int = 1000) -> None:
    """``Domain.states_for_tracker_history`` replays a conversation's whole history and computes the state of
    every past turn on every call — about seven calls a message, so a turn's cost grew with the conversation
    (most of the Rasa CPU of message 200). The states of a history's unchanged beginning are the same every time:
    they are kept per conversation, with the replayed tracker at each `action_listen` (a snapshot), and only the
    turns after the longest beginning whose events are the very same objects (the tracker store hands out the
    same events for stored turns) are computed again — by Rasa's own loop. A history that differs earlier (a
    rewind, a restart, another replica's events) goes back to the last snapshot still valid, or to the start."""
    from collections import OrderedDict

    import rasa.shared.core.constants as c
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted

    histories: "OrderedDict[tuple, _History]" = OrderedDict()

    def states_for_tracker_history(self, tracker, omit_unset_slots=False, ignore_rule_only_turns=False,
                                   rule_only_data=None):
        applied = tracker.applied_events()
        key = (id(self), tracker.sender_id, omit_unset_slots, ignore_rule_only_turns, _freeze(rule_only_data))
        known = histories.get(key)
        start = _Checkpoint(0, None, 0, None, False)
        checkpoints: list = []
        wanted = _STATES_WANTED.get()
        if known is not None:
            same = _same_prefix(known.events, applied)
            if same == len(applied) == len(known.events) and known.final is not None:
                # The very same history again (RulePolicy asks twice a prediction, the policies and the forms
                # several times a turn): its states, computed by the call before.
                histories.move_to_end(key)
                final = known.final
                return _copy_states(final[wanted(final):] if wanted is not None else final)
            for cp in known.checkpoints:
                if cp.position > same:
                    break
                checkpoints.append(cp)
            if checkpoints:
                start = checkpoints[-1]
        states = known.states[:start.n_states] if start.tracker is not None else []
        tr = _restore(tracker, start.tracker) if start.tracker is not None else tracker.init_copy()
        last_ml_action_sub_state, turn_was_hidden = start.last_ml, start.hidden

        def step(tr, hide_rule_turn) -> None:  # the body of Rasa's loop, unchanged
            nonlocal last_ml_action_sub_state, turn_was_hidden
            if ignore_rule_only_turns:
                if not turn_was_hidden:
                    last_ml_action_sub_state = self._get_prev_action_sub_state(tr)
                if not tr.followup_action and not tr.latest_action_name == tr.active_loop_name:
                    turn_was_hidden = hide_rule_turn
                if turn_was_hidden:
                    return
            state = self.get_active_state(tr, omit_unset_slots=omit_unset_slots)
            if ignore_rule_only_turns:
                self._remove_rule_only_features(state, rule_only_data)
                if states:
                    self._substitute_rule_only_user_input(state, states[-1])
                if last_ml_action_sub_state:
                    state[c.PREVIOUS_ACTION] = last_ml_action_sub_state
            states.append(self._clean_state(state))

        for i in range(start.position, len(applied)):
            event = applied[i]
            if isinstance(event, ActionExecuted):
                if event.action_name == c.ACTION_LISTEN_NAME and i > start.position:
                    checkpoints.append(_Checkpoint(i, _snapshot(tr), len(states), last_ml_action_sub_state,
                                                   turn_was_hidden))
                step(tr, event.hide_rule_turn)
            tr.update(event)
        history = histories[key] = _History(applied, list(states), checkpoints[-KEEP_CHECKPOINTS:])
        histories.move_to_end(key)
        while len(histories) > max_conversations:
            histories.popitem(last=False)
        step(tr, False)
        history.final = states
        return _copy_states(states[wanted(states):] if wanted is not None else states)

    states_for_tracker_history.__doc__ = Domain.states_for_tracker_history.__doc__
    Domain.rasa_states_for_tracker_history = Domain.states_for_tracker_history  # tests compare with it
    Domain.states_for_tracker_history = states_for_tracker_history


def _install_incremental_applied_events(max_conversations: int = 1000) -> None:
    """``DialogueStateTracker.applied_events`` (the history without reverted turns) walks the whole history and is
    called a dozen times a message — the largest cost of a long conversation's turn once the states are kept.
    Its result for the unchanged beginning of a history is kept per conversation (with copies at the last few
    `action_listen`s) and Rasa's own loop goes on from there over the events after it; the names of the forms
    ever activated, which decide how a form's steps are folded, must be the same too."""
    from collections import OrderedDict

    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.events import (ActionExecuted, ActionReverted, ActiveLoop, Restarted, SessionStarted,
                                         UserUttered, UserUtteranceReverted)
    from rasa.shared.core.trackers import DialogueStateTracker

    known: "OrderedDict[str, tuple]" = OrderedDict()

    def _loop_names(events: list) -> frozenset:
        return frozenset(event.name for event in events if isinstance(event, ActiveLoop) and event.name)

    def applied_events(self) -> list:
        events = list(self.events)
        entry = known.get(self.sender_id)
        checkpoints: list = []
        if entry is not None:
            same = _same_prefix(entry[1], events)
            checkpoints = [cp for cp in entry[2] if cp[0] <= same]
        applied: list = []
        start = 0
        # Rasa folds a form's steps for the names of every form activated anywhere in the events (only whether a
        # name is among them matters): those before a checkpoint are kept with it, the rest are looked up.
        if checkpoints:
            position, kept, names = checkpoints[-1]
            loop_names = names | _loop_names(events[position:])
            if loop_names == entry[0]:
                start, applied = position, list(kept)
            else:
                checkpoints = []
        if not start:
            loop_names = _loop_names(events)
        running = set(checkpoints[-1][2]) if start else set()
        for i in range(start, len(events)):
            event = events[i]
            # Rasa's loop, unchanged:
            if isinstance(event, (Restarted, SessionStarted)):
                applied = []
            elif isinstance(event, ActionReverted):
                self._undo_till_previous(ActionExecuted, applied)
            elif isinstance(event, UserUtteranceReverted):
                self._undo_till_previous(UserUttered, applied)
                self._undo_till_previous(ActionExecuted, applied)
            elif (isinstance(event, ActionExecuted) and event.action_name in loop_names
                  and not self._first_loop_execution_or_unhappy_path(event.action_name, applied)):
                self._undo_till_previous_loop_execution(event.action_name, applied)
            else:
                applied.append(event)
            if isinstance(event, ActiveLoop) and event.name:
                running.add(event.name)
            if (isinstance(event, ActionExecuted) and event.action_name == ACTION_LISTEN_NAME
                    and i + 1 > start):
                checkpoints.append((i + 1, list(applied), frozenset(running)))
        known[self.sender_id] = (loop_names, events, checkpoints[-KEEP_CHECKPOINTS:])
        known.move_to_end(self.sender_id)
        while len(known) > max_conversations:
            known.popitem(last=False)
        return applied

    applied_events.__doc__ = DialogueStateTracker.applied_events.__doc__
    DialogueStateTracker.rasa_applied_events = DialogueStateTracker.applied_events  # tests compare with it
    DialogueStateTracker.applied_events = applied_events


def _tail_start(window: int, skip_unlikely: bool, states: list) -> int:
    """Index of the first of the last ``window`` states a featurizer keeps (``action_unlikely_intent`` states,
    which it drops before slicing, not counted)."""
    from rasa.core.featurizers.tracker_featurizers import _is_prev_action_unlikely_intent_in_state

    kept = 0
    for i in range(len(states) - 1, -1, -1):
        if not (skip_unlikely and _is_prev_action_unlikely_intent_in_state(states[i])):
            kept += 1
            if kept == window:
                return i
    return 0


def rule_window(policy: Any) -> int:
    """The number of last states that decide what a RulePolicy predicts: one more than its longest rule (a rule
    matches the last states of a conversation; ``_is_rule_applicable`` is true for every state further back) or
    than any state sequence in its lookup, so a feature key of this many states matches no stored key, as a
    feature key of the whole (longer) history matches none."""
    import json

    window = getattr(policy, "_huimin_rule_window", None)
    if window is None:
        longest = 0
        for table in policy.lookup.values():
            for key in table if isinstance(table, (dict, list, set, tuple)) else ():
                try:
                    states = json.loads(key) if isinstance(key, str) else None
                except ValueError:  # a source name (defaults, loops), not states
                    continue
                if isinstance(states, list):
                    longest = max(longest, len(states))
        window = policy._huimin_rule_window = longest + 1
    return window


# Rasa's own, kept for the tests that compare with them.
rasa_prediction_states: Any = None
rasa_find_action_from_rules: Any = None


def _install_state_windows() -> None:
    """The policies predict from the last states of a conversation: TED and memoization from their
    ``max_history`` (5), RulePolicy from its longest rule (``rule_window``). Rasa still computed, copied and (for
    RulePolicy) matched, JSON-dumped and formatted for a debug log every state of the whole conversation, several
    times a message — the largest cost of a long conversation's turn left. The featurizer now gets only the
    states the policy can see, and RulePolicy's debug log of all states is formatted only when that log is on
    (with the debug log on, RulePolicy gets every state as before)."""
    import contextvars
    import functools
    import logging

    from rasa.core.featurizers.tracker_featurizers import MaxHistoryTrackerFeaturizer
    from rasa.core.policies import rule_policy
    from rasa.core.policies.policy import Policy

    rule_states: "contextvars.ContextVar[Optional[int]]" = contextvars.ContextVar("huimin_rule_window", default=None)
    rule_log = logging.getLogger(rule_policy.__name__)
    prediction_states = MaxHistoryTrackerFeaturizer.prediction_states
    find_action_from_rules = rule_policy.RulePolicy._find_action_from_rules

    @functools.wraps(prediction_states)
    def windowed_prediction_states(self, trackers, domain, use_text_for_last_user_input=False,
                                   ignore_rule_only_turns=False, rule_only_data=None,
                                   ignore_action_unlikely_intent=False):
        window = self.max_history or rule_states.get()
        token = _STATES_WANTED.set(functools.partial(_tail_start, window, ignore_action_unlikely_intent)
                                   if window else None)
        try:
            return prediction_states(self, trackers, domain, use_text_for_last_user_input,
                                     ignore_rule_only_turns, rule_only_data, ignore_action_unlikely_intent)
        finally:
            _STATES_WANTED.reset(token)

    @functools.wraps(find_action_from_rules)
    def windowed_find_action_from_rules(self, tracker, domain, use_text_for_last_user_input):
        if rule_log.isEnabledFor(logging.DEBUG):
            return find_action_from_rules(self, tracker, domain, use_text_for_last_user_input)
        token = rule_states.set(rule_window(self))
        try:
            return find_action_from_rules(self, tracker, domain, use_text_for_last_user_input)
        finally:
            rule_states.reset(token)

    def format_tracker_states(states):
        return Policy.format_tracker_states(states) if rule_log.isEnabledFor(logging.DEBUG) else ""

    global rasa_prediction_states, rasa_find_action_from_rules
    rasa_prediction_states, rasa_find_action_from_rules = prediction_states, find_action_from_rules  # for tests
    MaxHistoryTrackerFeaturizer.prediction_states = windowed_prediction_states
    rule_policy.RulePolicy._find_action_from_rules = windowed_find_action_from_rules
    rule_policy.RulePolicy.format_tracker_states = staticmethod(format_tracker_states)


rasa_action_call_format: Any = None
# Turns of a conversation the action server is sent (``_install_action_call_window``).
ACTION_CALL_TURNS = 10


def action_call_window(events: Any, turns: int = ACTION_CALL_TURNS) -> int:
    """Index of the first event sent to the action server: the ``action_listen`` that opened the ``turns``-th
    last user message still standing (a rewind cancels the message it reverts), or 0 when the conversation is
    shorter. Starting at such a turn boundary, the applied events the action server computes from the window are
    exactly the window's part of those of the whole history (an undo can only reach into the turns before it)."""
    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.events import ActionExecuted, UserUttered, UserUtteranceReverted

    standing = 0
    reverted = 0
    pending_user = False
    for i in range(len(events) - 1, -1, -1):
        event = events[i]
        if isinstance(event, UserUtteranceReverted):
            reverted += 1
        elif isinstance(event, UserUttered):
            if reverted:
                reverted -= 1
            else:
                standing += 1
            pending_user = True
        elif isinstance(event, ActionExecuted):
            if pending_user and event.action_name == ACTION_LISTEN_NAME and standing >= turns:
                return i
            pending_user = False
    return 0


def _install_action_call_window() -> None:
    """Rasa sends the action server the whole tracker, every event of the session, on every custom-action call:
    serialised, JSON-encoded, sent and parsed again per call, so an action's round trip grew with the
    conversation (in a 200-message conversation, 1,700 events on every call, the largest cost of a turn left on
    both sides). What Huimin's actions read of the history is recent: the latest user message (booking, status,
    input channel), the turn before it (knowledge's pending aspect), the last six messages (the handoff summary);
    the slots, latest message, loop and pause come in the tracker state as before. The events of the last
    ``ACTION_CALL_TURNS`` user turns are sent; everything else of the request is Rasa's own."""
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.trackers import EventVerbosity

    action_call_format = RemoteAction._action_call_format

    def _action_call_format(self: RemoteAction, tracker: Any, domain: Any) -> Dict[Text, Any]:
        events = list(tracker.events)
        start = action_call_window(events)
        if not start:
            return action_call_format(self, tracker, domain)
        result = action_call_format(self, _NoEvents(tracker), domain)
        result["tracker"]["events"] = [e.as_dict() for e in events[start:]]
        return result

    class _NoEvents:
        """The tracker as ``current_state`` sees it, except that its events are left to the caller."""

        __slots__ = ("_tracker",)

        def __init__(self, tracker: Any) -> None:
            self._tracker = tracker

        def __getattr__(self, name: str) -> Any:
            return getattr(self._tracker, name)

        def current_state(self, event_verbosity: Any = EventVerbosity.NONE) -> Dict[Text, Any]:
            return self._tracker.current_state(EventVerbosity.NONE)

    global rasa_action_call_format
    rasa_action_call_format = action_call_format  # for tests
    _action_call_format.__doc__ = action_call_format.__doc__
    RemoteAction._action_call_format = _action_call_format


def _restore_into(tracker: Any, snapshot: tuple) -> None:
    """``_restore`` onto this very tracker (its slots, latest message and action, loop, follow-up, pause)."""
    import dataclasses

    slots, message, action, bot, followup, paused, loop = snapshot
    for name, value, has_been_set in slots:
        tracker.slots[name]._value, tracker.slots[name]._has_been_set = value, has_been_set
    tracker.latest_message, tracker.latest_bot_utterance = message, bot
    tracker.latest_action = dict(action) if action is not None else None
    tracker.followup_action, tracker._paused = followup, paused
    tracker.active_loop = dataclasses.replace(loop) if loop is not None else None


def _install_incremental_replay(max_conversations: int = 1000) -> None:
    """A rewind (``UserUtteranceReverted``, after every fallback) or ``ActionReverted`` resets the tracker and
    replays every applied event of the conversation: in a long conversation, the largest cost of a turn with a
    fallback. The state reached at the last few ``action_listen``s of a replay is kept per conversation; the next
    replay whose applied events begin with the very same events starts from there and applies only the rest
    (a rewind removes the latest turn, so the history up to an earlier ``action_listen`` is unchanged)."""
    from collections import OrderedDict

    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.events import ActionExecuted, ActionReverted, UserUtteranceReverted

    kept: "OrderedDict[tuple, list]" = OrderedDict()

    def replay(tracker: Any) -> None:
        applied = tracker.applied_events()
        key = (tracker.sender_id, tuple(tracker.slots))
        start = 0
        checkpoints = []
        for prefix, state in reversed(kept.get(key, [])):
            if len(prefix) <= len(applied) and _same_prefix(prefix, applied) == len(prefix):
                _restore_into(tracker, state)
                start = len(prefix)
                break
        listens = [i for i in range(start, len(applied)) if isinstance(applied[i], ActionExecuted)
                   and applied[i].action_name == ACTION_LISTEN_NAME][-KEEP_CHECKPOINTS:]
        for i in range(start, len(applied)):
            applied[i].apply_to(tracker)
            if listens and i == listens[0]:
                listens.pop(0)
                checkpoints.append((applied[:i + 1], _snapshot(tracker)))
        if checkpoints:
            kept[key] = checkpoints
            kept.move_to_end(key)
            while len(kept) > max_conversations:
                kept.popitem(last=False)

    def apply_to(self: Any, tracker: Any) -> None:
        tracker._reset()
        replay(tracker)

    apply_to.__doc__ = UserUtteranceReverted.apply_to.__doc__
    UserUtteranceReverted.apply_to = apply_to
    ActionReverted.apply_to = apply_to


def _install_ted_after_a_rule() -> None:
    """TED predicts every next action, although RulePolicy decides it whenever a rule, a form's happy path or a
    default action applies (every action of the length test and of the mixed conversations in
    tools/profile_length.py): then TED's network ran for nothing, about 40 % of a message's CPU. When RulePolicy has
    already predicted an action with confidence 1 for this very tracker state, TED answers like a policy without a
    model (all zeros) instead. The ensemble's choice is the same: a TED trained without text features never makes
    an end-to-end or "no user" prediction, so it competes on confidence and priority alone, and RulePolicy's 1.0
    at priority 6 wins every tie against TED's priority 1; TED's prediction carries no mandatory events. Any other
    case (no rule, a TED with text features, RulePolicy not yet run for this state) runs TED as before."""
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.core.policies.ted_policy import TEDPolicy
    from rasa.shared.nlu.constants import TEXT

    rule_predict = RulePolicy.predict_action_probabilities
    ted_predict = TEDPolicy.predict_action_probabilities

    def state_key(tracker: Any) -> tuple:
        return (len(tracker.events), id(tracker.events[-1]) if tracker.events else None)

    def rule_predict_action_probabilities(self, tracker, domain, rule_only_data=None, **kwargs):
        prediction = rule_predict(self, tracker, domain, rule_only_data, **kwargs)
        tracker._huimin_rule_prediction = (state_key(tracker), self.priority, prediction)
        return prediction

    def ted_predict_action_probabilities(self, tracker, domain, rule_only_data=None, precomputations=None,
                                         **kwargs):
        decided = getattr(tracker, "_huimin_rule_prediction", None)
        if (decided is not None and decided[0] == state_key(tracker) and TEXT not in self.fake_features
                and decided[2].max_confidence >= 1.0 and decided[1] > self.priority):
            global ted_skipped
            ted_skipped += 1
            return self._prediction(self._default_predictions(domain))
        return ted_predict(self, tracker, domain, rule_only_data, precomputations, **kwargs)

    global rasa_ted_predict
    rasa_ted_predict = ted_predict  # for tests
    RulePolicy.predict_action_probabilities = rule_predict_action_probabilities
    TEDPolicy.predict_action_probabilities = ted_predict_action_probabilities


def _install_form_temporary_tracker() -> None:
    """A form validating a slot builds a temporary tracker from every event of the session plus the few it adds
    (``FormAction._temporary_tracker``), several times a turn while a form is active: a full replay each time.
    The same tracker is the conversation's tracker copied (its state, ``copy`` above) with those events applied;
    built so when nothing restarted the conversation and the tracker's slots are the domain's."""
    from rasa.core.actions.forms import FormAction
    from rasa.shared.core.constants import REQUESTED_SLOT
    from rasa.shared.core.events import ActionExecuted, SlotSet

    temporary_tracker = FormAction._temporary_tracker

    def _temporary_tracker(self, current_tracker, additional_events, domain):
        if (list(current_tracker.slots) != [slot.name for slot in domain.slots]
                or current_tracker.idx_after_latest_restart()):
            return temporary_tracker(self, current_tracker, additional_events, domain)
        tracker = current_tracker.copy()
        apply_events(tracker, [SlotSet(REQUESTED_SLOT, self.get_slot_to_fill(current_tracker)),
                               ActionExecuted(self.name())] + list(additional_events))
        return tracker

    global rasa_temporary_tracker
    rasa_temporary_tracker = temporary_tracker  # for tests
    _temporary_tracker.__doc__ = temporary_tracker.__doc__
    FormAction._temporary_tracker = _temporary_tracker


rasa_temporary_tracker: Any = None
rasa_ted_predict: Any = None
ted_skipped = 0  # how often TED was not run (tests, profiles)


def _freeze_exactly(value: Any) -> Any:
    """A hashable value equal for equal values only (lists and tuples stay apart, as Rasa's comparisons keep them)."""
    if isinstance(value, dict):
        return ("d",) + tuple(sorted((k, _freeze_exactly(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("l",) + tuple(_freeze_exactly(v) for v in value)
    if isinstance(value, tuple):
        return ("t",) + tuple(_freeze_exactly(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return ("s", frozenset(_freeze_exactly(v) for v in value))
    return value


# Rule matches kept per RulePolicy loaded for serving (``_install_rule_match_memo``).
RULE_MATCH_MEMO = 20_000


def _install_rule_match_memo(max_entries: int = RULE_MATCH_MEMO) -> None:
    """``RulePolicy._get_possible_keys`` checks every rule of the model against the last states of the
    conversation, twice or three times per prediction: the largest single cost of a message in the profile under
    load (about a fifth of the Rasa process's CPU). Its result depends only on the rules and those states, and
    conversations keep reaching the same states; a RulePolicy loaded for serving keeps the rules matching each
    states sequence it has seen (the most recent ``max_entries``). A policy being trained changes its rules while
    it checks them, so it never keeps any (training creates its policy; ``train`` drops what a loaded one kept)."""
    from collections import OrderedDict

    from rasa.core.policies.rule_policy import RulePolicy

    get_possible_keys = RulePolicy._get_possible_keys
    load = RulePolicy.load.__func__
    train = RulePolicy.train

    def _get_possible_keys(self, lookup, states):
        memo = self.__dict__.get("_huimin_rule_matches")
        if memo is None:
            return get_possible_keys(self, lookup, states)
        key = (id(lookup), len(lookup), _freeze_exactly(states))
        found = memo.get(key)
        if found is None:
            found = memo[key] = frozenset(get_possible_keys(self, lookup, states))
            if len(memo) > max_entries:
                memo.popitem(last=False)
        else:
            memo.move_to_end(key)
        return set(found)

    def load_for_serving(cls, *args, **kwargs):
        policy = load(cls, *args, **kwargs)
        if isinstance(policy, RulePolicy):
            policy._huimin_rule_matches = OrderedDict()
        return policy

    def train_without_memo(self, *args, **kwargs):
        self.__dict__.pop("_huimin_rule_matches", None)
        return train(self, *args, **kwargs)

    global rasa_get_possible_keys
    rasa_get_possible_keys = get_possible_keys  # for tests
    _get_possible_keys.__doc__ = get_possible_keys.__doc__
    train_without_memo.__doc__ = train.__doc__
    RulePolicy._get_possible_keys = _get_possible_keys
    RulePolicy.load = classmethod(load_for_serving)
    RulePolicy.train = train_without_memo


rasa_get_possible_keys: Any = None


def _install_fast_slot_copies() -> None:
    """A tracker copies every slot of the domain when it is created (``copy.copy`` each, then reset), and Rasa
    creates about ten trackers a message (copies, states, forms): ``copy.copy``'s generic path (``__reduce_ex__``,
    ``copyreg``) was a tenth of the Rasa process's CPU in the profile. For a slot class without any copy
    customisation (Rasa's own), the copy is made directly — a new instance with the same attribute dict, which is
    what ``copy.copy`` makes of such an object; any other class still goes through ``copy.copy``."""
    import copy
    import copyreg

    from rasa.shared.core.trackers import DialogueStateTracker

    init = DialogueStateTracker.__init__
    plain: Dict[type, bool] = {}

    def is_plain(cls: type) -> bool:
        ok = plain.get(cls)
        if ok is None:
            ok = plain[cls] = (
                not hasattr(cls, "__copy__") and not hasattr(cls, "__getstate__")
                and not hasattr(cls, "__setstate__") and cls.__reduce_ex__ is object.__reduce_ex__
                and cls.__reduce__ is object.__reduce__ and cls.__new__ is object.__new__
                and copyreg.dispatch_table.get(cls) is None and cls not in copy._copy_dispatch
                # Only slots of its own would need more than the dict (ABC, a base of Slot, declares none).
                and not any(vars(k).get("__slots__") for k in cls.__mro__))
        return ok

    def slot_copy(slot: Any) -> Any:
        cls = type(slot)
        if not is_plain(cls):
            return copy.copy(slot)
        new = object.__new__(cls)
        new.__dict__.update(slot.__dict__)
        return new

    def __init__(self, sender_id, slots, max_event_history=None, sender_source=None, is_rule_tracker=False):
        init(self, sender_id, None, max_event_history, sender_source, is_rule_tracker)
        if slots is not None:
            self.slots = {slot.name: slot_copy(slot) for slot in slots}
            self._reset_slots()

    __init__.__doc__ = init.__doc__
    global rasa_tracker_init
    rasa_tracker_init = init  # for tests
    DialogueStateTracker.__init__ = __init__


rasa_tracker_init: Any = None


def _install_sequential_graph_runner() -> None:
    """Rasa runs its model graph with dask for every message and every action prediction (four or five runs a
    message): dask builds the task graph, orders it and schedules every node through its local scheduler — the
    same sequence of calls each time, in one thread, at about a tenth of the Rasa process's CPU in the profile.
    The first run of a graph (for its targets and input names) still goes through dask, which is watched for the
    order it calls the nodes in; later runs call the same nodes in that same order with the same arguments (each
    node gets its needs' ``(name, value)`` results, as from dask), so every component sees exactly what dask gave
    it, in the same order (TED after RulePolicy, see ``_install_ted_after_a_rule``)."""
    from dask.callbacks import Callback
    from rasa.engine.exceptions import GraphRunError
    from rasa.engine.runner.dask import DaskGraphRunner

    run = DaskGraphRunner.run

    def sequential_run(self, inputs=None, targets=None):
        run_targets = targets if targets else self._graph_schema.target_names
        plans = self.__dict__.setdefault("_huimin_plans", {})
        key = (tuple(run_targets), tuple(sorted(inputs or {})))
        plan = plans.get(key)
        if plan is None:
            order: list = []
            with Callback(pretask=lambda task_key, dsk, state: order.append(task_key)):
                result = run(self, inputs, targets)
            minimal = self._graph_schema.minimal_graph_schema(run_targets)
            if len(order) == len(set(order)) and set(order) == set(minimal.nodes):
                plans[key] = [(name, self._instantiated_nodes[name], tuple(minimal.nodes[name].needs.values()))
                              for name in order]
            return result
        values: Dict[Text, Any] = {}
        for name, value in (inputs or {}).items():
            if isinstance(value, str) and value in self._instantiated_nodes:
                return run(self, inputs, targets)  # Rasa's own error for a clashing input
            values[name] = (name, value)
        try:
            for name, node, needs in plan:
                values[name] = node(*[values[n] for n in needs])
        except RuntimeError as e:
            raise GraphRunError("Error running runner.") from e
        return dict(values[t] for t in run_targets)

    global rasa_graph_run
    rasa_graph_run = run  # for tests
    sequential_run.__doc__ = run.__doc__
    DaskGraphRunner.run = sequential_run


rasa_graph_run: Any = None


def _install_sparse_feature_combination() -> None:
    """For every message DIET reads its text's sparse features (words, character n-grams, regexes) combined into
    one matrix per feature type: ``Message._combine_features`` deep-copies the first featurizer's ``Features`` and
    then ``scipy.sparse.hstack``s each further one onto it — a generic block-matrix build (``bmat``) per pair,
    about a tenth of the Rasa process's CPU in the profile under load. When every part is a COO matrix (what
    Rasa's sparse featurizers produce) the same matrix is put together directly: the parts' entries in the same
    order, column offsets added, the same value and index dtypes (``upcast``, ``get_index_dtype`` of the final
    shape) — exactly what the chain of ``hstack``s returns. Anything else (one part, other formats, rows that
    do not match, a ``Features`` with attributes of its own) takes Rasa's own path."""
    import copy
    from functools import reduce

    import numpy as np
    from rasa.shared.nlu.training_data.features import Features
    from rasa.shared.nlu.training_data.message import Message
    from scipy.sparse import coo_matrix
    from scipy.sparse._sputils import get_index_dtype, upcast

    combine = Message._combine_features
    plain = {"features", "type", "origin", "attribute", "_cached_fingerprint"}

    def _combine_features(features, featurizers):
        if (len(features) < 2 or any(type(f) is not Features or type(f.features) is not coo_matrix
                                     or f.__dict__.keys() != plain for f in features)):
            return combine(features, featurizers)
        blocks = [f.features for f in features]
        rows = blocks[0].shape[0]
        if any(b.shape[0] != rows for b in blocks):
            return combine(features, featurizers)  # Rasa's own error
        widths = [b.shape[1] for b in blocks]
        shape = (int(rows), int(sum(widths)))
        dtype = reduce(lambda a, b: upcast(a, b), [b.dtype for b in blocks])
        idx_dtype = get_index_dtype(maxval=max(shape))
        offsets = np.cumsum([0] + widths[:-1])
        data = np.concatenate([b.data for b in blocks]).astype(dtype, copy=False)
        row = np.concatenate([b.row for b in blocks]).astype(idx_dtype, copy=False)
        col = np.concatenate([np.add(b.col, offset, dtype=idx_dtype) for b, offset in zip(blocks, offsets)])
        combined = copy.copy(features[0])
        combined.features = coo_matrix((data, (row, col)), shape=shape)
        combined.origin = featurizers
        combined._cached_fingerprint = None
        return combined

    global rasa_combine_features
    rasa_combine_features = combine  # for tests
    _combine_features.__doc__ = combine.__doc__
    Message._combine_features = staticmethod(_combine_features)


rasa_combine_features: Any = None


# Rasa modules whose ``copy.deepcopy`` calls all make arguments of a structlog debug message (tests/test_rasa_fixes.py
# checks their source).
DEBUG_COPY_MODULES = ("rasa.core.processor", "rasa.core.policies.memoization")


def structlog_debug_on() -> bool:
    """Whether structlog writes debug messages (Rasa configures a filtering logger whose filtered levels are no-ops);
    True whenever that cannot be told."""
    import structlog
    from structlog import _native

    wrapper = structlog.get_config().get("wrapper_class")
    return getattr(wrapper, "debug", None) is not getattr(_native, "_nop", object())


class _DebugLogCopies:
    """The ``copy`` module as ``DEBUG_COPY_MODULES`` see it: Rasa deep-copies the events, slots and states it passes
    to ``structlogger.debug`` (six to ten times a message, about 2 % of the Rasa process's CPU in the profile under
    load) although a filtered debug message never reads them. With structlog's debug level off the value itself is
    passed; with it on, the copy is made as before."""

    def __getattr__(self, name: str) -> Any:
        import copy

        return getattr(copy, name)

    @staticmethod
    def deepcopy(x: Any, memo: Any = None) -> Any:
        import copy

        return copy.deepcopy(x, memo) if structlog_debug_on() else x


def _install_debug_log_copies() -> None:
    import importlib

    for name in DEBUG_COPY_MODULES:
        importlib.import_module(name).copy = _DebugLogCopies()


# Seconds an idle connection to an endpoint is kept: below Sanic's keep-alive (5 s) on the action server and
# nginx's (75 s), so a kept connection is never one the other side is closing.
ENDPOINT_KEEPALIVE_SECONDS = 2.0


def _install_kept_endpoint_connections(keepalive: float = ENDPOINT_KEEPALIVE_SECONDS) -> None:
    """``EndpointConfig.request`` opens a new aiohttp session — a new connection — for every request, so each
    custom action (one or two a message) paid a TCP connection set up and torn down in Rasa, in the action server
    and in nginx between them. The request is Rasa's own, made with one session per endpoint and event loop that
    keeps its connections (the same headers, authentication and timeout as Rasa's session); a request whose kept
    connection the other side had just closed (nothing was received there) is sent once more on a new one."""
    import asyncio
    import os
    import ssl

    import aiohttp
    from rasa.shared.exceptions import FileNotFoundException
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, ClientResponseError, ContentTypeError, EndpointConfig
    from rasa.utils.endpoints import concat_url

    def kept_session(self: EndpointConfig) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        sessions = self.__dict__.setdefault("_huimin_sessions", {})
        session = sessions.get(loop)
        if session is None or session.closed:
            auth = (aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
                    if self.basic_auth else None)
            session = sessions[loop] = aiohttp.ClientSession(
                headers=self.headers, auth=auth, timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(keepalive_timeout=keepalive))
        return session

    async def request(self, method="post", subpath=None, content_type="application/json", compress=False,
                      **kwargs):
        headers = {}
        if content_type:
            headers["Content-Type"] = content_type
        if "headers" in kwargs:
            headers.update(kwargs["headers"])
            del kwargs["headers"]
        if self.headers:
            headers.update(self.headers)
        url = concat_url(self.url, subpath)
        sslcontext = None
        if self.cafile:
            try:
                sslcontext = ssl.create_default_context(cafile=self.cafile)
            except FileNotFoundError as e:
                raise FileNotFoundException(
                    f"Failed to find certificate file, '{os.path.abspath(self.cafile)}' does not exist.") from e
        params = self.combine_parameters(kwargs)
        body = kwargs.get("json")
        if (isinstance(body, dict) and isinstance(body.get("domain"), dict) and "data" not in kwargs
                and "Content-Type" in headers):  # else aiohttp would label bytes otherwise than JSON
            kwargs = dict(kwargs)
            kwargs["data"] = action_call_body(kwargs.pop("json"))
        for attempt in (1, 2):
            session = kept_session(self)
            try:
                async with session.request(method, url, headers=headers, params=params, compress=compress,
                                           ssl=sslcontext, **kwargs) as response:
                    if response.status >= 400:
                        raise ClientResponseError(response.status, response.reason, await response.content.read())
                    try:
                        return await response.json()
                    except ContentTypeError:
                        return None
            except aiohttp.ServerDisconnectedError:
                if attempt == 2:
                    raise

    global rasa_endpoint_request
    rasa_endpoint_request = EndpointConfig.request  # for tests
    request.__doc__ = EndpointConfig.request.__doc__
    EndpointConfig.request = request


rasa_endpoint_request: Any = None

# The domain's JSON text, kept with the very dict it was made from (``Domain.as_dict`` hands out the domain's own
# ``_data``, never changed while it serves; a new model's domain is another dict).
_domain_json: list = [None, ""]


def action_call_body(body: Dict[Text, Any]) -> bytes:
    """``json.dumps(body).encode()`` — what aiohttp sends for ``json=body`` — with the domain (about 30 KB of
    JSON, most of it every response's text) serialised once instead of on every custom-action call (the
    largest part of the JSON encoding in the Rasa process's profile under load). The domain keeps its place among
    the keys, so the bytes are the same."""
    import json

    if not all(isinstance(key, str) for key in body):
        return json.dumps(body).encode("utf-8")  # json.dumps writes other keys its own way
    domain = body["domain"]
    if _domain_json[0] is not domain:
        _domain_json[:] = [domain, json.dumps(domain)]
    parts = [json.dumps(key) + ": " + (_domain_json[1] if key == "domain" else json.dumps(value))
             for key, value in body.items()]
    return ("{" + ", ".join(parts) + "}").encode("utf-8")


def install() -> None:
    global _installed
    if _installed:
        return
    _install_validator()
    _install_event_class_cache()
    _install_single_replay()
    _install_inference_load()
    _install_incremental_states()
    _install_incremental_applied_events()
    _install_state_windows()
    _install_action_call_window()
    _install_incremental_replay()
    _install_ted_after_a_rule()
    _install_form_temporary_tracker()
    _install_rule_match_memo()
    _install_fast_slot_copies()
    _install_sequential_graph_runner()
    _install_kept_endpoint_connections()
    _install_sparse_feature_combination()
    _install_debug_log_copies()
    _installed = True
