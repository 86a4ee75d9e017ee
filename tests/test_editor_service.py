"""The knowledge editor's service layer against a real migrated database and a temporary copy of knowledge/:
save (minimal diff, comments kept), validation problems mapped to fields, optimistic locking, history, restore,
review marking, new entries from the template, and what needs retraining."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.editor import kb, yamlio
from bot.editor.service import Conflict, EditorService, Invalid

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def kdir(tmp_path, monkeypatch) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", target)
    monkeypatch.setenv("HUIMIN_KNOWLEDGE_DIR", str(target))
    return target


@pytest.fixture
def svc(kdir, db_url) -> EditorService:
    return EditorService(kdir, db_url)


def changed_lines(diff: str):
    return [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]


async def test_save_answer_text_changes_only_that_line_and_is_recorded(svc, kdir):
    before = (kdir / "programs" / "dibao.yml").read_text(encoding="utf-8")
    entry = svc.get_entry("program", "dibao")
    assert any(f["path"] == ["aspects"] for f in entry["fields"])
    data = entry["data"]
    data["aspects"]["materials"] = data["aspects"]["materials"] + "\n· 户口簿原件。"

    result = await svc.save("program", "dibao", data, entry["version"], "zhao")

    after = (kdir / "programs" / "dibao.yml").read_text(encoding="utf-8")
    assert after.splitlines()[0] == before.splitlines()[0] and after.startswith("#")  # the file's comment stays
    diff = result.revision["diff"]
    # The edited line, and the entry goes back to 待核实 (answer text nobody has reviewed yet).
    assert changed_lines(diff) == ["+    · 户口簿原件。", "-  status: verified", "+  status: unverified"], diff
    assert result.review_reset == ["(entry)"]
    assert yamlio.unified_diff(before, after, "programs/dibao.yml") == diff
    assert result.needs_retraining is False
    assert result.entry["version"] != entry["version"]
    history = await svc.history("program", "dibao")
    assert [(h["action"], h["user"]) for h in history] == [("save", "zhao")]
    rev = await svc.revision(history[0]["id"])
    assert rev["before_text"] == before and rev["after_text"] == after


async def test_validation_problems_are_mapped_to_fields_and_nothing_is_written(svc, kdir):
    before = (kdir / "programs" / "dibao.yml").read_text(encoding="utf-8")
    entry = svc.get_entry("program", "dibao")
    data = entry["data"]
    data["summary"] = "   "
    data["aliases"].append(data["aliases"][0])  # a duplicate alias
    with pytest.raises(Invalid) as exc:
        await svc.save("program", "dibao", data, entry["version"], "zhao")
    fields = {p["field"] for p in exc.value.extra["problems"]}
    assert "summary" in fields, exc.value.extra
    assert any(f and f.startswith("aliases") for f in fields), exc.value.extra
    assert (kdir / "programs" / "dibao.yml").read_text(encoding="utf-8") == before
    assert await svc.history("program", "dibao") == []
    # The preview reports the same problems without saving.
    preview = svc.preview("program", "dibao", data)
    assert "summary" in {p["field"] for p in preview["problems"]}


async def test_second_editor_on_a_stale_version_gets_a_conflict_with_the_other_change(svc, kdir):
    entry = svc.get_entry("program", "dibao")
    first = dict(entry["data"], summary=entry["data"]["summary"] + "\n第一位编辑加的一句。")
    await svc.save("program", "dibao", first, entry["version"], "zhao")
    second = dict(entry["data"], summary=entry["data"]["summary"] + "\n第二位编辑加的一句。")
    with pytest.raises(Conflict) as exc:
        await svc.save("program", "dibao", second, entry["version"], "qian")
    their = exc.value.extra["their_change"]
    assert "+  第一位编辑加的一句。" in their["diff"]
    assert [c["user"] for c in their["changes"]] == ["zhao"]
    assert not [e for e in svc.list_entries(q="dibao") if e["same_name"]]
    text = (kdir / "programs" / "dibao.yml").read_text(encoding="utf-8")
    assert "第一位编辑加的一句" in text and "第二位编辑加的一句" not in text
    # Saving again on the current version (after seeing the conflict) is explicit and works.
    again = await svc.save("program", "dibao", second, exc.value.extra["current_version"], "qian")
    assert "第二位编辑加的一句" in (kdir / "programs" / "dibao.yml").read_text(encoding="utf-8")
    assert again.revision["user"] == "qian"
    # The form was loaded while the entry was 已核实: that old review does not come back with it.
    assert again.entry["review"]["status"] == "unverified"


async def test_restore_brings_back_an_earlier_version_and_is_itself_recorded(svc, kdir):
    original = (kdir / "programs" / "tekun.yml").read_text(encoding="utf-8")
    entry = svc.get_entry("program", "tekun")
    data = entry["data"]
    aspect = next(iter(data["aspects"]))
    data["aspects"][aspect] = "一段临时的错误回答。"
    saved = await svc.save("program", "tekun", data, entry["version"], "zhao")
    assert "一段临时的错误回答" in (kdir / "programs" / "tekun.yml").read_text(encoding="utf-8")

    restored = await svc.restore("program", "tekun", saved.revision["id"], "qian",
                                 version=saved.entry["version"], side="before")
    assert (kdir / "programs" / "tekun.yml").read_text(encoding="utf-8") == original
    assert restored.revision["action"] == "restore" and restored.revision["restored_from"] == saved.revision["id"]
    history = await svc.history("program", "tekun")
    assert [h["action"] for h in history] == ["restore", "save"]
    # …and the restore can be undone by restoring the state after the first save.
    await svc.restore("program", "tekun", saved.revision["id"], "qian", side="after")
    assert "一段临时的错误回答" in (kdir / "programs" / "tekun.yml").read_text(encoding="utf-8")


async def test_mark_reviewed_records_who_and_when_in_the_entry(svc, kdir):
    result = await svc.mark_reviewed("program", "dibao_edge", "zhao", status="verified")
    review = result.entry["data"]["review"]
    assert review["status"] == "verified" and review["reviewed_by"] == "zhao"
    assert review["reviewed_on"] == result.entry["summary"]["reviewed_on"]
    assert all(ln.lstrip("+- ").startswith(("reviewed_on", "reviewed_by", "status"))
               for ln in changed_lines(result.revision["diff"])), result.revision["diff"]
    listed = {e["id"]: e for e in svc.list_entries(kind="program")}
    assert listed["dibao_edge"]["reviewed_by"] == "zhao"
    assert (await svc.history("program", "dibao_edge"))[0]["action"] == "review"


async def test_service_list_item_is_edited_in_place_of_its_file(svc, kdir):
    items = svc.list_entries(kind="service_item")
    assert items, "the national service list items are listed"
    item = svc.get_entry("service_item", items[0]["id"])
    assert not item["whole_file"] and "content" in item["data"]
    data = dict(item["data"], content=item["data"]["content"] + "（编辑器测试）")
    result = await svc.save("service_item", items[0]["id"], data, item["version"], "zhao")
    lines = changed_lines(result.revision["diff"])
    assert lines[:2][1].endswith("（编辑器测试）") and lines[2:] == ["-  status: verified", "+  status: unverified"], \
        result.revision["diff"]  # the list's review covers its items: changed text is 待核实 again
    assert svc.list_entries(kind="service_item")[0]["status"] == "unverified"
    verified = svc.list_entries(status="verified")
    assert all(e["status"] == "verified" for e in verified)
    assert svc.list_entries(q="低保")[0]["id"].startswith("dibao")


async def test_new_programme_from_template_and_needs_retraining(svc, kdir):
    form = svc.new_entry("program", "test_new_aid", "测试新补贴")
    data = form["data"]
    with pytest.raises(Invalid) as exc:  # the template alone is not a valid programme
        await svc.create("program", data, "zhao")
    assert {"short_name", "summary"} <= {p["field"] for p in exc.value.extra["problems"]}, exc.value.extra
    data.update(short_name="测试补贴", summary="一项只在测试里存在的补贴。", aliases=["测试补助金"])
    data["aspects"] = {"eligibility": "测试用的条件。"}
    data["example_questions"] = {"eligibility": ["测试补贴谁能领"]}
    data["sources"] = [{"title": "测试来源", "url": "https://example.org/test", "date": "2026-01-01"}]
    result = await svc.create("program", data, "zhao")
    assert result.needs_retraining is True
    assert (kdir / "programs" / "test_new_aid.yml").exists()
    assert "test_new_aid" in {e["id"] for e in svc.list_entries(kind="program")}
    assert (await svc.history("program", "test_new_aid"))[0]["action"] == "create"


def test_needs_retraining_is_about_understanding_not_answers(kdir):
    entry = yamlio.to_plain(yamlio.load((kdir / "programs" / "dibao.yml").read_text(encoding="utf-8")))
    answer = dict(entry, aspects=dict(entry["aspects"], materials="新的材料说明。"))
    alias = dict(entry, aliases=entry["aliases"] + ["新别名"])
    question = dict(entry, example_questions=dict(entry["example_questions"], materials=["办低保到底要啥"]))
    assert kb.needs_retraining(entry, answer) is False
    assert kb.needs_retraining(entry, alias) is True
    assert kb.needs_retraining(entry, question) is True
    assert kb.needs_retraining(entry, dict(entry, id="dibao2")) is True
    assert kb.needs_retraining(None, entry) is True


async def test_alias_save_is_flagged_for_retraining_by_the_export_itself(svc, kdir):
    entry = svc.get_entry("program", "dibao")
    data = dict(entry["data"], aliases=entry["data"]["aliases"] + ["保底生活钱"])
    result = await svc.save("program", "dibao", data, entry["version"], "zhao")
    assert result.needs_retraining is True
    assert (await svc.history("program", "dibao"))[0]["needs_retraining"] is True


async def test_raw_save_reports_yaml_errors_with_the_line(svc, kdir):
    entry = svc.get_entry("program", "dibao")
    broken = entry["raw"].replace("summary: |-", "summary: [unclosed", 1)
    with pytest.raises(Invalid) as exc:
        await svc.save_raw("program", "dibao", broken, entry["version"], "zhao")
    assert exc.value.extra["problems"][0]["line"] is not None
    ok = entry["raw"].replace("# ", "# 编辑器原文测试：", 1)
    result = await svc.save_raw("program", "dibao", ok, entry["version"], "zhao")
    assert changed_lines(result.revision["diff"])[1].startswith("+# 编辑器原文测试：")


def test_evaluation_reports_exactly_what_kb_check_reports(kdir):
    from bot.knowledge.check import check_knowledge

    path = kdir / "programs" / "dibao.yml"
    broken = path.read_text(encoding="utf-8").replace("short_name: 低保", "short_name: ''", 1)
    assert broken != path.read_text(encoding="utf-8")
    ours = kb.evaluate(kdir, "programs/dibao.yml", broken, with_export=False)
    theirs = check_knowledge(kdir, overrides={path: broken})
    assert ours.kb is None and ours.problems
    assert [(p.line, p.message) for p in ours.problems] == [(p.line, p.message) for p in theirs]
    assert {p.file for p in ours.problems} == {"programs/dibao.yml"}


async def test_publishing_safety_review_reset_two_person_review_and_fixed_id(svc, kdir, monkeypatch):
    from bot.editor.service import Forbidden, Invalid

    entry = svc.get_entry("program", "dibao")
    # Training fields only: what residents read is unchanged, the review stays.
    data = entry["data"]
    data["aliases"] = list(data.get("aliases") or []) + ["保障金（测试别名）"]
    result = await svc.save("program", "dibao", data, entry["version"], "zhao")
    assert result.review_reset == [] and result.entry["review"]["status"] == "verified"

    entry = svc.get_entry("program", "dibao")
    entry["data"]["aspects"]["amount"] += "\n（测试改动）"
    result = await svc.save("program", "dibao", entry["data"], entry["version"], "zhao")
    assert result.entry["review"]["status"] == "unverified"
    changes = (await svc.history("program", "dibao"))[0]["changes"]
    assert [c["field"] for c in changes] == ["aspects.amount", "review.status"]
    assert changes[0]["after"].endswith("（测试改动）") and not changes[0]["before"].endswith("（测试改动）")

    # Nor can the raw YAML declare it verified: only "mark reviewed" does (reviewer and date recorded).
    raw = svc.get_entry("program", "dibao")
    with pytest.raises(Invalid) as exc:
        await svc.save_raw("program", "dibao", raw["raw"].replace("status: unverified", "status: verified"),
                           raw["version"], "zhao")
    assert exc.value.extra["problems"][0]["field"] == "raw"

    # Two-person review: the one who saved may not publish; someone else may, and is recorded.
    monkeypatch.setenv("HUIMIN_EDITOR_TWO_PERSON_REVIEW", "1")
    with pytest.raises(Forbidden):
        await svc.mark_reviewed("program", "dibao", "zhao")
    reviewed = await svc.mark_reviewed("program", "dibao", "qian")
    review = reviewed.entry["review"]
    assert (review["status"], review["reviewed_by"]) == ("verified", "qian") and review["reviewed_on"]

    # The id of an existing entry cannot change, in the form or in the raw YAML.
    entry = svc.get_entry("program", "dibao")
    with pytest.raises(Invalid) as exc:
        await svc.save("program", "dibao", dict(entry["data"], id="dibao2"), entry["version"], "zhao")
    assert exc.value.extra["problems"][0]["field"] == "id"
    with pytest.raises(Invalid):
        await svc.save_raw("program", "dibao", entry["raw"].replace("id: dibao", "id: dibao2", 1), entry["version"],
                           "zhao")

    # Two entries with one name are flagged in the list (whatever the filter); labels do not repeat the hint.
    assert not [e for e in svc.list_entries(q="dibao") if e["same_name"]]
    text = (kdir / "programs" / "dibao.yml").read_text(encoding="utf-8")
    (kdir / "programs" / "dibao_twin.yml").write_text(text.replace("id: dibao", "id: dibao_twin", 1), encoding="utf-8")
    twins = [e for e in svc.list_entries(kind="program") if e["same_name"]]
    assert {"dibao", "dibao_twin"} <= {e["id"] for e in twins}
    assert [e["same_name"] for e in svc.list_entries(q="dibao_twin")] == [True]
    labels = [f["label"] for f in entry["fields"]]
    assert "别名" in labels and not any("一行一个" in label for label in labels)


async def test_situations_are_a_form_field_checked_like_kb_check_on_save(svc, kdir):
    """Every programme's form has its situations (a reason residents read, the concepts that must all be in their
    message) — also a programme without any yet; a save with an unknown concept or no reason is refused with the
    problem on that field (the understanding checker sees the unsaved text), a good one is saved and read live."""
    from bot.knowledge.loader import load_knowledge
    from bot.understanding.context import reading_for

    from tests.editor_helpers import drop_situations

    drop_situations(kdir / "programs" / "dibao_edge.yml")
    entry = svc.get_entry("program", "dibao_edge")
    assert "situations" not in entry["data"]
    [field] = [f for f in entry["fields"] if f["path"] == ["situations"]]
    assert field["type"] == "records" and [c["key"] for c in field["columns"]] == ["why", "when"]
    assert field["columns"][1]["choices"] == "concepts" and "（" not in field["label"].split("（", 1)[1]
    data = entry["data"]
    for bad, message in (({"why": "测试", "when": ["no_such_concept"]}, "no_such_concept"),
                         ({"why": "", "when": ["no_income"]}, "why")):
        data["situations"] = [bad]
        with pytest.raises(Invalid) as exc:
            await svc.save("program", "dibao_edge", data, entry["version"], "zhao")
        problems = exc.value.extra["problems"]
        assert any(message in p["message"] and (p["field"] or "").startswith("situations") for p in problems), problems
        assert message in str(svc.preview("program", "dibao_edge", data)["problems"])
    asked = "家里就我一个人上班，最近又失业没收入了，低保边缘能管吗"
    before = {s.entry_id for s in reading_for(load_knowledge(kdir), asked).situations}
    data["situations"] = [{"why": "收入刚刚高过低保标准、日子还是难的，可以问问低保边缘家庭。", "when": ["no_income"]}]
    result = await svc.save("program", "dibao_edge", data, entry["version"], "zhao")
    assert result.needs_retraining is False and result.review_reset == []  # not answer text, not training data
    assert "dibao_edge" not in before
    assert "dibao_edge" in {s.entry_id for s in reading_for(load_knowledge(kdir), asked).situations}
    assert kb.check(kdir) == []
