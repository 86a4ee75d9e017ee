"""Issue 11's measure, through the running stack: the resident evaluation set (tests/nlu/residents/, written blind to
the training data) graded on the replies by bench/residents.py.

The hard rule is asserted over every line: a message in which a programme or service is recognised is never
answered with 没听明白. The usefulness floors are regression floors, not tuned thresholds: they sit below the
figures measured when this test was written (README, "Understanding residents") so that a change which makes
Huimin understand residents worse fails here.
"""
from __future__ import annotations

import asyncio

import pytest

from bench.residents import evaluate, summarise

pytestmark = pytest.mark.stack

# Regression floors below the figures measured on 2026-12-07 on model huimin-db6406c02af7b7bb (README,
# "Understanding residents": test 0.84 overall, lowest class 0.78; conversations 0.79, lowest class 0.50 with two
# turns), leaving room for the run-to-run spread of a retrained model. They are not the targets
# (95 % / 90 %), which are not met yet; raise them as understanding improves, never lower them to pass.
FLOOR_OVERALL = 0.75
FLOOR_CLASS = 0.45


@pytest.fixture(scope="module")
def graded(stack):
    from pathlib import Path

    return asyncio.run(evaluate(stack.rasa_url, stack.token, ["test", "conversations"],
                                Path(stack.env["HUIMIN_KNOWLEDGE_DIR"])))


def test_no_fallback_when_a_programme_or_service_is_recognised(graded):
    bad = [(o.turn.text, o.reply[:80]) for outs in graded.values() for o in outs if o.recognised and o.fallback]
    assert not bad, f"没听明白 although a programme or service was recognised: {bad[:5]}"


def test_resident_questions_get_useful_replies(graded):
    for name, outs in graded.items():
        s = summarise(outs)
        assert s["overall"]["useful"] >= FLOOR_OVERALL, (name, s)
        for klass, v in s["classes"].items():
            assert v["useful"] >= FLOOR_CLASS, (name, klass, s)


def test_every_message_gets_an_answer(graded):
    # A turn whose answer repeats until Rasa's circuit breaker stops it leaves the resident's next message without
    # any reply; an empty reply is a resident left waiting, whatever the class.
    # (While a person has the conversation, the resident's messages go to staff; the web chat and WeChat
    # acknowledge them from the watcher, which the REST channel used here cannot receive.)
    silent = [o.turn.text for outs in graded.values() for o in outs if not o.reply.strip() and not o.paused]
    assert not silent, f"messages answered with nothing: {silent[:5]}"
