"""Against the running stack: an editor changes the materials answer of a programme through the console API,
and the next resident question about its materials gets the new text — no restart, no retraining."""
from __future__ import annotations

import uuid

import pytest

from tests.editor_helpers import Editor, ask, eventually

pytestmark = [pytest.mark.stack, pytest.mark.timeout(3600)]

QUESTION = "办低保要带什么材料"  # one of the programme's own example questions


async def test_edited_answer_reaches_residents_without_restart(stack):
    editor = await Editor.login(stack)
    marker = f"（编辑器热更新测试 {uuid.uuid4().hex[:6]}）"
    try:
        before = "\n".join(await ask(stack.rasa_url, QUESTION))
        entry = await editor.call("GET", "/api/editor/entries/program/dibao")
        assert entry["data"]["aspects"]["materials"].splitlines()[0] in before, before
        assert marker not in before

        data = entry["data"]
        data["aspects"]["materials"] = "带上户口簿和身份证。" + marker
        saved = await editor.call("PUT", "/api/editor/entries/program/dibao",
                                  {"data": data, "version": entry["version"]})
        assert saved["needs_retraining"] is False

        async def answered():
            text = "\n".join(await ask(stack.rasa_url, QUESTION))
            return text if marker in text else None
        text = await eventually(answered, timeout=60)
        assert text and "带上户口簿和身份证。" in text, text
        # The whole change is recorded and reversible.
        history = (await editor.call("GET", "/api/editor/entries/program/dibao/history"))["revisions"]
        assert history[0]["user"] == saved["revision"]["user"] and marker in history[0]["diff"]
        await editor.call("POST", "/api/editor/entries/program/dibao/restore",
                          {"revision_id": history[0]["id"], "side": "before"})

        async def reverted():
            text = "\n".join(await ask(stack.rasa_url, QUESTION))
            return text if marker not in text else None
        assert await eventually(reverted, timeout=60)
    finally:
        await editor.close()
