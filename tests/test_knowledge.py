"""The knowledge base: schema and `kb check` (real CLI), lookups, answer rendering, hot reload, export."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.knowledge.answers import (render_answer, render_clarify_program, render_contact, render_overview,
                                   render_service_list)
from bot.knowledge.check import check_knowledge
from bot.knowledge.export import export_training_data
from bot.knowledge.loader import KnowledgeError, KnowledgeStore, load_knowledge

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"
BROKEN = ROOT / "tests" / "fixtures" / "knowledge_broken"

REQUIRED_PROGRAMS = {
    "dibao", "dibao_edge", "rigid_expense", "tekun", "temporary_assistance", "medical_assistance",
    "elderly_allowance", "elderly_service_subsidy", "elderly_care_subsidy", "disabled_elderly_consumption",
    "disability_living", "disability_care", "orphan", "de_facto_orphan", "children_in_difficulty",
    "home_aging_renovation", "elderly_meal",
}
PAYLOAD_RE = re.compile(r'^/ask_[a-z_]+(\{.*\})?$')


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "bot", "kb", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"  # otherwise the test would pass without changing anything
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture(scope="module")
def kb():
    return load_knowledge(KNOWLEDGE)


@pytest.fixture
def kb_copy(tmp_path):
    """A private copy of the real knowledge base (the only files tests may change)."""
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    return target


# ---------------------------------------------------------------------------------------------- kb check

def test_real_knowledge_base_passes_kb_check():
    result = run_cli("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "知识库检查通过" in result.stdout
    assert "17 个项目" in result.stdout
    # Two entries called 高龄津贴 (the programme and the service-list item pointing to it): said, not failed.
    assert "“高龄津贴”有两个同名条目——项目 elderly_allowance" in result.stdout
    assert "item_high_age_allowance" in result.stdout


def test_broken_fixtures_report_file_line_and_exit_1():
    result = run_cli("check", "--dir", str(BROKEN.relative_to(ROOT)))
    assert result.returncode == 1
    prefix = "tests/fixtures/knowledge_broken/"
    # Other capabilities' registered checks may report their own (absent) files; only ours are asserted here.
    ours = ("programs/", "localities/", "aspects.yml", "answer_templates.yml", "elderly_service_list.yml")
    lines = [line for line in result.stdout.strip().splitlines() if line.startswith(tuple(prefix + o for o in ours))]
    expected = [
        ("programs/missing_summary.yml:2: ", "缺少必填字段 summary"),
        ("programs/dup_alias.yml:6: ", "别名“好项目别名”和 good 的“好项目别名”重复了"),
        ("programs/good.yml:5: ", "别名“好项目别名”和 dup_alias 的“好项目别名”重复了"),
        ("programs/bad_related.yml:10: ", "related 里的“no_such_program”不存在"),
        ("programs/bad_date.yml:14: ", "sources[1].date “2025-13-01” 不是有效日期"),
        ("programs/no_source.yml:11: ", "sources 至少要有一条来源"),
        ("programs/bad_aspect.yml:8: ", "aspects 里的“price”不是已知的方面"),
        ("programs/bad_aspect.yml:11: ", "example_questions.materials 第 1 项应该是非空文字"),
        ("programs/bad_aspect.yml:16: ", "review.status 应该是 verified（已核实）或 unverified（待核实）"),
        ("programs/syntax_error.yml:3: ", "YAML 格式错误"),
        ("localities/testcity.yml:16: ", "地方信息里的项目“ghost”不存在"),
    ]
    for location, message in expected:
        assert any(line.startswith(prefix + location) and message in line for line in lines), \
            f"missing {location}{message} in:\n" + "\n".join(lines)
    # Exactly one problem per defect: nothing spurious from the valid parts of the fixture.
    assert len(lines) == len(expected), "\n".join(lines)


def test_kb_commands_have_help():
    for args in (("check", "--help"), ("export", "--help")):
        result = run_cli(*args)
        assert result.returncode == 0
        assert "--dir" in result.stdout


def test_check_of_a_missing_directory_is_a_clear_error(tmp_path):
    result = run_cli("check", "--dir", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert "找不到知识库目录" in result.stderr


def test_unsaved_text_is_checked_in_context(kb_copy):
    """The editor validates a change before writing it: the override replaces the file's text."""
    path = kb_copy / "programs" / "orphan.yml"
    text = path.read_text(encoding="utf-8").replace("  - 孤儿补贴\n", "  - 孤儿补贴\n  - 地保\n")
    assert "地保" in text
    problems = check_knowledge(kb_copy, overrides={path: text})
    assert any(p.file.endswith("orphan.yml") and "地保" in p.message and p.field == "aliases" for p in problems)
    assert check_knowledge(kb_copy) == []  # the file on disk was not touched


def test_template_with_unknown_placeholder_is_reported(kb_copy):
    edit(kb_copy / "answer_templates.yml", "{aspect_label}", "{aspect_labl}")
    problems = check_knowledge(kb_copy)
    assert any("aspect_labl" in p.message and p.file.endswith("answer_templates.yml") for p in problems)


# ---------------------------------------------------------------------------------------------- content

def test_required_programmes_are_present_with_sources_and_questions(kb):
    assert REQUIRED_PROGRAMS <= set(kb.programs)
    for pid in REQUIRED_PROGRAMS:
        p = kb.programs[pid]
        assert p.sources, pid
        assert sum(len(v) for v in p.example_questions.values()) >= 6, pid
        assert p.review.status in ("verified", "unverified")
    assert kb.programs["disability_subsidies"].members == ("disability_living", "disability_care")


def test_service_list_is_honest_about_its_16_items(kb):
    sl = kb.service_list
    assert sl.item_count == 16 and sl.document_date == "2023-05-21"
    assert [c.name for c in sl.categories] == ["物质帮助", "照护服务", "关爱服务"]
    assert {i.name for i in sl.items.values()} == {"高龄津贴", "失能老年人家庭照护者培训", "居家适老化改造", "探访关爱"}
    # Categories the reference marks 【待核实】 are not presented as verified.
    assert not any(i.category_verified for i in sl.items.values())
    answer = render_service_list(kb)
    assert "16 个项目" in answer.text and "中国政府网" in answer.text
    assert "分类待核实" not in answer.text  # an unconfirmed category is not shown (editors see category_verified)
    assert all(PAYLOAD_RE.match(b["payload"]) for b in answer.buttons)


# ---------------------------------------------------------------------------------------------- lookups

@pytest.mark.parametrize("text, program_id", [
    ("低保", "dibao"), ("地保", "dibao"), ("底保", "dibao"), ("吃低保", "dibao"), ("dibao", "dibao"),
    ("高令津贴", "elderly_allowance"), ("高齡津貼", "elderly_allowance"), ("８０岁补贴", "elderly_allowance"),
    ("八十岁补贴", "elderly_allowance"),
    ("我妈今年82了，能领高龄津贴不？", "elderly_allowance"),
    ("残疾人两项补贴", "disability_subsidies"), ("殘疾人兩項補貼多少錢", "disability_subsidies"),
    ("老年人护理补贴", "elderly_care_subsidy"),  # the longest name wins over the group 护理补贴
    ("护理补贴", "care_subsidies"), ("低保边缘家庭怎么认定", "dibao_edge"),
    ("长者饭堂", "elderly_meal"), ("医疗救助", "medical_assistance"),
])
def test_find_program(kb, text, program_id):
    assert kb.find_program(text).id == program_id


def test_find_nothing_and_localities_and_items(kb):
    assert kb.find_program("今天天气怎么样") is None
    assert kb.find_program("") is None
    # General words for subsidies of the elderly are not a name of 高龄津贴 (one of several such subsidies).
    assert kb.find_program("老年人补贴") is None and kb.find_program("老年补贴") is None
    assert kb.find_locality("我住在廣州市天河区").id == "guangzhou"
    assert kb.find_locality("北京") is None
    assert kb.find_service_item("探訪關愛").id == "item_visiting_care"
    assert kb.mentions_service_list("国家基本养老服务清单有哪些")
    assert kb.aspect_for_intent("ask_materials") == "materials"


# ---------------------------------------------------------------------------------------------- answers

def test_aspect_answer_answers_only_that_aspect(kb):
    answer = render_answer(kb, "dibao", "materials")
    assert kb.programs["dibao"].aspects["materials"] in answer.text
    assert kb.programs["dibao"].aspects["eligibility"] not in answer.text
    assert "来源：《最低生活保障审核确认办法》" in answer.text
    assert "已核实 2026-11-29" in answer.text
    assert 2 <= len(answer.buttons) <= 4
    assert {"title": "去哪儿办", "payload": '/ask_apply{"program":"dibao"}'} in answer.buttons
    assert all(b["payload"] != '/ask_materials{"program":"dibao"}' for b in answer.buttons)


def test_amount_without_locality_says_it_varies_and_offers_the_local_figure(kb):
    answer = render_answer(kb, "dibao", "amount")
    assert "金额各地不同，以当地民政部门最新公布为准" in answer.text
    assert "1309" not in answer.text
    assert {"title": "看广州的规定", "payload": '/ask_amount{"locality":"guangzhou","program":"dibao"}'} \
        in answer.buttons


def test_locality_overlay_gives_local_figure_first(kb):
    answer = render_answer(kb, "dibao", "amount", "guangzhou")
    local = answer.text.index("1309")
    national = answer.text.index(kb.programs["dibao"].aspects["amount"])
    assert local < national
    assert "穗民规字〔2025〕2号" in answer.text.split("来源：")[1]
    assert all('"locality":"guangzhou"' in b["payload"] for b in answer.buttons)
    # A locality without figures for this programme falls back to the national rule alone.
    plain = render_answer(kb, "rigid_expense", "duration", "guangzhou")
    assert "【广州】" not in plain.text and "30 个工作日" in plain.text
    # Known locality, no local amount: say so instead of implying the national example applies there.
    amount = render_answer(kb, "elderly_allowance", "amount", "guangzhou")
    assert "广州的具体标准，我这里还没有收录" in amount.text
    assert "还没有收录" not in answer.text


def test_unverified_local_figures_are_marked_and_verified_ones_offered_first(kb):
    answer = render_answer(kb, "disability_care", "amount", "chongqing")
    assert "110 元" in answer.text and answer.text.rstrip().endswith("待核实")
    # Guangzhou's figure is verified, Chongqing's is not: the "local figures" button leads to Guangzhou.
    assert render_answer(kb, "disability_care", "amount").buttons[0]["title"] == "看广州的规定"


def test_unverified_entry_and_group_footer(kb):
    answer = render_answer(kb, "elderly_service_subsidy", "eligibility")
    assert answer.text.rstrip().endswith("待核实") and answer.verified is False
    group = render_answer(kb, "disability_subsidies", "amount", "guangzhou")
    assert "【困难残疾人生活补贴】" in group.text and "【重度残疾人护理补贴】" in group.text
    assert "217" in group.text and "290" in group.text
    assert "部分内容待核实" in group.text


def test_missing_aspect_says_so_and_where_to_ask(kb):
    answer = render_answer(kb, "elderly_meal", "materials")
    assert "还没有可靠的信息" in answer.text
    assert answer.verified is None
    local = render_answer(kb, "elderly_meal", "materials", "guangzhou")
    assert "广州市民政局" in local.text


def test_medical_assistance_sends_residents_to_medical_insurance(kb):
    for aspect in ("overview", "eligibility", "apply"):
        assert "医保" in render_answer(kb, "medical_assistance", aspect).text


def test_overview_and_clarify(kb):
    overview = render_overview(kb, "elderly_allowance")
    assert overview.text.startswith("高龄津贴\n")
    assert [b["title"] for b in overview.buttons] == ["谁能申请", "能领多少钱", "要带什么材料", "去哪儿办"]
    assert render_answer(kb, "elderly_allowance", None).text == overview.text
    clarify = render_clarify_program(kb, "materials")
    assert "哪个项目" in clarify.text and "所需材料" in clarify.text
    assert clarify.buttons[0] == {"title": "低保", "payload": '/ask_materials{"program":"dibao"}'}
    # An unknown programme id never crashes: it asks which programme was meant.
    assert render_answer(kb, "no_such_program", "amount").buttons == render_clarify_program(kb, "amount").buttons


def test_service_list_item_links_its_programme(kb):
    answer = render_service_list(kb, "item_high_age_allowance")
    assert "80 周岁" in answer.text and "待核实" in answer.text
    assert answer.buttons[0]["payload"] == '/ask_overview{"program":"elderly_allowance"}'
    assert "广州" in render_contact(kb, "guangzhou") and render_contact(kb)


def test_every_programme_and_aspect_renders(kb):
    for pid in kb.programs:
        for aspect in kb.aspects:
            answer = render_answer(kb, pid, aspect)
            assert answer.text and "{" not in answer.text, (pid, aspect)
            assert 1 <= len(answer.buttons) <= 4 and all(PAYLOAD_RE.match(b["payload"]) for b in answer.buttons)
            if aspect == "amount":
                assert "以当地民政部门最新公布为准" in answer.text


# ---------------------------------------------------------------------------------------------- hot reload

def test_store_keeps_last_good_version_and_picks_up_a_good_edit(kb_copy):
    store = KnowledgeStore(kb_copy, min_interval=0)
    first = store.get()
    old_text = first.programs["dibao"].aspects["materials"]
    path = kb_copy / "programs" / "dibao.yml"
    good_text = path.read_text(encoding="utf-8")

    edit(path, "summary: |-", "summary: [broken")
    still = store.get()
    assert still is first
    assert still.programs["dibao"].aspects["materials"] == old_text
    assert store.last_problems and store.last_problems[0].file.endswith("dibao.yml")

    path.write_text(good_text, encoding="utf-8")
    edit(path, "签一份家庭经济状况核对授权书", "签一份家庭经济状况核对授权书（新）")
    fresh = store.get()
    assert "授权书（新）" in fresh.programs["dibao"].aspects["materials"]
    assert "授权书（新）" in render_answer(fresh, "dibao", "materials").text
    assert store.last_problems == []


def test_store_without_any_good_version_raises(kb_copy):
    (kb_copy / "aspects.yml").write_text("aspects: [", encoding="utf-8")
    with pytest.raises(KnowledgeError) as exc:
        KnowledgeStore(kb_copy, min_interval=0).get()
    assert exc.value.problems[0].file.endswith("aspects.yml")


# ---------------------------------------------------------------------------------------------- export

def _export_bytes(knowledge_dir: Path, build: Path) -> dict:
    paths = export_training_data(load_knowledge(knowledge_dir), build)
    return {kind: path.read_bytes() for kind, path in paths.items()}


def test_export_is_deterministic_and_ignores_answer_text(kb_copy, tmp_path):
    first = _export_bytes(kb_copy, tmp_path / "b1")
    assert _export_bytes(kb_copy, tmp_path / "b2") == first

    path = kb_copy / "programs" / "dibao.yml"
    edit(path, "签一份家庭经济状况核对授权书", "签一份授权书")
    assert _export_bytes(kb_copy, tmp_path / "b3") == first

    edit(path, "  - 底保\n", "  - 底保\n  - 低保费\n")
    changed = _export_bytes(kb_copy, tmp_path / "b4")
    assert changed["phrases"] != first["phrases"] and changed["jieba"] != first["jieba"]
    assert changed["nlu"] != first["nlu"]  # the lookup table lists the names


def test_export_formats(kb, tmp_path):
    paths = export_training_data(kb, tmp_path)
    jieba = paths["jieba"].read_bytes()
    assert paths["jieba"].parent.is_dir() and not jieba.startswith(b"\xef\xbb\xbf")
    words = [line.rsplit(" ", 1) for line in jieba.decode("utf-8").splitlines()]
    assert ["高龄津贴", "2000"] in words and ["地保", "2000"] in words
    phrases = json.loads(paths["phrases"].read_text(encoding="utf-8"))
    assert ["地保", "program", "dibao"] in phrases
    assert ["探访关爱", "service_item", "item_visiting_care"] in phrases
    assert ["广州", "locality", "guangzhou"] in phrases
    # The item 高龄津贴 is recognised as the programme, not twice.
    assert not any(p[0] == "高龄津贴" and p[1] == "service_item" for p in phrases)

    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(paths["nlu"]))
    intents = {m.get("intent") for m in data.intent_examples}
    assert {"ask_overview", "ask_materials", "ask_amount", "ask_service_list"} <= intents
    assert not data.entity_examples  # entities come from the phrase matcher, not from annotations
    texts = {m.get("text"): m.get("intent") for m in data.intent_examples}
    assert texts["办低保要带什么材料"] == "ask_materials"
    assert texts["国家基本养老服务清单有哪些项目"] == "ask_service_list"
    assert {t.get("name") for t in data.lookup_tables} >= {"program", "service_item", "locality"}
