"""Jieba tokenizer without whitespace tokens, with the knowledge-base dictionary in the training fingerprint.

* Rasa's ``JiebaTokenizer`` emits " " tokens for mixed text such as "我想问 iPhone 12", which later breaks
  featurizers (rasa#7910); ``token_pattern`` cannot remove them, so they are skipped here (field notes P5).
* ``dictionary_path`` is a *directory* (every file in it is loaded, P1). It is generated from the knowledge
  base's names and aliases by ``python -m bot kb export`` into ``build/jieba``. Rasa caches trained graph
  nodes by their config, which holds only the path (P3); ``fingerprint_addon`` adds a hash of the files so a
  changed dictionary retrains. The files are copied into the model (P2), so a served model needs no build/.
"""
from __future__ import annotations

import glob
import hashlib
import os
from typing import Any, Dict, List, Optional, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message


def dictionary_digest(path: Optional[Text]) -> Optional[str]:
    """A hash of every dictionary file under ``path`` (None when there is no dictionary)."""
    if not path or not os.path.isdir(path):
        return None
    digest = hashlib.sha256()
    for file in sorted(glob.glob(os.path.join(path, "*"))):
        if os.path.isfile(file):
            digest.update(os.path.basename(file).encode())
            with open(file, "rb") as fh:
                digest.update(fh.read())
    return digest.hexdigest()


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class HuiminJiebaTokenizer(JiebaTokenizer):
    """``JiebaTokenizer`` that drops whitespace-only tokens."""

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        return dictionary_digest(config.get("dictionary_path"))

    @staticmethod
    def _load_custom_dictionary(path: Text) -> None:
        if path and not os.path.isdir(path):
            # Jieba would silently load nothing from a file path (P1): fail loudly instead.
            raise ValueError(f"jieba dictionary_path must be a directory, got {path!r}")
        JiebaTokenizer._load_custom_dictionary(path)

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        import jieba

        text = message.get(attribute)
        tokens = [Token(word, start) for (word, start, _end) in jieba.tokenize(text) if not word.isspace()]
        return self._apply_token_pattern(tokens)
