"""Lexical signals fused with the dense score: TF-IDF over words and over character n-grams.

Word TF-IDF (question, alternatives and answer as one document) rewards rare shared terms such
as product or feature names; character 3-5-grams over each phrasing tolerate typos and word
forms. Both are fitted on the corpus only, so they are rebuilt from it in milliseconds on load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from knowledge.corpus import Faq


class LexicalScorer:
    def __init__(self, faqs: Sequence[Faq]) -> None:
        documents = [" ".join([*f.phrasings, f.answer]) for f in faqs]
        phrasings = [p for f in faqs for p in f.phrasings]
        self._owner = np.array([i for i, f in enumerate(faqs) for _ in f.phrasings])
        self._n = len(faqs)
        self._words = TfidfVectorizer(sublinear_tf=True, stop_words="english")
        try:
            self._word_docs = self._words.fit_transform(documents)
        except ValueError:  # only stop words in the whole corpus: no word signal
            self._words = None
        self._chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
        self._char_docs = self._chars.fit_transform(phrasings)

    def word_scores(self, queries: Sequence[str]) -> np.ndarray[Any, Any]:
        """Cosine of each query with each FAQ document, shape (queries, faqs)."""
        if self._words is None:
            return np.zeros((len(queries), self._n), dtype=np.float32)
        return (self._words.transform(queries) @ self._word_docs.T).toarray().astype(np.float32)

    def char_scores(self, queries: Sequence[str]) -> np.ndarray[Any, Any]:
        """Best cosine of each query with any phrasing of each FAQ, shape (queries, faqs)."""
        per_phrasing = (self._chars.transform(queries) @ self._char_docs.T).toarray()
        out = np.zeros((len(queries), self._n), dtype=np.float32)
        np.maximum.at(out.T, self._owner, per_phrasing.T.astype(np.float32))
        return out
