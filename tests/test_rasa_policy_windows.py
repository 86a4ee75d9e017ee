"""bot/rasa/fixes.py hands each policy only the last states it can see (TED and memoization their max_history,
RulePolicy one more than its longest rule). The trained model's policies must predict exactly what they predict
from the whole history: every prediction point of a real conversation (tests/fixtures/long_conversation.json:
knowledge questions and follow-ups, two booking forms, a status check, fallbacks and rewinds, 488 events),
compared with the windows and with Rasa's own featurization of every state."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.stack, pytest.mark.timeout(1800)]

CONVERSATION = Path(__file__).parent / "fixtures" / "long_conversation.json"


def _prediction(p) -> tuple:
    events = [{k: v for k, v in e.as_dict().items() if k != "timestamp"} for e in p.events]
    return (p.policy_name, [round(x, 6) for x in p.probabilities], events,
            p.is_end_to_end_prediction, p.is_no_user_prediction, p.hide_rule_turn, p.action_metadata)


def test_policies_predict_from_their_windows_as_from_the_whole_history(monkeypatch, caplog):
    import logging

    from rasa.core.agent import Agent
    from rasa.core.featurizers.tracker_featurizers import MaxHistoryTrackerFeaturizer
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.engine.constants import PLACEHOLDER_TRACKER
    from rasa.shared.core.events import ActionExecuted, Event
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.rasa import fixes as rasa_fixes
    from bot.stack.training import ensure_model

    from rasa.core.policies.ted_policy import TEDPolicy

    rasa_fixes.install()
    monkeypatch.setattr(TEDPolicy, "predict_action_probabilities", rasa_fixes.rasa_ted_predict)  # TED always runs
    caplog.set_level(logging.INFO, logger="rasa.core.policies.rule_policy")  # as served: RulePolicy's debug log off
    agent = Agent.load(str(ensure_model()))
    runner = agent.processor.graph_runner
    policies = [n for n in runner._instantiated_nodes
                if n.startswith("run_") and any(k in n for k in ("RulePolicy", "MemoizationPolicy", "TEDPolicy"))]
    assert len(policies) == 3, policies
    rule = next(runner._instantiated_nodes[n]._component for n in policies if "RulePolicy" in n)
    assert 2 < rasa_fixes.rule_window(rule) < 40

    events = [Event.from_parameters(e) for e in json.loads(CONVERSATION.read_text())]
    windowed = (MaxHistoryTrackerFeaturizer.prediction_states, RulePolicy._find_action_from_rules)
    rasas = (rasa_fixes.rasa_prediction_states, rasa_fixes.rasa_find_action_from_rules)
    points = [n for n in range(1, len(events)) if isinstance(events[n], ActionExecuted)]
    assert len(points) > 90

    def predictions(tracker, mode):
        states, find = windowed if mode == "windows" else rasas
        monkeypatch.setattr(MaxHistoryTrackerFeaturizer, "prediction_states", states)
        monkeypatch.setattr(RulePolicy, "_find_action_from_rules", find)
        result = runner.run(inputs={PLACEHOLDER_TRACKER: tracker}, targets=policies)
        return {name: _prediction(result[name]) for name in policies}

    longer = 0
    for n in points:
        tracker = DialogueStateTracker.from_events("windows", events[:n], agent.domain.slots)
        assert predictions(tracker, "windows") == predictions(tracker, "rasa"), (n, events[n].as_dict())
        longer += len(tracker.past_states(agent.domain)) > rasa_fixes.rule_window(rule)
    assert longer > 60, longer  # most points had more states than any window: the windows were really used
    # The comparison sees a window that is too short: one state fewer for every policy changes TED's predictions.
    monkeypatch.setattr(rasa_fixes, "_tail_start", lambda window, skip, states: max(0, len(states) - window + 1))
    changed = 0
    for n in points[-20:]:
        tracker = DialogueStateTracker.from_events("windows", events[:n], agent.domain.slots)
        changed += predictions(tracker, "windows") != predictions(tracker, "rasa")
    assert changed
    print("rule window:", rasa_fixes.rule_window(rule), "points:", len(points), "beyond it:", longer)


def test_ted_is_skipped_only_where_a_rule_decides(monkeypatch, caplog):
    """Where RulePolicy has decided the next action, TED is not run (bot/rasa/fixes.py): the ensemble's choice —
    action, policy, confidence, events — is the one it makes with TED's real prediction, at every prediction point
    of the real conversation, and TED was skipped at most of them."""
    import logging

    from rasa.core.agent import Agent
    from rasa.core.policies.ted_policy import TEDPolicy
    from rasa.engine.constants import PLACEHOLDER_TRACKER
    from rasa.shared.core.events import ActionExecuted, Event
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.rasa import fixes as rasa_fixes
    from bot.stack.training import ensure_model

    rasa_fixes.install()
    caplog.set_level(logging.INFO, logger="rasa.core.policies.rule_policy")
    agent = Agent.load(str(ensure_model()))
    runner = agent.processor.graph_runner
    ensemble = [n for n in runner._instantiated_nodes if n.startswith("select_prediction")]
    assert len(ensemble) == 1, list(runner._instantiated_nodes)
    events = [Event.from_parameters(e) for e in json.loads(CONVERSATION.read_text())]
    points = [n for n in range(1, len(events)) if isinstance(events[n], ActionExecuted)]
    skipping = TEDPolicy.predict_action_probabilities
    skipped_before = rasa_fixes.ted_skipped
    undecided = 0
    for n in points:
        got = {}
        for mode, ted in (("skip", skipping), ("rasa", rasa_fixes.rasa_ted_predict)):
            monkeypatch.setattr(TEDPolicy, "predict_action_probabilities", ted)
            tracker = DialogueStateTracker.from_events("ted-skip", events[:n], agent.domain.slots)
            before = rasa_fixes.ted_skipped
            result = runner.run(inputs={PLACEHOLDER_TRACKER: tracker}, targets=ensemble)
            got[mode] = _prediction(result[ensemble[0]])
            if mode == "skip":  # skipped exactly where RulePolicy was sure
                decided = tracker._huimin_rule_prediction[2].max_confidence >= 1.0
                assert (rasa_fixes.ted_skipped - before == 1) == decided, n
                undecided += not decided
        assert got["skip"] == got["rasa"], (n, events[n].as_dict())
    assert rasa_fixes.ted_skipped - skipped_before > len(points) // 2
    assert undecided  # and TED ran where no rule applied


def test_the_rules_matching_a_state_are_kept_and_are_rasas():
    """A served RulePolicy keeps the rules matching each states sequence (bot/rasa/fixes.py): at every prediction
    point of the real conversation the kept answer is the one Rasa's own matching gives, for the rules and the
    loops' unhappy paths, with the text of the last message and without."""
    from rasa.core.agent import Agent
    from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH
    from rasa.shared.core.events import ActionExecuted, Event
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.rasa import fixes as rasa_fixes
    from bot.stack.training import ensure_model

    rasa_fixes.install()
    agent = Agent.load(str(ensure_model()))
    runner = agent.processor.graph_runner
    rule = next(node._component for name, node in runner._instantiated_nodes.items()
                if name.startswith("run_") and "RulePolicy" in name)
    assert isinstance(getattr(rule, "_huimin_rule_matches", None), dict)  # loaded for serving: it keeps them
    events = [Event.from_parameters(e) for e in json.loads(CONVERSATION.read_text())]
    points = [n for n in range(1, len(events)) if isinstance(events[n], ActionExecuted)]
    compared = 0
    for n in points:
        tracker = DialogueStateTracker.from_events("memo", events[:n], agent.domain.slots)
        for text in (True, False):
            states = rule._prediction_states(tracker, agent.domain, text, rule_only_data=rule._get_rule_only_data())
            for table in (RULES, RULES_FOR_LOOP_UNHAPPY_PATH):
                expected = rasa_fixes.rasa_get_possible_keys(rule, rule.lookup[table], states)
                assert rule._get_possible_keys(rule.lookup[table], states) == expected, (n, text, table)
                assert rule._get_possible_keys(rule.lookup[table], states) == expected  # kept
                compared += 1
    assert compared > 300
    assert len(rule._huimin_rule_matches) < compared  # states repeat: some answers were kept ones


def test_the_graph_runs_without_dask_as_with_it(monkeypatch):
    """After its first run through dask, a graph's nodes are called in dask's order without dask
    (bot/rasa/fixes.py): the parse of messages and every policy's and the ensemble's prediction at every point of
    the real conversation are the ones dask's run gives."""
    from rasa.core.agent import Agent
    from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
    from rasa.engine.runner.dask import DaskGraphRunner
    from rasa.shared.core.events import ActionExecuted, Event
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.core.channels.channel import UserMessage

    from bot.rasa import fixes as rasa_fixes
    from bot.stack.training import ensure_model

    rasa_fixes.install()
    agent = Agent.load(str(ensure_model()))
    runner = agent.processor.graph_runner
    nodes = list(runner._instantiated_nodes)
    policies = [n for n in nodes if n.startswith(("run_", "select_prediction"))
                and any(k in n for k in ("RulePolicy", "MemoizationPolicy", "TEDPolicy", "select_prediction"))]
    assert len(policies) == 4, policies
    events = [Event.from_parameters(e) for e in json.loads(CONVERSATION.read_text())]
    points = [n for n in range(1, len(events)) if isinstance(events[n], ActionExecuted)]

    def both(inputs_of, targets):
        got = []
        for mode in ("dask", "sequential"):
            if mode == "dask":
                monkeypatch.setattr(DaskGraphRunner, "run", rasa_fixes.rasa_graph_run)
            else:
                monkeypatch.undo()
            got.append(runner.run(inputs=inputs_of(), targets=targets))
        return got

    runner.run(inputs={PLACEHOLDER_TRACKER: DialogueStateTracker.from_events("g", events[:points[0]],
                                                                           agent.domain.slots)}, targets=policies)
    assert runner._huimin_plans, "the first run recorded dask's order"
    for n in points:
        dask_result, ours = both(lambda: {PLACEHOLDER_TRACKER: DialogueStateTracker.from_events(
            "g", events[:n], agent.domain.slots)}, policies)
        assert {k: _prediction(v) for k, v in ours.items()} == {k: _prediction(v) for k, v in dask_result.items()}, n
    nlu = [agent.processor.model_metadata.nlu_target]
    for text in ("低保要带什么材料", "我妈今年82了能领高龄津贴不", "MZ2026000101", "嗯嗯", "/greet", "在哪儿办"):
        dask_result, ours = both(lambda: {PLACEHOLDER_MESSAGE: [UserMessage(text)]}, nlu)
        parsed = [m.as_dict(only_output_properties=True) for m in ours[nlu[0]]]
        assert parsed == [m.as_dict(only_output_properties=True) for m in dask_result[nlu[0]]], text
        assert parsed[0].get("intent"), parsed
