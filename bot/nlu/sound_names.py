"""Names heard by sound, written as the knowledge base writes them before the message is tokenised.

Residents type a programme's name as it sounds: 高灵津贴, 低宝, di bao, 残急人补贴. The entity matcher already
recognises these (``bot.nlu.sounds``), but the intent classifier featurises the characters it is given and has
never seen 高灵 or "di bao": to it "高灵津贴去哪里办" is out of scope. This component, right after the normaliser,
rewrites each such span to the name it stands for — the spelling of that name the training data uses most — so
the classifier reads the question the resident meant. The resident's own text is put back at the end of the
pipeline (``bot.nlu.original_text``): the character map the normaliser left is extended over each rewrite.

Training data is left as written: it is the vocabulary the rewrite aims at.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Text, Tuple

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.kb_entities import NAMES_WRITTEN, KnowledgePhrasesComponent, PhraseIndex, load_phrases, names_in
from bot.nlu.original_text import ORIGINAL_TEXT
from bot.nlu.sounds import SoundIndex, phrase_sounds
from bot.nlu.textnorm import normalize


Phrase = Tuple[str, str, str]


def spellings(phrases: Sequence[Phrase], texts: Sequence[str]) -> Dict[str, str]:
    """For each phrase, the spelling of the same name (same entity, value and sounds) that the texts use most:
    an alias kept for matching (高令津贴) is written as residents were taught to read it (高龄津贴)."""
    counts: Counter = Counter()
    for text in texts:
        for phrase, _, _ in phrases:
            if phrase in text:
                counts[phrase] += 1
    groups: Dict[Tuple[Any, str, str], List[str]] = {}
    for phrase, entity, value in phrases:
        groups.setdefault((phrase_sounds(phrase), entity, value), []).append(phrase)
    out: Dict[str, str] = {}
    for (sounds, _, _), names in groups.items():
        best = max(names, key=lambda n: (counts[n], -len(n), n)) if sounds is not None else None
        for name in names:
            out[name] = best if best is not None and counts[best] > counts[name] else name
    return out


def rewrite(text: str, heard: Sequence[Tuple[int, int, str, str, int, str]], spelled: Dict[str, str]
            ) -> Tuple[str, List[int]]:
    """(text with each heard span replaced by its written name, for each new character the index of the text
    character it came from)."""
    out: List[str] = []
    source: List[int] = []
    pos = 0
    for start, end, _entity, _value, _misses, phrase in sorted(heard, key=lambda m: m[0]):
        if start < pos:
            continue  # one name per span (a name that is both a programme and a service)
        name = spelled.get(phrase, phrase)
        out.append(text[pos:start])
        source.extend(range(pos, start))
        out.append(name)
        # The name's last character comes from the span's last: the whole typed span maps back ("di bao").
        source.extend(end - 1 if i == len(name) - 1 else min(start + i, end - 1) for i in range(len(name)))
        pos = end
    out.append(text[pos:])
    source.extend(range(pos, len(text)))
    return "".join(out), source


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class SoundAlikeNameWriter(KnowledgePhrasesComponent, GraphComponent):
    """Rewrites names heard by sound to their written form (see the module docstring)."""

    SPELLINGS_FILE = "spellings.json"

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        return ["zh"]

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 phrases: Sequence[Phrase] = (), spelled: Optional[Dict[str, str]] = None) -> None:
        self._keep(config, model_storage, resource)
        self._use(phrases, spelled or {})

    def _use(self, phrases: Sequence[Phrase], spelled: Dict[str, str]) -> None:
        self._phrases = [tuple(p) for p in phrases]
        self._index = PhraseIndex(self._phrases)
        self._sounds = SoundIndex(self._phrases)
        self._spelled = spelled

    def train(self, training_data: TrainingData) -> Resource:
        phrases = load_phrases(self._config["phrases_path"])
        texts = [normalize(m.get(TEXT) or "").lower() for m in training_data.training_examples]
        self._use(phrases, spellings(phrases, texts))
        return self._save(self.SPELLINGS_FILE, {"phrases": phrases, "spelled": self._spelled})

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "SoundAlikeNameWriter":
        saved = cls._saved(model_storage, resource, cls.SPELLINGS_FILE) or {}
        return cls(config, model_storage, resource, saved.get("phrases") or [], saved.get("spelled") or {})

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str) or not text or text.startswith("/") or not self._phrases:
                continue
            message.set(NAMES_WRITTEN, True)
            _exact, heard = names_in(self._index, self._sounds, text)
            heard = [m for m in heard if text[m[0]:m[1]] != self._spelled.get(m[5], m[5])]
            if not heard:
                continue
            written, source = rewrite(text, heard, self._spelled)
            original, offsets = message.get(ORIGINAL_TEXT) or (text, list(range(len(text))))
            message.set(ORIGINAL_TEXT, (original, [offsets[i] for i in source]))
            message.set(TEXT, written)
        return messages
