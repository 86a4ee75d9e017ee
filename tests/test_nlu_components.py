"""The NLU building blocks on their own: normaliser, jieba tokenizer fix, knowledge-base entity matcher."""
import json

import pytest

from bot.nlu.textnorm import map_span, normalize, normalize_with_offsets


# ---------------------------------------------------------------------------------------------- normaliser
@pytest.mark.parametrize("raw, expected", [
    ("我媽今年82了，能領高齡津貼不？", "我妈今年82了能领高龄津贴不"),
    ("請問低保要帶什麼材料", "请问低保要带什么材料"),
    ("我的电话是１３８００１３８０００", "我的电话是13800138000"),
    ("ＡＢＣ　低保", "ABC低保"),
    ("低保要什么材料😊👍🏻", "低保要什么材料"),
    ("谢谢❤️", "谢谢"),
    ("  低保   要带 什么\t材料  ", "低保要带什么材料"),
    ("我想问 iPhone   12 怎么用", "我想问iPhone 12怎么用"),
    ("多少钱？？？", "多少钱"),
    ("明天10:30，下午3.5小时", "明天10:30下午3.5小时"),
    ("ok,thanks", "ok thanks"),
    ("在吗!!!", "在吗"),
    ("好的。。。", "好的"),
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_normalize_is_idempotent_and_keeps_plain_text():
    for text in ["高龄津贴多少钱", "我妈今年82了,能领高龄津贴不?", "低保 iPhone 12"]:
        assert normalize(normalize(text)) == normalize(text)
    assert normalize("高龄津贴多少钱") == "高龄津贴多少钱"
    assert normalize("") == "" and normalize(None) == ""


def test_offsets_follow_the_source_characters():
    raw = "😊 我媽 領 高齡津貼"
    text, offsets = normalize_with_offsets(raw)
    assert text == "我妈领高龄津贴"
    start = raw.index("高齡津貼")
    assert map_span(offsets, start, start + 4) == (3, 7)
    assert text[3:7] == "高龄津贴"
    assert map_span(offsets, 0, 1) is None  # the emoji did not survive


def test_normalizer_component_moves_entity_annotations():
    from bot.nlu.normalizer import ChineseTextNormalizer
    from rasa.shared.nlu.training_data.message import Message

    raw = "😊 我的電話 １３８００１３８０００ 幫我查"
    start = raw.index("１")
    message = Message(data={"text": raw, "intent": "check_status",
                            "entities": [{"entity": "phone", "start": start, "end": start + 11,
                                          "value": raw[start:start + 11]}]})
    ChineseTextNormalizer().process([message])
    text = message.get("text")
    entity = message.get("entities")[0]
    assert text == "我的电话13800138000帮我查"
    assert text[entity["start"]:entity["end"]] == "13800138000" == entity["value"]


def test_parse_result_carries_the_original_text_with_entity_spans_on_it():
    # What the resident typed is what the tracker stores; entity spans must point into it, not into the
    # normalised text (a dropped "，" would otherwise shift 高龄津贴 one character left).
    from bot.nlu.normalizer import ChineseTextNormalizer
    from bot.nlu.original_text import OriginalTextRestorer
    from rasa.shared.nlu.training_data.message import Message

    raw = "我妈今年82了，能領 高齡津貼不？"
    message = Message(data={"text": raw})
    ChineseTextNormalizer().process([message])
    normalised = message.get("text")
    start = normalised.index("高龄津贴")
    message.set("entities", [{"entity": "program", "start": start, "end": start + 4, "value": "elderly_allowance"}],
                add_to_output=True)
    OriginalTextRestorer().process([message])
    entity = message.get("entities")[0]
    assert message.get("text") == raw
    assert raw[entity["start"]:entity["end"]] == "高齡津貼"
    assert entity["value"] == "elderly_allowance"
    assert "huimin_original_text" not in message.as_dict(only_output_properties=True)


def test_normalizer_component_keeps_a_message_that_would_become_empty():
    from bot.nlu.normalizer import ChineseTextNormalizer
    from rasa.shared.nlu.training_data.message import Message

    message = Message(data={"text": "👍👍"})
    ChineseTextNormalizer().process([message])
    assert message.get("text") == "👍👍"


def test_normalizer_component_leaves_button_payloads_alone():
    from bot.nlu.normalizer import ChineseTextNormalizer
    from rasa.shared.nlu.training_data.message import Message

    payload = '/ask_materials{"program": "dibao"}'
    message = Message(data={"text": payload})
    ChineseTextNormalizer().process([message])
    assert message.get("text") == payload


# ----------------------------------------------------------------------------------------------- tokenizer
@pytest.fixture()
def tokenizer(tmp_path):
    from rasa.engine.graph import ExecutionContext
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    from bot.nlu.tokenizer import HuiminJiebaTokenizer

    dictionary = tmp_path / "jieba"
    dictionary.mkdir()
    (dictionary / "kb.txt").write_text("高龄津贴 100000 nz\n低保边缘家庭 100000 nz\n适老化改造 100000 nz\n",
                                       encoding="utf-8")
    config = {**HuiminJiebaTokenizer.get_default_config(), "dictionary_path": str(dictionary)}
    return HuiminJiebaTokenizer.create(config, LocalModelStorage(tmp_path / "storage"), Resource("tok"),
                                       ExecutionContext(None))


def _tokens(tokenizer, text):
    from rasa.shared.nlu.training_data.message import Message

    return [t.text for t in tokenizer.tokenize(Message(data={"text": text}), "text")]


def test_tokenizer_drops_whitespace_tokens(tokenizer):
    tokens = _tokens(tokenizer, "我想问 iPhone 12 和  高龄津贴")
    assert tokens and all(not t.isspace() for t in tokens)
    assert "iPhone" in tokens and "12" in tokens


def test_tokenizer_keeps_dictionary_words_whole(tokenizer):
    assert "高龄津贴" in _tokens(tokenizer, "我妈能领高龄津贴吗")
    assert "低保边缘家庭" in _tokens(tokenizer, "什么是低保边缘家庭")
    assert "适老化改造" in _tokens(tokenizer, "家里想做适老化改造")


def test_tokenizer_rejects_a_dictionary_file_instead_of_a_directory(tmp_path):
    from bot.nlu.tokenizer import HuiminJiebaTokenizer

    file = tmp_path / "dict.txt"
    file.write_text("高龄津贴\n", encoding="utf-8")
    with pytest.raises(ValueError, match="directory"):
        HuiminJiebaTokenizer._load_custom_dictionary(str(file))


def test_dictionary_change_changes_the_training_fingerprint(tmp_path):
    from bot.nlu.tokenizer import HuiminJiebaTokenizer

    (tmp_path / "kb.txt").write_text("低保 10 nz\n", encoding="utf-8")
    before = HuiminJiebaTokenizer.fingerprint_addon({"dictionary_path": str(tmp_path)})
    (tmp_path / "kb.txt").write_text("低保 10 nz\n地保 10 nz\n", encoding="utf-8")
    assert HuiminJiebaTokenizer.fingerprint_addon({"dictionary_path": str(tmp_path)}) != before


# ------------------------------------------------------------------------------------ entity matcher
PHRASES = [
    ["最低生活保障", "program", "dibao"], ["低保", "program", "dibao"], ["地保", "program", "dibao"],
    ["吃低保", "program", "dibao"],
    ["低保边缘家庭", "program", "dibao_edge"], ["低保边缘", "program", "dibao_edge"],
    ["高龄津贴", "program", "elderly_allowance"], ["高令津贴", "program", "elderly_allowance"],
    ["高齡津貼", "program", "elderly_allowance"],
    ["助餐", "service", "meal"], ["老年助餐", "service", "meal"], ["老年助餐", "service_item", "meal_aid"],
    ["广州", "locality", "guangzhou"], ["月牙湖", "site", "yueyahu"],
]


@pytest.fixture()
def extractor(tmp_path):
    from rasa.engine.graph import ExecutionContext
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlu.kb_entities import KnowledgeBaseEntityExtractor

    phrases = tmp_path / "phrases.json"
    phrases.write_text(json.dumps(PHRASES, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "storage").mkdir()
    storage = LocalModelStorage(tmp_path / "storage")
    resource = Resource("kb_entities")
    config = {"phrases_path": str(phrases)}
    trained = KnowledgeBaseEntityExtractor.create(config, storage, resource, ExecutionContext(None))
    trained.train(TrainingData())
    phrases.unlink()  # the served model must not need build/
    return KnowledgeBaseEntityExtractor.load(config, storage, resource, ExecutionContext(None))


def _entities(extractor, text):
    from rasa.shared.nlu.training_data.message import Message

    message = Message(data={"text": normalize(text)})
    extractor.process([message])
    return [(e["entity"], e["value"], message.get("text")[e["start"]:e["end"]], e["extractor"])
            for e in message.get("entities")]


def test_typo_aliases_map_to_the_programme_id(extractor):
    assert _entities(extractor, "怎么申请地保") == [("program", "dibao", "地保", "KnowledgeBaseEntityExtractor")]
    assert [e[:2] for e in _entities(extractor, "高令津贴多少钱")] == [("program", "elderly_allowance")]


def test_longest_match_wins(extractor):
    assert [e[:3] for e in _entities(extractor, "什么是低保边缘家庭")] == [("program", "dibao_edge", "低保边缘家庭")]
    assert [e[:3] for e in _entities(extractor, "我家想吃低保")] == [("program", "dibao", "吃低保")]


def test_traditional_and_full_width_input_is_matched(extractor):
    assert [e[:3] for e in _entities(extractor, "我媽能領高齡津貼嗎")] == [("program", "elderly_allowance", "高龄津贴")]
    # A traditional alias in the knowledge base is normalised too, so both forms meet in the middle.
    assert [e[:2] for e in _entities(extractor, "廣州　低保")] == [("locality", "guangzhou"), ("program", "dibao")]


def test_one_span_can_name_several_things(extractor):
    found = _entities(extractor, "预约月牙湖的老年助餐")
    assert [e[:3] for e in found] == [("site", "yueyahu", "月牙湖"), ("service", "meal", "老年助餐"),
                                      ("service_item", "meal_aid", "老年助餐")]


def test_no_entities_in_unrelated_text(extractor):
    assert _entities(extractor, "今天天气怎么样") == []


def test_malformed_phrases_file_is_reported(tmp_path):
    from rasa.shared.exceptions import RasaException

    from bot.nlu.kb_entities import load_phrases

    bad = tmp_path / "phrases.json"
    bad.write_text(json.dumps([["低保", "program"]]), encoding="utf-8")
    with pytest.raises(RasaException, match="row 0"):
        load_phrases(str(bad))
    with pytest.raises(RasaException, match="kb export"):
        load_phrases(str(tmp_path / "missing.json"))


def test_a_name_typed_as_it_sounds_is_written_out_for_the_classifier_and_given_back(tmp_path, extractor):
    # 高灵津贴 / di bao reach the featurisers as the names the training data uses (an alias kept only for matching,
    # 高令津贴, is written as the training data spells it), while the parse result keeps the resident's text and
    # the entity span points into it.
    from rasa.engine.graph import ExecutionContext
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlu.normalizer import ChineseTextNormalizer
    from bot.nlu.original_text import OriginalTextRestorer
    from bot.nlu.sound_names import SoundAlikeNameWriter

    phrases = tmp_path / "writer_phrases.json"
    phrases.write_text(json.dumps(PHRASES, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "writer").mkdir()
    storage, resource = LocalModelStorage(tmp_path / "writer"), Resource("sound_names")
    config = {"phrases_path": str(phrases)}
    training = TrainingData([Message(data={"text": t, "intent": "ask_apply"})
                             for t in ("高龄津贴怎么领", "高龄津贴去哪办", "低保去哪里申请")])
    SoundAlikeNameWriter.create(config, storage, resource, ExecutionContext(None)).train(training)
    phrases.unlink()
    writer = SoundAlikeNameWriter.load(config, storage, resource, ExecutionContext(None))

    cases = [("我妈的高灵津贴，去哪里办？", "我妈的高龄津贴去哪里办", "高灵津贴", "elderly_allowance"),
             ("di bao 怎么办", "低保怎么办", "di bao", "dibao")]
    for raw, written, typed, value in cases:
        message = Message(data={"text": raw})
        ChineseTextNormalizer().process([message])
        writer.process([message])
        assert message.get("text") == written
        extractor.process([message])
        OriginalTextRestorer().process([message])
        entity = next(e for e in message.get("entities") if e["entity"] == "program")
        assert message.get("text") == raw
        assert raw[entity["start"]:entity["end"]] == typed and entity["value"] == value

    untouched = Message(data={"text": "低保怎么申请"})
    writer.process([untouched])
    assert untouched.get("text") == "低保怎么申请"
