"""bot/rasa/fixes.py loads DIET and TED for serving without tracing Keras' training step: the model loaded that
way must answer exactly as the model loaded by Rasa's own code — every intent ranking of the NLU and TED's
probabilities for every turn of a conversation. Each load runs in a process of its own (this file is also the
script it runs)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.stack, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ["低保要带什么材料", "高龄津贴多少钱", "残疾人两项补贴是什么", "临时救助怎么申请", "在哪儿办", "多久能批下来",
         "我想预约助餐", "明天中午", "查一下我的申请进度", "MZ2026000101", "今天天气怎么样", "谢谢", "你好", "转人工"]


def _answers(mode: str, model: str) -> dict:
    import asyncio
    import time

    if mode == "patched":
        from bot.rasa import fixes as rasa_fixes
        rasa_fixes.install()
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.constants import PLACEHOLDER_TRACKER

    started = time.process_time()
    agent = Agent.load(model)
    out: dict = {"load_cpu_seconds": round(time.process_time() - started, 1), "nlu": [], "ted": []}

    async def run() -> None:
        runner = agent.processor.graph_runner
        ted = [n for n in runner._instantiated_nodes if n.startswith("run_") and "TEDPolicy" in n]
        assert ted, "no TED in the model"
        for text in TEXTS:
            parsed = await agent.parse_message(text)
            out["nlu"].append([(r["name"], round(r["confidence"], 6)) for r in parsed["intent_ranking"]])
            await agent.processor.log_message(UserMessage(text, sender_id="load-check"))
            tracker = await agent.processor.get_tracker("load-check")
            result = runner.run(inputs={PLACEHOLDER_TRACKER: tracker}, targets=ted)
            out["ted"].append([round(p, 6) for p in result[ted[0]].probabilities])

    asyncio.run(run())
    return out


def test_a_model_loaded_for_serving_answers_as_rasas_own_load(tmp_path):
    from bot.stack.training import ensure_model

    model = str(ensure_model())
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    answers = {}
    procs = {mode: subprocess.Popen([sys.executable, __file__, mode, model, str(tmp_path / f"{mode}.json")],
                                    cwd=ROOT, env=env) for mode in ("rasa", "patched")}
    for mode, proc in procs.items():
        assert proc.wait(timeout=1700) == 0, mode
        answers[mode] = json.loads((tmp_path / f"{mode}.json").read_text())
    assert answers["patched"]["nlu"] == answers["rasa"]["nlu"]
    assert answers["patched"]["ted"] == answers["rasa"]["ted"]
    assert len(answers["rasa"]["ted"]) == len(TEXTS)
    print("load CPU s (Rasa / patched):", answers["rasa"]["load_cpu_seconds"], answers["patched"]["load_cpu_seconds"])


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    mode_, model_, out_ = sys.argv[1:4]
    Path(out_).write_text(json.dumps(_answers(mode_, model_)))
