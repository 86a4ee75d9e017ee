"""Puts the resident's own text back on a parsed message, with entity spans moved onto it.

``ChineseTextNormalizer`` rewrites the text so every component sees one canonical form, but the parse result
must describe what the resident actually sent: Rasa stores ``parse_data["text"]`` next to the original message,
and entity ``start``/``end`` are read against that text (conversation tests, the console transcript, any
client highlighting an entity). The normaliser leaves the original and its character map on the message
(prediction only); this component, last in the pipeline, maps each entity span back and restores the text.
Entity *values* stay normalised ("１３８…" → "138…"): actions want the canonical value.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, ENTITY_ATTRIBUTE_END, ENTITY_ATTRIBUTE_START, TEXT
from rasa.shared.nlu.training_data.message import Message

# Message property (not part of the parse output) written by the normaliser: (original text, offsets).
ORIGINAL_TEXT = "huimin_original_text"


def span_in_original(offsets: List[int], start: int, end: int) -> Optional[tuple]:
    """The span of the original text that normalised characters [start, end) came from."""
    if not 0 <= start < end <= len(offsets):
        return None
    return offsets[start], offsets[end - 1] + 1


# An extractor by type so the default recipe places it in the prediction graph only: during training the
# normalised text must stay, since later components train on it.
@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class OriginalTextRestorer(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "OriginalTextRestorer":
        return cls()

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        return ["zh"]

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            saved = message.get(ORIGINAL_TEXT)
            if not saved:
                continue
            original, offsets = saved
            moved = []
            for entity in message.get(ENTITIES) or []:
                span = span_in_original(offsets, entity[ENTITY_ATTRIBUTE_START], entity[ENTITY_ATTRIBUTE_END])
                if span is None:
                    continue
                entity = dict(entity)
                entity[ENTITY_ATTRIBUTE_START], entity[ENTITY_ATTRIBUTE_END] = span
                moved.append(entity)
            if message.get(ENTITIES) is not None:
                message.set(ENTITIES, moved, add_to_output=True)
            message.set(TEXT, original)
        return messages
