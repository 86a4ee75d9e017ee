"""The Rasa graph component that normalises each message before tokenisation.

The normalisation itself lives in ``bot.nlu.textnorm`` (importable without Rasa, e.g. by the action server);
``normalize`` is re-exported here for convenience.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, ENTITY_ATTRIBUTE_END, ENTITY_ATTRIBUTE_START
from rasa.shared.nlu.constants import ENTITY_ATTRIBUTE_VALUE, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.original_text import ORIGINAL_TEXT
from bot.nlu.textnorm import map_span, normalize, normalize_with_offsets

__all__ = ["ChineseTextNormalizer", "normalize", "normalize_with_offsets"]


# Typed as a tokenizer-stage component: in Rasa's default recipe only tokenizer/featurizer components run over
# the training data before later components train, and this one must run first of all.
@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class ChineseTextNormalizer(GraphComponent):
    """Rewrites each message's text into its normalised form (see ``bot.nlu.textnorm``)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "ChineseTextNormalizer":
        return cls()

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "ChineseTextNormalizer":
        return cls()

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        return ["zh"]

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        # Rasa fingerprints `required_packages` by distribution name, but opencc's distribution is
        # "opencc-python-reimplemented" while it is imported as "opencc"; the version is added here instead.
        from importlib.metadata import version

        return f"opencc-python-reimplemented=={version('opencc-python-reimplemented')}"

    @staticmethod
    def _normalize_message(message: Message, keep_original: bool = False) -> None:
        text = message.get(TEXT)
        # "/intent{...}" payloads from buttons are handled by RegexMessageHandler and must stay byte-exact.
        if not isinstance(text, str) or not text or text.startswith("/"):
            return
        normalized, offsets = normalize_with_offsets(text)
        # Nothing left (a lone emoji or sticker): keep the original so the message is still classified
        # (as a miss, usually) instead of reaching the featurizers empty.
        if normalized == text or not normalized:
            return
        if keep_original:
            # For bot.nlu.original_text.OriginalTextRestorer, which ends the prediction pipeline.
            message.set(ORIGINAL_TEXT, (text, offsets))
        entities = message.get(ENTITIES)
        if entities:
            moved = []
            for entity in entities:
                span = map_span(offsets, entity[ENTITY_ATTRIBUTE_START], entity[ENTITY_ATTRIBUTE_END])
                if span is None:
                    continue
                new = dict(entity)
                new[ENTITY_ATTRIBUTE_START], new[ENTITY_ATTRIBUTE_END] = span
                # An annotation whose value was its own surface text keeps following the text; a synonym
                # value (e.g. a programme id) stays as it was.
                original = text[entity[ENTITY_ATTRIBUTE_START]:entity[ENTITY_ATTRIBUTE_END]]
                if entity.get(ENTITY_ATTRIBUTE_VALUE) == original:
                    new[ENTITY_ATTRIBUTE_VALUE] = normalized[span[0]:span[1]]
                moved.append(new)
            message.set(ENTITIES, moved)
        message.set(TEXT, normalized)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._normalize_message(message)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._normalize_message(message, keep_original=True)
        return messages
