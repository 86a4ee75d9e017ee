"""The scope check (bot/nlu/scope_check.py), trained for real on this repository's training data and knowledge base
with the settings of config.yml, then saved and loaded as a served model would load it."""
import time

import pytest
import yaml

from bot.settings import ROOT


def _settings():
    pipeline = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))["pipeline"]
    (entry,) = [c for c in pipeline if c["name"] == "bot.nlu.scope_check.ScopeCheck"]
    names = [c["name"] for c in pipeline]
    return {k: v for k, v in entry.items() if k != "name"}, names


@pytest.fixture(scope="module")
def scope(tmp_path_factory):
    from rasa.engine.graph import ExecutionContext
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.knowledge.export import export_training_data
    from bot.knowledge.loader import load_knowledge
    from bot.nlu.scope_check import ScopeCheck

    build = tmp_path_factory.mktemp("build")
    export_training_data(load_knowledge(ROOT / "knowledge"), build)
    config, _ = _settings()
    config = {**config, "knowledge_dir": str(ROOT / "knowledge"),
              "phrases_path": str(build / "entities" / "phrases.json")}
    training = load_data(str(ROOT / "data" / "nlu")).merge(load_data(str(build / "data")))
    storage = LocalModelStorage(tmp_path_factory.mktemp("storage"))
    resource = Resource("scope_check")
    ScopeCheck.create(config, storage, resource, ExecutionContext(None)).train(training)
    # The served model must not need build/ or knowledge/: load from the model storage only.
    return ScopeCheck.load({**config, "knowledge_dir": None, "phrases_path": None}, storage, resource,
                           ExecutionContext(None))


def _parse(scope, text, intent, entities=()):
    from rasa.shared.nlu.training_data.message import Message

    message = Message(data={"text": text, "intent": {"name": intent, "confidence": 0.6},
                            "intent_ranking": [{"name": intent, "confidence": 0.6},
                                               {"name": "ask_overview", "confidence": 0.4}],
                            "entities": list(entities)})
    scope.process([message])
    return message


def test_it_sits_between_the_entity_extractors_and_the_fallback():
    _, names = _settings()
    at = names.index("bot.nlu.scope_check.ScopeCheck")
    assert names.index("bot.nlu.kb_entities.KnowledgeBaseEntityExtractor") < at
    assert names.index("RegexEntityExtractor") < at < names.index("FallbackClassifier")


@pytest.mark.parametrize("text, intent", [
    ("红烧排骨怎么做才好吃", "ask_apply"),
    ("周杰伦演唱会门票多少钱", "ask_amount"),
    ("湖人队今晚的比赛几点开打", "ask_capabilities"),
])
def test_a_message_unlike_anything_in_scope_becomes_out_of_scope(scope, text, intent):
    message = _parse(scope, text, intent)
    assert message.get("intent")["name"] == "out_of_scope", message.get("scope_check")
    ranking = message.get("intent_ranking")
    # FallbackClassifier (threshold 0.4, ambiguity 0.05) must keep the verdict, not turn it into 没听明白.
    assert ranking[0]["name"] == "out_of_scope" and ranking[0]["confidence"] >= 0.5
    assert ranking[0]["confidence"] - ranking[1]["confidence"] > 0.05
    assert message.get("scope_check")["was"] == intent and message.get("scope_check")["changed"]


@pytest.mark.parametrize("text, intent", [
    ("老伴走了我一个人住眼睛也不好", "describe_situation"),    # a situation with no programme named
    ("孙子他爸妈都不管他 一直跟着我过", "describe_situation"),
    ("家里让水淹了 啥都没了", "describe_situation"),
    ("我妈八十三了那个钱咋弄", "ask_apply"),
    ("你们这能办些什么事", "ask_capabilities"),
])
def test_residents_in_their_own_words_keep_their_intent(scope, text, intent):
    assert _parse(scope, text, intent).get("intent")["name"] == intent


@pytest.mark.parametrize("text, intent, entities", [
    ("红烧排骨怎么做才好吃", "ask_apply", [{"entity": "program", "value": "dibao", "start": 0, "end": 2}]),
    ("欧阳淑芬", "inform", []),           # a name given to the booking form: a slot-filling reply
    ("夜访吸血鬼", "inform", []),
    ("嘻嘻嘻", "greet", []),              # short replies are never judged
    ("不行么", "deny", []),
    ("/affirm", "affirm", []),
])
def test_entities_kept_intents_short_replies_and_buttons_are_never_relabelled(scope, text, intent, entities):
    message = _parse(scope, text, intent, entities)
    assert message.get("intent")["name"] == intent
    assert message.get("scope_check") is None


def test_no_in_scope_heldout_line_is_relabelled_when_the_classifier_got_it_right(scope):
    from bot.nlu.evaluate import heldout_examples

    relabelled = [text for text, gold, _src in heldout_examples()
                  if gold != "out_of_scope" and _parse(scope, text, gold).get("intent")["name"] == "out_of_scope"]
    assert not relabelled


def test_it_costs_well_under_a_millisecond_a_message(scope):
    texts = ["红烧排骨怎么做才好吃", "老伴走了我一个人住眼睛也不好", "低保一个月多少钱啊 我们家三口人"] * 200
    started = time.perf_counter()
    for text in texts:
        _parse(scope, text, "ask_amount")
    assert (time.perf_counter() - started) / len(texts) < 0.002  # measured ~0.1 ms; generous for a busy machine
