"""Entities from the knowledge base: programme, service-list item, locality, bookable service and site.

``python -m bot kb export`` writes ``build/entities/phrases.json``: ``[[phrase, entity, value], ...]`` — every
name, short name and alias (typos such as 地保, colloquial forms such as 吃低保) with the id it stands for. At
training time the phrases are normalised exactly like messages (``bot.nlu.textnorm``) and **persisted in the
model**, so a served model never reads build/.

Why a character-level spaCy PhraseMatcher: ``spacy.blank("zh")`` works offline and, with its default ``char``
segmenter, every Chinese character is a token, so a phrase matches wherever its characters occur in the
message — regardless of how jieba happens to segment that sentence (jieba may split an alias or glue it to a
neighbour, which is exactly why token-level lookup tables miss them). The jieba segmenter would bring back
that problem, and Rasa's Chinese spaCy models cannot be downloaded here. Among overlapping matches the longest
wins (低保边缘家庭 beats 低保); when one span is a name of several things (a programme that is also a bookable
service) every (entity, value) of that span is reported. Values are already the ids, so no synonym mapping is
needed downstream.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Text, Tuple

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.exceptions import RasaException
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.textnorm import normalize
from bot.nlu.sounds import MAX_CHARS as SOUND_MAX_CHARS
from bot.nlu.sounds import SOUND_ENTITIES, SoundIndex, drop_names_inside

logger = logging.getLogger(__name__)

Phrase = Tuple[str, str, str]  # (normalised phrase, entity type, value)
Match = Tuple[int, int, str, str]  # (start char, end char, entity type, value)
# Message property set by bot.nlu.sound_names once the names heard by sound are written as the knowledge base
# writes them: the matcher then looks for written names only.
NAMES_WRITTEN = "huimin_names_written"


def load_phrases(path: Text) -> List[Phrase]:
    """Reads and normalises ``[[phrase, entity, value], ...]``; rejects malformed rows with a clear message."""
    try:
        with open(path, encoding="utf-8") as fh:
            rows = json.load(fh)
    except FileNotFoundError:
        raise RasaException(f"{path} not found: run `python -m bot kb export` before training") from None
    except json.JSONDecodeError as exc:
        raise RasaException(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(rows, list):
        raise RasaException(f"{path}: expected a list of [phrase, entity, value]")
    return prepare_phrases(rows, source=str(path))


def prepare_phrases(rows: Iterable[Sequence[Any]], source: str = "phrases") -> List[Phrase]:
    seen = set()
    out: List[Phrase] = []
    for i, row in enumerate(rows):
        if not (isinstance(row, (list, tuple)) and len(row) == 3 and all(isinstance(x, str) and x for x in row)):
            raise RasaException(f"{source}: row {i} must be [phrase, entity, value] strings, got {row!r}")
        phrase = normalize(row[0])
        key = (phrase, row[1], row[2])
        if phrase and key not in seen:
            seen.add(key)
            out.append(key)
    return out


def names_in(index: "PhraseIndex", sounds: SoundIndex, text: str
             ) -> Tuple[List[Match], List[Tuple[int, int, str, str, int, str]]]:
    """(names found as written, names heard by sound where no written name is). Sound-alike names (高灵津贴, 低宝,
    di bao) only fill what no exact name covers, unless a longer one heard with one character typed wrong holds
    the exact one."""
    exact = index.find(text)
    heard = [m for m in sounds.find_written(text[:SOUND_MAX_CHARS]) if m[2] in SOUND_ENTITIES]
    exact = drop_names_inside(text, exact, heard)
    return exact, [m for m in heard if all(m[1] <= s or m[0] >= e for s, e, _, _ in exact)]


class PhraseIndex:
    """Character-level phrase matching with longest-match selection (see the module docstring)."""

    def __init__(self, phrases: Sequence[Phrase]) -> None:
        import spacy
        from spacy.matcher import PhraseMatcher

        self.phrases = list(phrases)
        self._nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "char"}}})
        self._matcher = PhraseMatcher(self._nlp.vocab, attr="LOWER")
        by_label: Dict[str, List[Any]] = {}
        for phrase, entity, value in self.phrases:
            by_label.setdefault(json.dumps([entity, value], ensure_ascii=False), []).append(
                self._nlp.make_doc(phrase))
        for label, docs in by_label.items():
            self._matcher.add(label, docs)

    def find(self, text: str) -> List[Match]:
        if not text or not self.phrases:
            return []
        doc = self._nlp.make_doc(text)
        found = set()
        for match_id, start, end in self._matcher(doc):
            span = doc[start:end]
            entity, value = json.loads(self._nlp.vocab.strings[match_id])
            found.add((span.start_char, span.end_char, entity, value))
        return select_longest(found)


def select_longest(matches: Iterable[Match]) -> List[Match]:
    """Keeps the longest non-overlapping spans (earlier first on ties) and every label of a kept span."""
    by_span: Dict[Tuple[int, int], List[Tuple[str, str]]] = {}
    for start, end, entity, value in matches:
        by_span.setdefault((start, end), []).append((entity, value))
    kept: List[Tuple[int, int]] = []
    for start, end in sorted(by_span, key=lambda s: (-(s[1] - s[0]), s[0])):
        if all(end <= k_start or start >= k_end for k_start, k_end in kept):
            kept.append((start, end))
    return [(start, end, entity, value)
            for start, end in sorted(kept)
            for entity, value in sorted(set(by_span[(start, end)]))]


class KnowledgePhrasesComponent:
    """What the graph components built on the knowledge base's names share: the exported phrases file they train
    from (``python -m bot kb export``), whose content is part of the training fingerprint, and their storage."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"phrases_path": "build/entities/phrases.json"}

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        # The phrases are an input Rasa's graph cache does not see (only the path is in the config).
        path = {**cls.get_default_config(), **config}.get("phrases_path")
        if path and os.path.isfile(path):
            with open(path, "rb") as fh:
                return hashlib.sha256(fh.read()).hexdigest()
        return None

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> Any:
        return cls(config, model_storage, resource)

    def _keep(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource

    def _save(self, filename: str, data: Any) -> Resource:
        """Keeps ``data`` in the model (the served model must not need build/)."""
        with self._model_storage.write_to(self._resource) as directory:
            with open(directory / filename, "w", encoding="utf-8") as fh:
                json.dump(data, fh, ensure_ascii=False)
        return self._resource

    @staticmethod
    def _saved(model_storage: ModelStorage, resource: Resource, filename: str) -> Any:
        """What ``_save`` kept, or None (logged) when the model holds nothing readable."""
        try:
            with model_storage.read_from(resource) as directory:
                with open(directory / filename, encoding="utf-8") as fh:
                    return json.load(fh)
        except (ValueError, FileNotFoundError):
            logger.warning("%s: nothing saved in the model under %s", resource.name, filename)
            return None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class KnowledgeBaseEntityExtractor(KnowledgePhrasesComponent, GraphComponent, EntityExtractorMixin):
    """Adds knowledge-base entities (``program``, ``service_item``, ``locality``, ``service``, ``site``)."""

    PHRASES_FILE = "phrases.json"

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 phrases: Optional[List[Phrase]] = None) -> None:
        self._keep(config, model_storage, resource)
        self._index = PhraseIndex(phrases or [])
        self._sounds = SoundIndex(phrases or [])

    def train(self, training_data: TrainingData) -> Resource:
        phrases = load_phrases(self._config["phrases_path"])
        self._index = PhraseIndex(phrases)
        self._sounds = SoundIndex(phrases)
        logger.info("knowledge-base entity matcher: %d phrases", len(phrases))
        return self._save(self.PHRASES_FILE, phrases)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "KnowledgeBaseEntityExtractor":
        saved = cls._saved(model_storage, resource, cls.PHRASES_FILE) or []
        return cls(config, model_storage, resource, [tuple(p) for p in saved])

    def extract(self, text: str, by_sound: bool = True) -> List[Dict[Text, Any]]:
        """Entities of the text; ``by_sound`` False when the names heard by sound were already written out
        (``bot.nlu.sound_names``)."""
        if by_sound:
            exact, sounded = names_in(self._index, self._sounds, text)
        else:
            exact, sounded = self._index.find(text), []
        return [
            {ENTITY_ATTRIBUTE_TYPE: entity, ENTITY_ATTRIBUTE_START: start, ENTITY_ATTRIBUTE_END: end,
             ENTITY_ATTRIBUTE_VALUE: value}
            for start, end, entity, value in sorted(exact + [m[:4] for m in sounded])
        ]

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str) or not text or text.startswith("/"):
                continue
            entities = self.add_extractor_name(self.extract(text, by_sound=not message.get(NAMES_WRITTEN)))
            message.set(ENTITIES, message.get(ENTITIES, []) + entities, add_to_output=True)
        return messages
