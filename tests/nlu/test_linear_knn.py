"""The model behind LinearKnnIntentClassifier, on arrays (no Rasa needed: runs in .venv)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from bot.components.linear_knn import FeatureSpace, LinearKnnModel

TEXTS = [
    "where is my card", "my card has not arrived", "card still not here", "when will my card come",
    "cancel my transfer", "please cancel the payment", "stop that transfer", "undo my transfer",
    "what is the exchange rate", "rate for euros", "how much is a dollar in pounds",
    "currency exchange rate today",
]  # fmt: skip
LABELS = ["card_arrival"] * 4 + ["cancel_transfer"] * 4 + ["exchange_rate"] * 4


def _dense(n: int, classes: np.ndarray, seed: int = 0) -> np.ndarray:
    """Unit vectors clustered by class (a stand-in for sentence embeddings)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(set(classes)), 16))
    index = {c: i for i, c in enumerate(sorted(set(classes)))}
    vectors = centres[[index[c] for c in classes]] + 0.3 * rng.normal(size=(n, 16))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_sparse_blocks_are_the_tfidf_of_scikit_learn() -> None:
    counts = CountVectorizer(ngram_range=(1, 2)).fit(TEXTS)
    space = FeatureSpace()
    space.fit({"words": counts.transform(TEXTS)}, {})

    ours = space.transform({"words": counts.transform(TEXTS)}, {}).toarray()

    reference = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(TEXTS)
    np.testing.assert_allclose(ours, reference.toarray(), atol=1e-6)


def test_dense_blocks_are_unit_vectors_times_the_weight() -> None:
    vectors = np.array([[3.0, 4.0], [0.0, 2.0]], np.float32)
    space = FeatureSpace(dense_weight=2.0)
    space.fit({}, {"minilm": vectors})

    out = space.transform({}, {"minilm": vectors}).toarray()

    np.testing.assert_allclose(out, [[1.2, 1.6], [0.0, 2.0]], atol=1e-6)


def test_features_from_other_featurizers_are_refused() -> None:
    space = FeatureSpace()
    space.fit({"words": sp.csr_matrix(np.ones((2, 3)))}, {})

    with pytest.raises(ValueError, match="trained on"):
        space.transform({"chars": sp.csr_matrix(np.ones((2, 3)))}, {})
    with pytest.raises(ValueError, match="3"):
        space.transform({"words": sp.csr_matrix(np.ones((2, 4)))}, {})


@pytest.fixture
def fitted() -> tuple[FeatureSpace, LinearKnnModel, sp.csr_matrix, np.ndarray]:
    counts = CountVectorizer().fit_transform(TEXTS)
    dense = _dense(len(TEXTS), np.array(LABELS))
    space = FeatureSpace(dense_weight=2.0)
    space.fit({"words": counts}, {"minilm": dense})
    model = LinearKnnModel(c=1.0, knn_weight=2.0, calibration_folds=3)
    model.fit(
        space.transform({"words": counts}, {"minilm": dense}),
        space.knn_vectors({"minilm": dense}),
        LABELS,
    )
    return (
        space,
        model,
        space.transform({"words": counts}, {"minilm": dense}),
        (space.knn_vectors({"minilm": dense})),
    )


def test_fits_the_training_data_with_calibrated_probabilities(fitted) -> None:
    _, model, x, knn = fitted

    proba = model.predict_proba(x, knn)

    assert list(model.classes) == sorted(set(LABELS))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert list(model.classes[proba.argmax(axis=1)]) == LABELS
    assert model.cv_accuracy is not None and model.temperature > 0
    assert model.temperature != 1.0  # fitted, not the default


def test_reloads_from_plain_arrays_with_identical_predictions(fitted, tmp_path) -> None:
    _, model, x, knn = fitted
    np.savez(tmp_path / "model.npz", **model.to_arrays())

    with np.load(tmp_path / "model.npz", allow_pickle=False) as npz:
        reloaded = LinearKnnModel.from_arrays({k: npz[k] for k in npz.files})

    np.testing.assert_array_equal(reloaded.classes, model.classes)
    np.testing.assert_allclose(reloaded.predict_proba(x, knn), model.predict_proba(x, knn))


def test_nearest_example_term_follows_the_closest_training_vector() -> None:
    x = sp.csr_matrix(np.zeros((4, 1), np.float32))  # no linear signal at all
    knn = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32)
    knn /= np.linalg.norm(knn, axis=1, keepdims=True)
    model = LinearKnnModel(knn_weight=5.0, calibration_folds=0)
    model.fit(x, knn, ["a", "a", "b", "b"])

    queries = np.array([[0.95, 0.05], [0.05, 0.95]], np.float32)
    proba = model.predict_proba(sp.csr_matrix(np.zeros((2, 1))), queries)

    assert list(model.classes[proba.argmax(axis=1)]) == ["a", "b"]


def test_two_intents_and_one_intent() -> None:
    x = sp.csr_matrix(np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1]], np.float32))
    two = LinearKnnModel(knn_weight=0, calibration_folds=2)
    two.fit(x, None, ["yes", "yes", "no", "no"])
    assert list(two.classes[two.predict_proba(x, None).argmax(axis=1)]) == [
        "yes",
        "yes",
        "no",
        "no",
    ]

    one = LinearKnnModel(calibration_folds=3)
    one.fit(x, None, ["only"] * 4)
    np.testing.assert_allclose(one.predict_proba(x, None), 1.0)
