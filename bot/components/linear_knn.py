"""The model behind `LinearKnnIntentClassifier`, free of Rasa so that it can be tested on arrays.

score(x, c) = w_c . x + b_c  +  knn_weight * max cosine(e(x), e(t)) over training examples t of c
p(c | x)    = softmax([score(x, .) / temperature, background])[c]   (background's share left out)

- x: TF-IDF of each count featurizer's sentence counts (sublinear tf, smoothed idf, L2 per block,
  as scikit-learn's TfidfVectorizer does) next to each dense block (L2-normalised, times
  `dense_weight`); w, b: a linear SVM (one-vs-rest, squared hinge) on x.
- e(x): the dense blocks, concatenated and normalised (MiniLM sentence vectors in the bot); the
  nearest-example term rewards being close to one specific training phrasing.
- temperature, background: fitted by minimising the log loss of out-of-fold scores (stratified
  K-fold), the background also on the same rows with their own intent removed (as if out of
  scope), so that confidences are calibrated and low for texts far from every intent: one fallback
  threshold then means much the same on every data set.

Everything persists as plain arrays (no pickle): see `to_arrays` / `from_arrays`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

logger = logging.getLogger(__name__)

_CHUNK = 2048  # query rows per similarity block (2048 x 15,000 floats = 120 MB at most)


def _l2_rows(matrix: sp.csr_matrix | np.ndarray) -> sp.csr_matrix | np.ndarray:
    if sp.issparse(matrix):
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1))).ravel()
        return sp.diags(1.0 / np.maximum(norms, 1e-12)) @ matrix
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


@dataclass
class FeatureSpace:
    """Per-featurizer blocks -> one sparse matrix (TF-IDF for counts, scaled unit vectors)."""

    dense_weight: float = 2.0
    sparse_names: list[str] = field(default_factory=list)
    dense_names: list[str] = field(default_factory=list)
    idf: dict[str, np.ndarray] = field(default_factory=dict)
    dims: dict[str, int] = field(default_factory=dict)

    def fit(self, sparse: Mapping[str, sp.spmatrix], dense: Mapping[str, np.ndarray]) -> None:
        self.sparse_names, self.dense_names = sorted(sparse), sorted(dense)
        if not self.sparse_names and not self.dense_names:
            raise ValueError("no sentence features: put featurizers before the classifier")
        for name, counts in sparse.items():
            counts = sp.csr_matrix(counts)
            n_docs = counts.shape[0]
            doc_freq = np.bincount(counts.indices, minlength=counts.shape[1])
            self.idf[name] = (np.log((1 + n_docs) / (1 + doc_freq)) + 1.0).astype(np.float32)
            self.dims[name] = counts.shape[1]
        for name, vectors in dense.items():
            self.dims[name] = vectors.shape[1]

    def transform(
        self, sparse: Mapping[str, sp.spmatrix], dense: Mapping[str, np.ndarray]
    ) -> sp.csr_matrix:
        self._check(sparse, self.sparse_names)
        self._check(dense, self.dense_names)
        blocks = []
        for name in self.sparse_names:
            counts = sp.csr_matrix(sparse[name], dtype=np.float32, copy=True)
            counts.data = 1.0 + np.log(np.maximum(counts.data, 1e-12))  # sublinear tf
            blocks.append(_l2_rows(counts @ sp.diags(self.idf[name])))
        for name in self.dense_names:
            blocks.append(sp.csr_matrix(self.dense_weight * _l2_rows(dense[name])))
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def knn_vectors(self, dense: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """The dense blocks, each normalised, concatenated and normalised again (or None)."""
        if not self.dense_names:
            return None
        joined = np.hstack([_l2_rows(np.asarray(dense[n], np.float32)) for n in self.dense_names])
        return _l2_rows(joined).astype(np.float32)

    def _check(self, blocks: Mapping[str, object], names: Sequence[str]) -> None:
        if sorted(blocks) != list(names):
            raise ValueError(f"features from {sorted(blocks)}, but trained on {list(names)}")
        for name in names:
            width = blocks[name].shape[1]  # type: ignore[attr-defined]
            if width != self.dims[name]:
                raise ValueError(f"{name}: {width} features, trained on {self.dims[name]}")


@dataclass
class LinearKnnModel:
    """Linear SVM + nearest-example similarity, with a temperature for calibrated softmax."""

    c: float = 1.0
    knn_weight: float = 2.0
    calibration_folds: int = 3
    temperature: float = 1.0
    background: float | None = None  # score of "none of these intents", fitted with temperature
    out_of_scope_weight: float = 0.1
    random_state: int = 0
    max_iter: int = 5000
    classes: np.ndarray = field(default_factory=lambda: np.array([], dtype=str))
    coef: np.ndarray | None = None
    intercept: np.ndarray | None = None
    knn_matrix: np.ndarray | None = None  # training vectors sorted by class
    knn_starts: np.ndarray | None = None  # first row of each class in knn_matrix
    cv_accuracy: float | None = None

    def fit(self, x: sp.csr_matrix, knn: np.ndarray | None, labels: Sequence[str]) -> None:
        self.classes, y = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
        self.coef, self.intercept = self._fit_linear(x, y)
        self.knn_matrix, self.knn_starts = self._knn_index(knn, y)
        self._calibrate(x, knn, y)

    def scores(self, x: sp.csr_matrix, knn: np.ndarray | None) -> np.ndarray:
        return self._scores(x, knn, self.coef, self.intercept, self.knn_matrix, self.knn_starts)

    def predict_proba(self, x: sp.csr_matrix, knn: np.ndarray | None) -> np.ndarray:
        """(n, n_classes) probabilities; with a background score they sum to less than 1."""
        return calibrated_proba(self.scores(x, knn), self.temperature, self.background)

    # -- training ---------------------------------------------------------------------------------

    def _fit_linear(self, x: sp.csr_matrix, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_classes = int(y.max()) + 1 if len(y) else 0
        if n_classes < 2:  # one intent: nothing to separate, every score is 0
            return np.zeros((n_classes, x.shape[1]), np.float32), np.zeros(n_classes, np.float32)
        svm = LinearSVC(C=self.c, max_iter=self.max_iter, random_state=self.random_state)
        svm.fit(x, y)
        coef, intercept = svm.coef_, svm.intercept_
        if n_classes == 2:  # sklearn keeps one row for two classes: w for class 1, -w for 0
            coef, intercept = np.vstack([-coef, coef]), np.concatenate([-intercept, intercept])
        return coef.astype(np.float32), intercept.astype(np.float32)

    def _knn_index(
        self, knn: np.ndarray | None, y: np.ndarray
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        if knn is None or self.knn_weight == 0:
            return None, None
        order = np.argsort(y, kind="stable")
        starts = np.searchsorted(y[order], np.arange(len(self.classes)))
        return np.ascontiguousarray(knn[order], dtype=np.float32), starts

    def _calibrate(self, x: sp.csr_matrix, knn: np.ndarray | None, y: np.ndarray) -> None:
        """Fit the softmax temperature on out-of-fold scores (keeps the default if it cannot)."""
        folds = min(self.calibration_folds, int(np.bincount(y).min()) if len(y) else 0)
        if folds < 2 or len(self.classes) < 2:
            logger.debug(
                "too few examples per intent to calibrate; temperature stays %s", self.temperature
            )
            return
        out_of_fold = np.zeros((x.shape[0], len(self.classes)), np.float32)
        splits = StratifiedKFold(folds, shuffle=True, random_state=self.random_state).split(x, y)
        for train, held_out in splits:
            coef, intercept = self._fit_linear(x[train], y[train])
            knn_matrix, starts = self._knn_index(None if knn is None else knn[train], y[train])
            out_of_fold[held_out] = self._scores(
                x[held_out], None if knn is None else knn[held_out],
                coef, intercept, knn_matrix, starts,
            )  # fmt: skip
        self.cv_accuracy = float((out_of_fold.argmax(axis=1) == y).mean())
        self.temperature, self.background = fit_calibration(
            out_of_fold, y, self.out_of_scope_weight
        )
        logger.info(
            "out-of-fold accuracy %.4f, softmax temperature %.4f, background %s",
            self.cv_accuracy,
            self.temperature,
            self.background,
        )

    # -- scoring ----------------------------------------------------------------------------------

    def _scores(self, x, knn, coef, intercept, knn_matrix, starts) -> np.ndarray:
        scores = np.asarray(x @ coef.T, dtype=np.float32) + intercept
        if knn_matrix is not None and knn is not None and self.knn_weight:
            scores += self.knn_weight * _max_similarity_per_class(knn, knn_matrix, starts)
        return scores

    # -- persistence ------------------------------------------------------------------------------

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "classes": np.asarray(self.classes, dtype=str),
            "coef": self.coef,
            "intercept": self.intercept,
            "params": np.array([self.c, self.knn_weight, self.temperature], np.float64),
            "background": np.array([np.nan if self.background is None else self.background]),
        }
        if self.knn_matrix is not None:
            arrays["knn_matrix"], arrays["knn_starts"] = self.knn_matrix, self.knn_starts
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> LinearKnnModel:
        c, knn_weight, temperature = (float(v) for v in arrays["params"])
        background = float(arrays["background"][0]) if "background" in arrays else np.nan
        return cls(
            c=c, knn_weight=knn_weight, temperature=temperature,
            background=None if np.isnan(background) else background,
            classes=np.asarray(arrays["classes"], dtype=str),
            coef=arrays["coef"], intercept=arrays["intercept"],
            knn_matrix=arrays.get("knn_matrix"), knn_starts=arrays.get("knn_starts"),
        )  # fmt: skip


def _max_similarity_per_class(
    queries: np.ndarray, matrix: np.ndarray, starts: np.ndarray
) -> np.ndarray:
    """(n_queries, n_classes): the highest cosine to any training vector of each class.

    `matrix` is sorted by class and `starts[c]` is the first row of class c (every class has rows).
    """
    out = np.empty((queries.shape[0], len(starts)), np.float32)
    for begin in range(0, queries.shape[0], _CHUNK):
        sims = queries[begin : begin + _CHUNK] @ matrix.T
        out[begin : begin + _CHUNK] = np.maximum.reduceat(sims, starts, axis=1)
    return out


def calibrated_proba(
    scores: np.ndarray, temperature: float, background: float | None
) -> np.ndarray:
    """softmax(scores / T), with one more logit `background` whose share is left out."""
    logits = scores / temperature
    if background is None:
        return _softmax(logits)
    full = _softmax(np.hstack([logits, np.full((len(logits), 1), background, logits.dtype)]))
    return full[:, :-1]


def fit_calibration(
    out_of_fold: np.ndarray, y: np.ndarray, out_of_scope_weight: float
) -> tuple[float, float | None]:
    """Temperature (and background logit) minimising the log loss of out-of-fold scores.

    In-scope rows should give their intent the probability mass. For the background, each row is
    used a second time as if its intent did not exist (its column removed): then it is out of
    scope, and the mass should go to the background. These pseudo out-of-scope rows weigh
    `out_of_scope_weight` relative to the in-scope ones (0: temperature only, no background).
    """
    rows = np.arange(len(y))
    out_of_fold = np.asarray(out_of_fold, np.float64)

    def loss(params: np.ndarray) -> float:
        log_t, background = params
        logits = out_of_fold / np.exp(log_t)
        lse_all = _logsumexp(logits)
        true = logits[rows, y]
        if not out_of_scope_weight:
            return float(np.mean(lse_all - true))
        in_scope = np.logaddexp(lse_all, background) - true
        # logsumexp over the other intents: log(exp(lse_all) - exp(true)), computed stably
        others = lse_all + np.log(np.maximum(-np.expm1(true - lse_all), 1e-12))
        out_scope = np.logaddexp(others, background) - background
        return float(np.mean(in_scope) + out_of_scope_weight * np.mean(out_scope))

    from scipy.optimize import minimize

    start = np.array([0.0, float(np.median(out_of_fold.max(axis=1)))])
    best = minimize(loss, start, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-7})
    log_t, background = best.x
    log_t = float(np.clip(log_t, np.log(1e-3), np.log(1e3)))
    return float(np.exp(log_t)), (float(background) if out_of_scope_weight else None)


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=1)
    return top + np.log(np.exp(logits - top[:, None]).sum(axis=1))


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
