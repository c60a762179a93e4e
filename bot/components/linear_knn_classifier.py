"""`LinearKnnIntentClassifier`: a calibrated linear SVM + nearest-example intent classifier.

Used in bot/config.yml after the featurizers, before `FallbackClassifier`:

    - name: bot.components.linear_knn_classifier.LinearKnnIntentClassifier

It reads the *sentence* features of each featurizer separately (TF-IDF over the counts of each
CountVectorsFeaturizer, the MiniLM vector scaled by `dense_weight`), and scores intents with a
linear SVM plus `knn_weight` times the cosine of the closest training example of each intent.
Confidences are a softmax with a temperature and a "none of these" background logit, both fitted
on out-of-fold scores: calibrated on in-scope texts, and low for texts unlike every intent, so
`FallbackClassifier`'s threshold catches out-of-scope messages. See linear_knn.py.

Persisted as arrays (`.npz`, no pickle) with a JSON sidecar.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any

import numpy as np
import scipy.sparse as sp
import sklearn
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import (
    FEATURE_TYPE_SENTENCE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.linear_knn import FeatureSpace, LinearKnnModel

logger = logging.getLogger(__name__)

_ARRAYS_FILE = "linear_knn.npz"
_SIDECAR_FILE = "linear_knn.json"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearKnnIntentClassifier(GraphComponent, IntentClassifier):
    """Linear SVM over sparse and dense sentence features, plus nearest-example similarity."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Featurizer]

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn", "scipy"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # Inverse regularisation of the linear SVM.
            "C": 1.0,
            # Scale of each (unit-length) dense sentence vector next to the TF-IDF blocks.
            "dense_weight": 2.0,
            # Weight of the closest training example's cosine in each intent's score (0: off).
            "knn_weight": 2.0,
            # Folds of the cross-validation that fits the softmax temperature (0 or 1: off).
            "calibration_folds": 3,
            # Weight of the pseudo out-of-scope rows in the calibration (0: no background
            # logit, confidences of the intents sum to 1 however unlike the training data the
            # text is). See linear_knn.fit_calibration.
            "out_of_scope_weight": 0.05,
            # Softmax temperature used when calibration is off or impossible (tiny data).
            "temperature": 0.3,
            "random_state": 0,
            # Intents listed in `intent_ranking` (0: all).
            "ranking_length": 10,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        space: FeatureSpace | None = None,
        model: LinearKnnModel | None = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._validate(self._config)
        self._model_storage = model_storage
        self._resource = resource
        self._space = space
        self._model = model

    @staticmethod
    def _validate(config: dict[str, Any]) -> None:
        for key in ("C", "temperature"):
            if not float(config[key]) > 0:
                raise InvalidConfigException(f"LinearKnnIntentClassifier: `{key}` must be > 0")
        for key in ("dense_weight", "knn_weight", "out_of_scope_weight"):
            if float(config[key]) < 0:
                raise InvalidConfigException(f"LinearKnnIntentClassifier: `{key}` must be >= 0")

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LinearKnnIntentClassifier:
        return cls(config, model_storage, resource)

    # -- training ---------------------------------------------------------------------------------

    def train(self, training_data: TrainingData) -> Resource:
        examples = [
            e for e in training_data.intent_examples
            if e.get(INTENT) and e.get(TEXT) and _sentence_features(e)
        ]  # fmt: skip
        if not examples:
            logger.warning("LinearKnnIntentClassifier: no featurized intent examples; not trained")
            return self._resource
        sparse, dense = _blocks(examples)
        labels = [e.get(INTENT) for e in examples]
        space = FeatureSpace(dense_weight=float(self._config["dense_weight"]))
        space.fit(sparse, dense)
        model = LinearKnnModel(
            c=float(self._config["C"]),
            knn_weight=float(self._config["knn_weight"]),
            calibration_folds=int(self._config["calibration_folds"]),
            out_of_scope_weight=float(self._config["out_of_scope_weight"]),
            temperature=float(self._config["temperature"]),
            random_state=int(self._config["random_state"]),
        )
        model.fit(space.transform(sparse, dense), space.knn_vectors(dense), labels)
        self._space, self._model = space, model
        self._persist(space, model, n_examples=len(examples))
        return self._resource

    def _persist(self, space: FeatureSpace, model: LinearKnnModel, n_examples: int) -> None:
        arrays = {f"model.{k}": v for k, v in model.to_arrays().items()}
        arrays.update({f"idf.{name}": idf for name, idf in space.idf.items()})
        sidecar = {
            "sparse_blocks": space.sparse_names,
            "dense_blocks": space.dense_names,
            "dims": space.dims,
            "dense_weight": space.dense_weight,
            "intents": len(model.classes),
            "examples": n_examples,
            "temperature": model.temperature,
            "background": model.background,
            "out_of_fold_accuracy": model.cv_accuracy,
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
        }
        with self._model_storage.write_to(self._resource) as directory:
            np.savez(directory / _ARRAYS_FILE, **arrays)
            (directory / _SIDECAR_FILE).write_text(json.dumps(sidecar, indent=2), "utf-8")

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LinearKnnIntentClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                sidecar = json.loads((directory / _SIDECAR_FILE).read_text("utf-8"))
                with np.load(directory / _ARRAYS_FILE, allow_pickle=False) as npz:
                    arrays = {k: npz[k] for k in npz.files}
        except (ValueError, FileNotFoundError):
            # Rasa's convention: a component trained on no data has no resource; it predicts
            # nothing rather than failing the whole model.
            logger.debug("LinearKnnIntentClassifier: no trained resource %s", resource.name)
            return cls(config, model_storage, resource)
        space = FeatureSpace(
            dense_weight=float(sidecar["dense_weight"]),
            sparse_names=list(sidecar["sparse_blocks"]),
            dense_names=list(sidecar["dense_blocks"]),
            idf={k[len("idf.") :]: v for k, v in arrays.items() if k.startswith("idf.")},
            dims={k: int(v) for k, v in sidecar["dims"].items()},
        )
        model = LinearKnnModel.from_arrays(
            {k[len("model.") :]: v for k, v in arrays.items() if k.startswith("model.")}
        )
        return cls(config, model_storage, resource, space, model)

    # -- inference --------------------------------------------------------------------------------

    def process(self, messages: list[Message]) -> list[Message]:
        if self._model is None or self._space is None:
            return messages
        featurized = []
        for message in messages:
            if _sentence_features(message):
                featurized.append(message)
            else:  # no text: no intent, so that FallbackClassifier falls back (as DIET does)
                message.set(
                    INTENT,
                    {INTENT_NAME_KEY: None, PREDICTED_CONFIDENCE_KEY: 0.0},
                    add_to_output=True,
                )
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
        if not featurized:
            return messages
        sparse, dense = _blocks(featurized, self._space)
        proba = self._model.predict_proba(
            self._space.transform(sparse, dense), self._space.knn_vectors(dense)
        )
        ranking_length = int(self._config["ranking_length"]) or len(self._model.classes)
        for message, row in zip(featurized, proba):
            order = np.argsort(-row, kind="stable")
            ranking = [
                {INTENT_NAME_KEY: str(self._model.classes[i]),
                 PREDICTED_CONFIDENCE_KEY: float(row[i])}
                for i in order[:ranking_length]
            ]  # fmt: skip
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages


def _sentence_features(message: Message) -> list:
    return [
        f for f in message.features
        if f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE
    ]  # fmt: skip


def _origin(feature: Any) -> str:
    origin = feature.origin
    return origin if isinstance(origin, str) else "+".join(origin)


def _blocks(
    messages: list[Message], space: FeatureSpace | None = None
) -> tuple[dict[str, sp.csr_matrix], dict[str, np.ndarray]]:
    """Sentence features of TEXT, one matrix per featurizer (rows in the order of `messages`).

    At inference (`space` from training) a block that a message lacks is zeros of the trained
    width, and a block missing from every message is still there.
    """
    sparse_rows: dict[str, list] = defaultdict(lambda: [None] * len(messages))
    dense_rows: dict[str, list] = defaultdict(lambda: [None] * len(messages))
    if space is not None:
        for name in space.sparse_names:
            sparse_rows[name]
        for name in space.dense_names:
            dense_rows[name]
    for i, message in enumerate(messages):
        for feature in _sentence_features(message):
            rows = sparse_rows if feature.is_sparse() else dense_rows
            rows[_origin(feature)][i] = feature.features
    dims = space.dims if space is not None else {}
    sparse = {
        name: sp.vstack(
            [sp.csr_matrix(r) if r is not None else sp.csr_matrix((1, _width(name, rows, dims)))
             for r in rows],
            format="csr",
        )
        for name, rows in sparse_rows.items()
    }  # fmt: skip
    dense = {
        name: np.vstack(
            [np.asarray(r, np.float32).reshape(1, -1) if r is not None
             else np.zeros((1, _width(name, rows, dims)), np.float32) for r in rows]
        )
        for name, rows in dense_rows.items()
    }  # fmt: skip
    return sparse, dense


def _width(name: str, rows: list, dims: dict[str, int]) -> int:
    if name in dims:
        return dims[name]
    return next(r.shape[1] for r in rows if r is not None)
