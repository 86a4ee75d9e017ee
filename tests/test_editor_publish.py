"""Edits reach replicas that keep their own copy of knowledge/ (HUIMIN_KNOWLEDGE_SYNC=db): a save through the
editor on one copy is written into another copy by the sync, and that copy's KnowledgeStore serves the new
answer; a second pass with nothing new writes nothing."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from bot.editor.publish import KnowledgeSync
from bot.editor.service import EditorService
from bot.knowledge import answers
from bot.knowledge.loader import KnowledgeStore

ROOT = Path(__file__).resolve().parent.parent


async def test_a_replica_with_its_own_copy_follows_the_editor(db_url, tmp_path):
    console_copy, replica_copy = tmp_path / "console" / "knowledge", tmp_path / "replica" / "knowledge"
    shutil.copytree(ROOT / "knowledge", console_copy)
    shutil.copytree(ROOT / "knowledge", replica_copy)
    store = KnowledgeStore(replica_copy, min_interval=0)
    assert "（复制品同步测试）" not in answers.render_answer(store.get(), "dibao", "materials").text

    svc = EditorService(console_copy, db_url)
    entry = svc.get_entry("program", "dibao")
    data = entry["data"]
    data["aspects"]["materials"] = "带身份证（复制品同步测试）。"
    await svc.save("program", "dibao", data, entry["version"], "zhao")

    sync = KnowledgeSync(replica_copy, db_url)
    assert sync.sync_once() == 1
    published = (console_copy / "programs" / "dibao.yml").read_bytes()
    assert (replica_copy / "programs" / "dibao.yml").read_bytes() == published
    assert "带身份证（复制品同步测试）。" in answers.render_answer(store.get(), "dibao", "materials").text
    assert sync.sync_once() == 0

    # A file this replica has that the editor never saw (a newer deploy) is not replaced by older content.
    newer = (replica_copy / "programs" / "tekun.yml").read_text(encoding="utf-8") + "# 新版本部署带来的注释\n"
    entry = svc.get_entry("program", "tekun")
    entry["data"]["summary"] += "\n编辑器在旧版本上加的一句。"
    await svc.save("program", "tekun", entry["data"], entry["version"], "zhao")
    (replica_copy / "programs" / "tekun.yml").write_text(newer, encoding="utf-8")
    assert sync.sync_once() == 0
    assert (replica_copy / "programs" / "tekun.yml").read_text(encoding="utf-8") == newer
    sync.engine.dispose()


def test_an_action_server_with_its_own_copy_starts_the_sync(sqlite_url, tmp_path):
    """`python -m bot actions` with HUIMIN_KNOWLEDGE_SYNC=db: a save made after it started reaches its copy."""
    import asyncio
    import time

    from bot.stack import processes
    from tests.conftest import free_port

    replica_copy = tmp_path / "replica" / "knowledge"
    shutil.copytree(ROOT / "knowledge", replica_copy)
    port = free_port()
    env = dict(os.environ, HUIMIN_KNOWLEDGE_SYNC="db", HUIMIN_KNOWLEDGE_SYNC_INTERVAL="0.2",
               HUIMIN_KNOWLEDGE_DIR=str(replica_copy), HUIMIN_DATABASE_URL=sqlite_url, PYTHONPATH=str(ROOT),
               HUIMIN_ACTIONS_TOKEN="test-actions-token")
    proc = processes.spawn("actions", [sys.executable, "-m", "bot", "actions", "--port", str(port)],
                           f"http://127.0.0.1:{port}/health", env, tmp_path / "log")
    try:
        assert processes.wait_healthy(proc.health_url, 300, proc.popen), \
            (tmp_path / "log" / "actions.log").read_text(errors="replace")[-3000:]
        shutil.copytree(ROOT / "knowledge", tmp_path / "console" / "knowledge")
        svc = EditorService(tmp_path / "console" / "knowledge", sqlite_url)
        entry = svc.get_entry("program", "dibao")
        entry["data"]["aspects"]["materials"] = "带身份证（动作服务器同步测试）。"
        asyncio.run(svc.save("program", "dibao", entry["data"], entry["version"], "zhao"))
        target = replica_copy / "programs" / "dibao.yml"
        deadline = time.monotonic() + 60
        while "动作服务器同步测试" not in target.read_text(encoding="utf-8"):
            assert time.monotonic() < deadline, "the action server did not sync the saved entry into its copy"
            time.sleep(0.2)
    finally:
        processes.stop([proc])
