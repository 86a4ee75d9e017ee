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

from typing import Any, Dict, Iterable, Optional, Text

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

    def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
        error = best_match(validator.iter_errors(result))
        if error is None:
            return True
        assert isinstance(error, ValidationError)
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from the Action "
            f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions")
        raise error

    RemoteAction._validate_action_result = _validate_action_result


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


def install() -> None:
    global _installed
    if _installed:
        return
    _install_validator()
    _install_event_class_cache()
    _install_single_replay()
    _install_inference_load()
    _installed = True
