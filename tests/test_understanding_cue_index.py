"""The cue index of bot/understanding/lexicon.py finds exactly what searching every cue finds: on the tuning sets'
messages (dev*; never the reported sets), on every cue of the editors' lists written alone and inside other words,
for every list the second reading uses, and for whole readings."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from bot.knowledge.loader import load_knowledge
from bot.nlu.textnorm import normalize
from bot.understanding import lexicon as lx
from bot.understanding.context import reading_for

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"
SETS = ROOT / "tests" / "nlu" / "residents"


def _tuning_texts():
    texts = []
    for path in sorted(SETS.glob("dev*.yml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            texts += [t["text"] for t in item.get("turns", [])] if "turns" in item else [item["text"]]
    return texts


def _cue_lists(lex):
    lists = [lex.asking_words, lex.human, lex.human_reported, lex.asks_if_bot, lex.distress, lex.danger,
             lex.danger_if_now, lex.aftermath, lex.follow_up, lex.booking, lex.together, lex.together_with_last,
             lex.together + lex.together_with_last]
    lists += list(lex.aspect_cues.values()) + list(lex.aspect_mentions.values()) + list(lex.concepts.values())
    lists += [r.cues for r in lex.referrals]
    return lists


@pytest.fixture(scope="module")
def lexicon():
    return lx.load_lexicon(KNOWLEDGE)


@pytest.fixture(scope="module")
def texts(lexicon):
    out = [normalize(t).lower() for t in _tuning_texts()]
    cues = sorted({c for cues in _cue_lists(lexicon) for c in cues})
    out += [c.replace(lx.GAP, "") for c in cues] + [c.replace(lx.GAP, "的事情") for c in cues]
    out += ["我家" + c.replace(lx.GAP, "不") + "怎么办" for c in cues[::7]]
    out += ["", "a", "啊", "di bao 多少钱"]
    assert len(out) > 500
    return out


def test_every_list_finds_what_searching_every_cue_finds(lexicon, texts):
    lists = _cue_lists(lexicon)
    assert any(lx._cue_index(cues) is not None for cues in lists)
    for text in texts:
        for cues in lists:
            assert lx.cue_spans(text, cues) == lx.cue_spans(text, list(cues)), (text, cues[:3])


def test_concepts_are_found_as_before(lexicon, texts):
    def by_search(text):
        plain = dataclasses.replace(lexicon, concepts={k: list(v) for k, v in lexicon.concepts.items()})
        return lx.concepts_in(text, plain)

    for text in texts:
        assert lx.concepts_in(text, lexicon) == by_search(text), text


def test_readings_are_the_same_as_by_searching_every_cue(monkeypatch):
    kb = load_knowledge(KNOWLEDGE)
    texts = _tuning_texts()
    indexed = [reading_for(kb, t) for t in texts]
    monkeypatch.setattr(lx, "INDEX_MIN_CUES", 10 ** 9)
    lx._INDEXES.clear()
    searched = [reading_for(kb, t) for t in texts]
    assert indexed == searched


def test_a_list_that_is_not_a_tuple_or_has_an_empty_cue_is_searched():
    assert lx._cue_index(["低保", "特困", "孤儿", "残疾"]) is None
    assert lx._cue_index(("低保", "", "孤儿", "残疾")) is None
    assert lx.cue_spans("问一下", ("低保", "", "孤儿", "残疾")) == [(0, 0, "")]


def test_the_lexicon_is_read_again_when_a_file_changes_or_appears(tmp_path):
    import shutil
    import time

    kdir = tmp_path / "kb"
    shutil.copytree(KNOWLEDGE, kdir)
    first = lx.load_lexicon(kdir)
    assert lx.load_lexicon(kdir) is first
    time.sleep(0.01)
    extra = kdir / "programs" / "zz_new.yml"
    extra.write_text((kdir / "programs" / sorted(p.name for p in (kdir / "programs").glob("*.yml"))[0])
                     .read_text(encoding="utf-8"), encoding="utf-8")
    second = lx.load_lexicon(kdir)
    assert second is not first
    extra.unlink()
    assert lx.load_lexicon(kdir) is not second


def test_places_are_found_as_when_every_text_is_tagged(lexicon, texts):
    """A text with no character a place name ends with (省, 市, 区 …) is not tagged by jieba: it could yield none."""
    from bot.understanding.reading import _places

    extra = ["我在成都市武侯区", "户口在河北省沧州市献县", "我们是阿坝藏族羌族自治州的", "那锡林郭勒盟呢", "我住朝阳区"]
    for text in texts[:400] + extra:
        assert _places(text, lexicon.places) == _places(text, lexicon.places, always_tag=True), text


def test_the_booking_catalogue_is_read_again_when_a_file_changes(tmp_path):
    import shutil
    import time

    from bot.booking.catalogue import get_catalogue

    kdir = tmp_path / "kb"
    shutil.copytree(KNOWLEDGE, kdir)
    first = get_catalogue(kdir)
    assert get_catalogue(kdir) is first
    time.sleep(0.01)
    service = sorted((kdir / "services").glob("*.yml"))[0]
    service.write_text(service.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert get_catalogue(kdir) is not first
