"""The second reading (bot/understanding/) against the real knowledge base: names by sound, aspects in the order
asked, situations, referrals, danger versus hardship; and the editors' word lists checked and picked up live."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from bot.knowledge.check import extra_problems
from bot.knowledge.loader import load_knowledge
from bot.understanding.context import reading_for
from bot.understanding.lexicon import ages_in, check
from bot.nlu.sounds import SoundIndex

ROOT = Path(__file__).resolve().parent.parent
KB = load_knowledge(ROOT / "knowledge")


@pytest.mark.parametrize("text, value", [
    ("高灵津贴咋个领", "elderly_allowance"),            # homophone
    ("gao ling jin tie 多少钱", "elderly_allowance"),    # pinyin with spaces
    ("dibao要啥材料", "dibao"),                        # pinyin run
    ("残急人两项补帖", "disability_subsidies"),          # two sound-alike characters in a long name
    ("临时求助怎么申请", "temporary_assistance"),
])
def test_programme_names_are_found_by_sound(text, value):
    assert value in reading_for(KB, text).programs


def test_two_syllable_sound_alikes_need_one_same_character():
    index = SoundIndex([("体检", "service", "health_check")])
    assert index.find("我想提个建议") == [] and index.find("提建议") == []
    assert index.find("想约个体检")


def test_aspects_come_in_the_order_asked():
    assert reading_for(KB, "低保去哪里办 要带啥 多少钱").aspects == ["apply", "materials", "amount"]


def test_a_described_situation_finds_fitting_entries_without_a_programme_name():
    r = reading_for(KB, "孩子爸妈都不在了 一直跟着奶奶过")
    assert not r.programs and {"orphan", "de_facto_orphan"} & {s.entry_id for s in r.situations}
    assert r.intent() == ("describe_situation", {})


def test_hardship_after_the_fact_is_not_danger_now():
    assert reading_for(KB, "家里着火了 快来人").danger
    after = reading_for(KB, "上个月家里着火了 啥都没了")
    assert not after.danger and "temporary_assistance" in {s.entry_id for s in after.situations}
    assert reading_for(KB, "我不想活了 以后怎么办").danger  # self-harm is never explained away


def test_ages_in_words_and_digits():
    assert ages_in("我妈八十三了") == [83] and ages_in("老爷子今年92") == [92] and ages_in("我们家3口人") == []


def test_adjacent_topics_are_referrals_and_person_requests_are_recognised():
    assert reading_for(KB, "退休金今年涨了多少").intent() == ("out_of_scope", {})
    assert reading_for(KB, "别让机器回我 叫个工作人员").intent() == ("request_human", {})


def test_kb_check_reports_a_situation_with_an_unknown_concept(tmp_path):
    kdir = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", kdir)
    path = kdir / "programs" / "dibao.yml"
    path.write_text(path.read_text(encoding="utf-8") + "  - why: 测试\n    when: [no_such_concept]\n",
                    encoding="utf-8")
    problems = check(kdir)
    assert any("no_such_concept" in p.message for p in problems)
    assert any("no_such_concept" in str(p) for p in extra_problems(kdir))


def test_an_editors_new_cue_is_used_without_retraining(tmp_path):
    kdir = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", kdir)
    kb = load_knowledge(kdir)
    assert reading_for(kb, "老屋漏得像筛子").situations == []
    lexicon = kdir / "understanding.yml"
    text = lexicon.read_text(encoding="utf-8").replace("  disaster: [", "  disaster: [漏得像筛子, ", 1)
    time.sleep(0.01)
    lexicon.write_text(text, encoding="utf-8")
    assert "temporary_assistance" in {s.entry_id for s in reading_for(kb, "老屋漏得像筛子").situations}
