"""What residents read: every rendered answer is free of internal paths and editors' notes, source lines show a
title and a working link, and `kb check` rejects each kind of defect the fact-check of issue 15 found."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot.knowledge.answers import (render_answer, render_clarify_program, render_contact, render_overview,
                                   render_service_list)
from bot.knowledge.check import check_knowledge
from bot.knowledge.loader import load_knowledge
from bot.knowledge.resident_text import URL_RE, internal_markers, working_link

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = ROOT / "knowledge"

# The defects the fact-check quoted, verbatim: none may reach a resident again.
QUOTED = ("docs/policy/3.2.md", "报道未写明对象", "分类待核实", "中国日报", "....")


def all_answers(kb):
    """Every programme × aspect (and overview) × locality (and none), the list, its items, clarify, contact."""
    localities = [None] + sorted(kb.localities)
    for pid in sorted(kb.programs):
        for loc in localities:
            yield f"{pid}/overview/{loc}", render_overview(kb, pid, loc)
            for aspect in kb.aspects:
                yield f"{pid}/{aspect}/{loc}", render_answer(kb, pid, aspect, loc)
    for loc in localities:
        yield f"service_list/{loc}", render_service_list(kb, None, loc)
        for item in sorted(kb.service_list.items):
            yield f"service_list/{item}/{loc}", render_service_list(kb, item, loc)
        yield f"clarify/{loc}", render_clarify_program(kb, None, loc)
        yield f"contact/{loc}", type("A", (), {"text": render_contact(kb, loc), "buttons": []})()


def test_every_rendered_answer_is_free_of_internal_paths_and_notes():
    kb = load_knowledge(KNOWLEDGE)
    answers = list(all_answers(kb))
    # 19 programmes × 8 (overview + 7 aspects) × 3 (no locality, 2 localities) plus the list answers.
    assert len(answers) >= len(kb.programs) * 8 * 3
    bad = []
    for where, answer in answers:
        texts = [answer.text] + [b["title"] for b in answer.buttons]
        for text in texts:
            # A link may carry a path of the site it points to (a law's reprint on GitHub); the text around it may not.
            plain = URL_RE.sub(" ", text)
            found = internal_markers(text) + [q for q in QUOTED if q in plain]
            found += [u for u in URL_RE.findall(text) if not working_link(u)]
            if found:
                bad.append(f"{where}: {found}")
    assert not bad, "\n".join(bad)


def test_source_lines_show_a_title_and_a_working_link():
    kb = load_knowledge(KNOWLEDGE)
    answer = render_answer(kb, "dibao", "materials")
    footer = answer.text.splitlines()[-1]
    assert re.match(r"来源：《最低生活保障审核确认办法》[^ ]* https://\S+ · 已核实", footer), footer
    # A source whose only address is an abbreviated mirror ("....") is named without a link.
    amount = render_answer(kb, "elderly_allowance", "amount").text
    assert "洛川县高龄津贴办事指南（政府页面镜像）" in amount and "7613335" not in amount
    # ecns.cn is 中国新闻网.
    item = render_service_list(kb, "item_high_age_allowance").text
    assert "中国新闻网" in item and "中国日报" not in item


def test_internal_markers_recognise_the_quoted_defects():
    assert internal_markers("来源：困境儿童保障文件（法规转载 docs/policy/3.2.md）")
    assert internal_markers("对象：报道未写明对象")
    assert internal_markers("· 高龄津贴（物质帮助，分类待核实）")
    assert internal_markers("见 knowledge/offices.yml")
    assert not internal_markers("来源：《最低生活保障审核确认办法》 https://github.com/x/y/blob/c/docs/a/1.1.md")
    assert not working_link("https://7613335.com/html/ggfwzdbsfw1....info13059460.html")
    assert working_link("http://ecns.cn/news/2023-05-23/detail-ihcprrta3252447.shtml")


@pytest.fixture
def kb_copy(tmp_path):
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    return target


def _messages(directory):
    return [str(p) for p in check_knowledge(directory)]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_kb_check_rejects_internal_paths_notes_bad_links_and_wrong_publishers(kb_copy):
    assert _messages(kb_copy) == []
    _edit(kb_copy / "programs" / "children_in_difficulty.yml", "36号，法规全文转载）",
          "36号，法规转载 docs/policy/3.2.md）")
    _edit(kb_copy / "elderly_service_list.yml", "target: 各地清单写明具体对象。", "target: 报道未写明对象。")
    _edit(kb_copy / "programs" / "elderly_allowance.yml", "title: 中国新闻网：", "title: 中国日报：")
    _edit(kb_copy / "programs" / "elderly_allowance.yml", "title: 洛川县高龄津贴办事指南（政府页面镜像）\n",
          "title: 洛川县高龄津贴办事指南（政府页面镜像）\n    url: https://7613335.com/html/a....b.html\n")
    messages = _messages(kb_copy)
    assert any("children_in_difficulty.yml" in m and "docs/policy/3.2.md" in m for m in messages), messages
    assert any("elderly_service_list.yml" in m and "报道未写" in m for m in messages), messages
    assert any("elderly_allowance.yml" in m and "中国新闻网" in m and "中国日报" in m for m in messages), messages
    assert any("elderly_allowance.yml" in m and "不是能打开的链接" in m for m in messages), messages


def test_kb_check_holds_services_to_the_programme_schema(kb_copy):
    health = kb_copy / "services" / "health_check.yml"
    _edit(health, "unverified_aspects: [description, for_whom, price_note, prepare]",
          "unverified_aspects: [description, price_note, prepare]")
    bath = kb_copy / "services" / "bath.yml"
    text = bath.read_text(encoding="utf-8")
    bath.write_text(text[:text.index("sources:")], encoding="utf-8")
    messages = _messages(kb_copy)
    assert any("health_check.yml" in m and "for_whom 没有来源支持" in m for m in messages), messages
    assert any("bath.yml" in m and "sources 至少要有一条来源" in m for m in messages), messages
    assert any("bath.yml" in m and "缺少必填字段 review" in m for m in messages), messages


def test_names_belong_to_one_entry_across_programmes_list_and_services(kb_copy):
    # 老年人补贴 is a general word, not 高龄津贴's.
    kb = load_knowledge(kb_copy)
    assert "老年人补贴" not in kb.programs["elderly_allowance"].names
    _edit(kb_copy / "services" / "visit.yml", "  - 探访\n", "  - 探访\n  - 探访关爱\n")
    _edit(kb_copy / "services" / "home_adaptation.yml", "  - 适老化评估\n", "  - 适老化评估\n  - 适老化改造\n")
    _edit(kb_copy / "shared_names.yml", "  - name: 长者饭堂\n    program: elderly_meal\n    service: meal\n",
          "  - name: 长者饭堂\n    program: elderly_meal\n    service: bath\n")
    messages = _messages(kb_copy)
    assert any("visit.yml" in m and "“探访关爱”" in m and "item_visiting_care" in m for m in messages), messages
    assert any("home_adaptation.yml" in m and "home_aging_renovation" in m for m in messages), messages
    # An exception must be a real shared name of that programme and that service; the unlisted pair is reported.
    assert any("shared_names.yml" in m and "并不同时是" in m for m in messages), messages
    assert any("meal.yml" in m and "“长者饭堂”" in m for m in messages), messages


def test_the_answer_for_a_shared_name_says_which_entry_it_chose():
    kb = load_knowledge(KNOWLEDGE)
    answer = render_answer(kb, "elderly_meal", "overview", None, said="长者饭堂是什么")
    assert answer.text.startswith("您说的“长者饭堂”，这里先介绍老年助餐政策")
    assert "预约助餐" in answer.text
    materials = render_answer(kb, "elderly_meal", "eligibility", "guangzhou", said="长者饭堂谁能去吃")
    assert materials.text.startswith("您说的“长者饭堂”")
    # A name that is the programme's alone gets no note.
    assert not render_answer(kb, "elderly_meal", "overview", None, said="老年助餐是什么").text.startswith("您说的")


def test_status_meanings_differ_per_programme_and_are_sourced(tmp_path):
    from bot.applications.status_text import kb_check, load_status_texts

    def meaning(program_id, status):
        return load_status_texts(KNOWLEDGE, program_id)[status].render("某项目")

    # 临时救助 is one-off; 高龄津贴 has no source for a notice period or a payment rhythm.
    assert "一次性" in meaning("temporary_assistance", "approved")
    assert "按月" not in meaning("temporary_assistance", "approved")
    for status in ("public_notice", "approved"):
        said = meaning("elderly_allowance", status)
        assert "7 天" not in said and "下个月" not in said and "按月" not in said
    assert "公示期 7 天" in meaning("dibao", "public_notice") and "下个月" in meaning("dibao", "approved")
    assert "下个月" in meaning("tekun", "approved")
    # Labels and the shared statuses stay the same for every programme.
    assert load_status_texts(KNOWLEDGE, "temporary_assistance")["rejected"] == load_status_texts(KNOWLEDGE)["rejected"]

    text = (KNOWLEDGE / "application_status.yml").read_text(encoding="utf-8")
    start = text.index("  temporary_assistance:")
    section = text[start:]
    broken = text[:start] + section[:section.index("    sources:")] + "  ghost_program:\n    approved:\n" \
        "      meaning: 见 docs/policy/3.2.md\n"
    (tmp_path / "programs").mkdir()
    for p in (KNOWLEDGE / "programs").glob("*.yml"):
        (tmp_path / "programs" / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "application_status.yml").write_text(broken, encoding="utf-8")
    messages = [str(p) for p in kb_check(tmp_path)]
    assert any("programs.temporary_assistance.sources 至少要有一条来源" in m for m in messages), messages
    assert any("ghost_program：没有这个项目" in m for m in messages), messages
    assert any("docs/policy/3.2.md" in m for m in messages), messages


def test_residents_are_told_to_call_only_sourced_numbers(kb_copy):
    from bot.knowledge.operational import check_hotlines

    # The real knowledge base and bot/domain/*.yml (the emergency message included): nothing unsourced.
    assert check_hotlines(KNOWLEDGE) == []
    assert "12356" not in (ROOT / "bot" / "domain" / "handoff.yml").read_text(encoding="utf-8")
    _edit(kb_copy / "answer_templates.yml", "或拨打当地民政部门公开的社会救助服务热线。",
          "或拨打 12345 市民热线。")
    messages = [str(p) for p in check_hotlines(kb_copy)]
    assert any("answer_templates.yml" in m and "12345（市民服务热线）没有来源" in m for m in messages), messages


def test_an_entry_past_its_valid_until_turns_unverified_and_the_editor_lists_it(kb_copy, monkeypatch):
    import datetime as dt

    from bot.editor.service import EditorService
    from bot.knowledge import answers

    kb = load_knowledge(KNOWLEDGE)
    program = kb.programs["disabled_elderly_consumption"]
    assert program.valid_until == "2026-12-31" and program.review.verified
    monkeypatch.setattr(answers, "today", lambda: dt.date(2026, 12, 31))
    assert render_answer(kb, program.id, "eligibility").verified is True
    monkeypatch.setattr(answers, "today", lambda: dt.date(2027, 1, 1))
    for aspect in ("overview", "eligibility", "amount"):
        answer = render_answer(kb, program.id, aspect)
        assert answer.verified is False and answer.text.endswith("· 待核实"), answer.text

    _edit(kb_copy / "programs" / "disabled_elderly_consumption.yml", "valid_until: '2026-12-31'",
          "valid_until: '2025-12-31'")
    listed = {e["id"]: e for e in EditorService(kb_copy).list_entries(status="unverified")}
    assert listed["disabled_elderly_consumption"]["expired"] is True
    _edit(kb_copy / "programs" / "disabled_elderly_consumption.yml", "valid_until: '2025-12-31'",
          "valid_until: '2025-13-31'")
    assert any("valid_until “2025-13-31” 不是有效日期" in m for m in _messages(kb_copy))


def test_dialogue_responses_are_held_to_the_same_rule(tmp_path):
    from bot.knowledge.operational import check_hotlines

    shutil.copytree(KNOWLEDGE, tmp_path / "knowledge")
    shutil.copytree(ROOT / "bot" / "domain", tmp_path / "bot" / "domain")
    assert check_hotlines(tmp_path / "knowledge") == []
    _edit(tmp_path / "bot" / "domain" / "handoff.yml", "我马上帮您找工作人员。",
          "我马上帮您找工作人员（物质帮助，分类待核实）。请打 12356。")
    messages = [str(p) for p in check_hotlines(tmp_path / "knowledge")]
    assert any("handoff.yml" in m and "分类待核实" in m for m in messages), messages
    assert any("handoff.yml" in m and "12356（心理援助热线）没有来源" in m for m in messages), messages
