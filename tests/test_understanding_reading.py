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


def test_a_gapped_cue_allows_words_between_its_parts(tmp_path):
    from bot.understanding.lexicon import first_positions, load_lexicon

    shutil.copytree(ROOT / "knowledge", tmp_path / "kb")
    path = tmp_path / "kb" / "understanding.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("human: [", "human: [喊…过来, ", 1), encoding="utf-8")
    lex = load_lexicon(tmp_path / "kb")
    assert first_positions("帮我喊个管事的过来", lex.human)[0] == (2, "喊…过来")
    assert not first_positions("帮我喊一下隔壁老王家的孩子过来", lex.human)  # too far apart: not one phrase


def test_a_question_outranks_a_topic_merely_mentioned():
    # 材料 is mentioned, 多长时间 is asked.
    assert reading_for(KB, "临时救助材料交上去以后 批下来要多长时间").aspects[0] == "duration"
    assert reading_for(KB, "特困供养的材料").aspects == ["materials"]  # nothing asked: the mention decides


def test_places_come_from_the_place_list_not_from_jiebas_guesses():
    r = reading_for(KB, "我在蚌埠 高龄津贴有吗")
    assert r.places == ["蚌埠"]
    assert reading_for(KB, "办低保要准备些什么东西").places == []       # 东西 is not a place
    assert reading_for(KB, "广州的低保标准").localities == ["guangzhou"]  # a recorded locality stays one


def test_the_question_asked_after_the_programme_decides_a_referral():
    # The programme says who the resident is; the question is the police station's business.
    assert reading_for(KB, "我爸是特困供养的 他户口本丢了怎么补").intent() == ("out_of_scope", {})
    # Asked the other way round, the programme is the question.
    assert reading_for(KB, "身份证丢了还能申请低保吗").intent()[0] == "ask_eligibility"


def test_a_service_asked_for_by_what_it_does_or_by_its_national_list_name_is_booked():
    assert reading_for(KB, "想约个人来家里打扫一下 我腰不好").intent() == ("book_service", {"service": "cleaning"})
    assert reading_for(KB, "探访关爱能给我约上吗").intent() == ("book_service", {"service": "visit"})
    assert reading_for(KB, "探访关爱是什么").intent()[0] != "book_service"  # asking what it is books nothing


def test_asking_for_a_person_differs_from_asking_whether_this_is_one():
    asks_for = reading_for(KB, "我要真人")
    asks_if = reading_for(KB, "你是不是真人啊")
    assert asks_for.wants_human and not asks_for.asks_if_bot
    assert asks_if.asks_if_bot
    assert reading_for(KB, "rengong").wants_human  # pinyin split into the fewest syllables: ren gong


def test_a_partial_fit_for_the_wrong_generation_is_not_recommended():
    # A young father who died leaves children, not a widowed pensioner: no visits for the elderly.
    found = {s.entry_id for s in reading_for(KB, "孩子他爸去年走了 我自己带两个娃 挣不到钱").situations}
    assert "visit" not in found and "children_in_difficulty" in found


def test_a_group_named_with_words_for_one_member_is_that_member():
    from bot.understanding.context import narrow_group

    assert narrow_group(KB, "care_subsidies", "老年人的护理补贴怎么申请") == "elderly_care_subsidy"
    assert narrow_group(KB, "care_subsidies", "重度残疾的护理补贴") == "disability_care"
    assert narrow_group(KB, "care_subsidies", "护理补贴怎么申请") == "care_subsidies"


def test_civil_affairs_own_windows_are_never_said_to_be_someone_elses():
    from bot.understanding import replies
    from bot.understanding.lexicon import load_lexicon

    lex = load_lexicon(ROOT / "knowledge")
    marriage = reading_for(KB, "补办结婚证去哪里").referral
    pension = reading_for(KB, "养老金今年涨多少").referral
    told = replies.referral(lex, marriage).text
    assert "不归民政部门管" not in told and "婚姻登记处" in told
    assert "不归民政部门管" in replies.referral(lex, pension).text


def test_a_list_entry_named_in_part_or_by_position():
    from bot.understanding.choices import by_name, choose, position

    buttons = [{"title": "了解临时救助", "payload": '/ask_overview{"program": "temporary_assistance"}'},
               {"title": "预约助餐", "payload": '/book_service{"service": "meal"}'},
               {"title": "转人工", "payload": "/request_human"}]
    assert position("就第二个吧") == 2 and position("第一次申请") is None and position("最后那个") == -1
    assert choose("选3", buttons)["payload"] == "/request_human"
    assert by_name("救助那个要啥材料", buttons)["title"] == "了解临时救助"
    assert by_name("今天天气不错", buttons) is None


def test_a_topic_mentioned_with_a_question_word_after_it_is_asked():
    assert reading_for(KB, "残疾人生活补贴 条件是啥 在哪申请").aspects == ["eligibility", "apply"]
    assert reading_for(KB, "从交材料到拿到钱要多少天").aspects == ["duration"]  # mentioned only


def test_a_person_told_of_is_not_a_person_asked_for():
    assert not reading_for(KB, "好的 刚才工作人员说清楚了 那高龄津贴要什么材料").wants_human
    assert reading_for(KB, "叫个工作人员来").wants_human


def test_an_exact_name_beats_a_longer_sound_alike_with_another_character_wrong():
    # 事 may be read zi: 子是孤儿 sounds like 事实孤儿, but 孤儿 is written there.
    from bot.knowledge.export import all_phrases
    from bot.nlu.kb_entities import PhraseIndex, names_in

    phrases = all_phrases(KB)
    exact, heard = names_in(PhraseIndex(phrases), SoundIndex(phrases), "孩子是孤儿 又是重度残疾")
    assert ("program", "orphan") in {(e[2], e[3]) for e in exact} and not heard
    exact, heard = names_in(PhraseIndex(phrases), SoundIndex(phrases), "低保变缘户能领啥")
    assert [(m[2], m[3]) for m in heard] == [("program", "dibao_edge")] and not exact


def test_another_offices_topic_only_told_is_no_referral():
    story = reading_for(KB, "孙子五岁 自闭症 他爸妈在外面打工 康复一个月四千 我的退休金全搭进去了")
    assert story.referral is None and story.intent()[0] == "describe_situation"
    assert reading_for(KB, "医疗救助到底归民政管还是归医保管").intent() == ("ask_handler",
                                                                      {"program": "medical_assistance"})
    assert reading_for(KB, "老伴过世了 他的户口怎么注销").intent() == ("out_of_scope", {})
    assert reading_for(KB, "养老服务补贴 我妈没退休金 轮得到她不").referral is None


def test_words_that_belong_to_one_question_are_not_read_as_another():
    # A space ends a phrase: 带啥, then 在外地能不能办 — not 啥人 (who qualifies).
    assert reading_for(KB, "特困供养要带啥 人在外地能不能办").aspects == ["materials", "apply"]
    # 来家里 inside "谁来家里" asks who does it; it books nothing.
    r = reading_for(KB, "适老化改造是谁来家里装的")
    assert not r.booking and r.intent() == ("ask_handler", {"program": "home_aging_renovation"})
    # 能领 inside "是不是…才能领" asks who qualifies, not whether the two go together.
    assert not reading_for(KB, "残疾人生活补贴是不是低保户才能领").pair
    assert reading_for(KB, "残疾人生活补贴和低保能一起领吗").pair


def test_what_a_family_has_is_told_and_a_pinyin_topic_is_heard():
    assert reading_for(KB, "我爸八十了 有退休金 一个人住").referral is None
    assert reading_for(KB, "gongjijin 怎么取出来").intent() == ("out_of_scope", {})


def test_a_status_question_is_told_from_a_programme_question():
    assert reading_for(KB, "我妈的高龄津贴申请到哪一步了").asks_status
    assert not reading_for(KB, "长者饭堂在哪里报名").asks_status


def test_a_programme_the_family_already_has_is_who_they_are():
    r = reading_for(KB, "我一级残疾 一个人过 家里是低保户")
    assert r.held == ["dibao"] and r.intent() == ("describe_situation", {})
    assert reading_for(KB, "我爸吃着低保 高龄津贴怎么领").intent() == ("ask_apply", {"program": "elderly_allowance"})
    # A rare reading of a character is no homophone: 请不起保姆 does not name 低保 (typed 抵保).
    assert "dibao" not in reading_for(KB, "家里请不起保姆 婆婆瘫在床上").programs


def test_a_household_named_in_a_phrase_of_its_own_is_what_is_asked():
    # Beside another programme in the same phrase, the household is who asks; alone in its phrase, what is asked.
    assert reading_for(KB, "低保边缘户可以办临时救助吗").asked_programs[0] == "temporary_assistance"
    assert reading_for(KB, "低保边缘户到底指什么 和低保有啥不一样").asked_programs[0] == "dibao_edge"


def test_who_they_are_told_then_a_yes_or_no_question_asks_whether_they_qualify():
    assert reading_for(KB, "我老伴瘫了好几年 家里就靠我 护理补贴有我们的份没").intent()[0] == "ask_eligibility"
    assert reading_for(KB, "老伴走了剩我一个 高龄津贴也能给吗啊").asks_whether
    # A plain question about a programme tells nothing of the family: its overview.
    assert reading_for(KB, "特困供养是啥").intent() == ("ask_overview", {"program": "tekun"})


def test_an_age_inside_a_longer_number_is_not_a_child():
    assert "child" not in reading_for(KB, "我爸八十岁了 腿脚不好").concepts
    assert "child" in reading_for(KB, "孙子才十岁 跟着我过").concepts
    assert "alone" in reading_for(KB, "我 今年 六十八 一个人 住").concepts
