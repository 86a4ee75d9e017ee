"""The issue's done-criterion, against the running product: the REST channel answers a resident's question
about 高龄津贴 with the eligibility rule from knowledge/, and the programme carries to the next question."""
from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, List

import pytest

from bot.knowledge.loader import load_knowledge

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.stack


def say(stack, sender: str, message: str) -> List[Dict[str, Any]]:
    body = json.dumps({"sender": sender, "message": message}).encode()
    req = urllib.request.Request(f"{stack.rasa_url}/webhooks/rest/webhook", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 200
        return json.loads(resp.read())


def test_elderly_allowance_eligibility_over_rest(stack):
    kb = load_knowledge(ROOT / "knowledge")
    allowance = kb.programs["elderly_allowance"]
    sender = f"e2e-{uuid.uuid4().hex[:8]}"

    replies = say(stack, sender, "我妈今年82了，能领高龄津贴不？")
    text = "\n".join(r.get("text") or "" for r in replies)
    assert allowance.aspects["eligibility"] in text, f"{replies}\n\n{stack.logs()[-3000:]}"
    assert "80 周岁" in text  # the national rule the answer rests on
    assert kb.aspects["eligibility"].label in text
    buttons = [b for r in replies for b in r.get("buttons") or []]
    assert 2 <= len(buttons) <= 4

    replies = say(stack, sender, "那要带什么材料？")
    text = "\n".join(r.get("text") or "" for r in replies)
    assert allowance.aspects["materials"] in text, replies
