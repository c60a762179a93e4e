"""`MessageLengthLimit`: cut an overlong user message before the NLU pipeline reads it.

First in the pipeline of bot/config.yml:

    - name: bot.components.message_limit.MessageLengthLimit
      max_chars: 2000

Rasa's RegexEntityExtractor is super-linear in the length of one long token (measured with the
production model: 10,000 characters 0.49 s, 100,000 characters 48 s for one parse), so a pasted
log or a flood of characters would hold the server for a minute. The web gateway refuses longer
messages (WEB_MESSAGE_MAX_LENGTH, 2,000 by default); this component protects the Rasa server's own
REST channel the same way: NLU sees the first ``max_chars`` characters (the tracker keeps the
full text). Training data is left alone.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class MessageLengthLimit(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"max_chars": 2000}

    def __init__(self, config: dict[str, Any]) -> None:
        max_chars = config.get("max_chars")
        if not isinstance(max_chars, int) or isinstance(max_chars, bool) or max_chars < 1:
            raise InvalidConfigException(
                f"MessageLengthLimit: max_chars must be a positive integer, got {max_chars!r}"
            )
        self.max_chars = max_chars

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MessageLengthLimit:
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if isinstance(text, str) and len(text) > self.max_chars:
                logger.info("message of %d characters cut to %d for NLU", len(text), self.max_chars)
                message.set(TEXT, text[: self.max_chars])
        return messages
