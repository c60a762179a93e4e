"""FAQ retrieval for the assistant: search the corpus, answer only when confident.

Score of an FAQ for a query (all parts are cosines in [0, 1] or [-1, 1]):

    (dense_question + w_doc * dense_doc + w_word * tfidf_words + w_char * tfidf_chars)
    / (1 + w_doc + w_word + w_char)

``dense_question`` is the best cosine with any phrasing of the FAQ, ``dense_doc`` the cosine with
question + answer. The weights and the answer threshold are settings (defaults calibrated on
public data, see benchmarks/README.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.corpus import Faq, load_corpus
from knowledge.embedder import Embedder, packaged_model_path
from knowledge.errors import IndexNotFound, IndexStale, ModelUnavailable
from knowledge.index import FaqIndex, Layout, build_index, centre_and_normalise, load_index
from knowledge.lexical import LexicalScorer
from knowledge.query_vector import QueryVector, from_parse_data, model_id_for
from knowledge.settings import KnowledgeSettings
from knowledge.text import normalise_query

logger = logging.getLogger(__name__)

_QUERY_BATCH = 256


def fuse(
    components: dict[str, np.ndarray[Any, Any]], weights: dict[str, float]
) -> np.ndarray[Any, Any]:
    """Weighted mean of the signals (so the score stays on the cosine scale)."""
    total = sum(weights.values())
    return sum(w * components[name] for name, w in weights.items() if w) / total


@dataclass(frozen=True)
class FaqHit:
    faq_id: str
    question: str
    answer: str
    score: float
    category: str | None = None


@dataclass(frozen=True)
class FaqAnswer:
    """What the bot says: the answer text and the FAQ (id and question) it came from."""

    faq_id: str
    question: str
    answer: str
    score: float
    category: str | None = None


class FaqRetriever:
    """Load once (the model and index stay in memory), then call ``search``/``answer`` often."""

    def __init__(
        self, faqs: Sequence[Faq], index: FaqIndex, embedder: Embedder, settings: KnowledgeSettings
    ) -> None:
        self.faqs = list(faqs)
        self.index = index
        self.embedder = embedder.warm_up()
        self.settings = settings
        self.threshold = settings.answer_threshold
        layout = Layout.of(self.faqs)
        self._row_faq = layout.row_faq
        self._row_is_doc = layout.row_is_doc
        self._centre = index.centre
        self._lexical = LexicalScorer(self.faqs)
        self.weights = {"question": 1.0, "doc": settings.doc_weight,
                        "word": settings.word_weight, "char": settings.char_weight}
        try:
            packaged: Path | None = packaged_model_path()
        except ModelUnavailable:
            packaged = None
        #: Id of the model, for reusing the NLU's sentence vectors (None: never reused).
        self.vector_model_id = model_id_for(embedder.path, packaged)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        settings: KnowledgeSettings,
        *,
        embedder: Embedder | None = None,
        faqs: Sequence[Faq] | None = None,
        progress: bool = False,
    ) -> FaqRetriever:
        """Load the corpus (``settings.corpus_path`` unless ``faqs`` given) and its index.

        A missing or stale index is rebuilt when ``settings.rebuild_stale_index`` is true,
        else ``IndexNotFound``/``IndexStale`` is raised.
        """
        corpus_path = None
        if faqs is None:
            corpus_path = Path(settings.corpus_path)
            faqs = load_corpus(corpus_path)
        embedder = embedder or Embedder.load(settings)
        try:
            index = load_index(faqs, embedder, settings)
        except (IndexNotFound, IndexStale) as exc:
            if not settings.rebuild_stale_index:
                raise
            logger.warning("rebuilding the FAQ index: %s", exc)
            index = build_index(
                faqs, embedder, settings, corpus_path=corpus_path, progress=progress
            )
        return cls(faqs, index, embedder, settings)

    @classmethod
    def build(
        cls,
        faqs: Sequence[Faq],
        settings: KnowledgeSettings,
        *,
        embedder: Embedder | None = None,
        progress: bool = False,
        centre: bool = True,
    ) -> FaqRetriever:
        """Build the index into ``settings.index_dir`` and load it back (benchmarks, tests)."""
        embedder = embedder or Embedder.load(settings)
        build_index(faqs, embedder, settings, progress=progress, centre=centre)
        return cls(faqs, load_index(faqs, embedder, settings), embedder, settings)

    # -- queries ------------------------------------------------------------------------------
    def component_scores(
        self, queries: Sequence[str], vectors: np.ndarray[Any, Any] | None = None
    ) -> dict[str, np.ndarray[Any, Any]]:
        """Each signal separately, shape (len(queries), number of FAQs); queries normalised.

        ``vectors``: the queries' sentence vectors if already known (else they are encoded).
        """
        if vectors is None:
            vectors = self.embedder.encode(queries)
        vectors = centre_and_normalise(vectors, self._centre)
        sims, rows = self.index.index.search(vectors, self.index.index.ntotal)
        by_row = np.empty_like(sims)
        np.put_along_axis(by_row, rows, sims, axis=1)
        phrasing = ~self._row_is_doc
        question = np.full((len(queries), len(self.faqs)), -1.0, dtype=np.float32)
        np.maximum.at(question.T, self._row_faq[phrasing], by_row[:, phrasing].T)
        doc = np.empty_like(question)
        doc[:, self._row_faq[self._row_is_doc]] = by_row[:, self._row_is_doc]
        return {
            "question": question,
            "doc": doc,
            "word": self._lexical.word_scores(queries),
            "char": self._lexical.char_scores(queries),
        }

    def scores(
        self, queries: Sequence[str], vectors: np.ndarray[Any, Any] | None = None
    ) -> np.ndarray[Any, Any]:
        """Fused scores, shape (len(queries), number of FAQs); queries already normalised."""
        if not queries:
            return np.zeros((0, len(self.faqs)), dtype=np.float32)
        return fuse(self.component_scores(queries, vectors), self.weights)

    def search_many(
        self, queries: Sequence[object], k: int = 5, known: QueryVector | None = None
    ) -> list[list[FaqHit]]:
        """Top-``k`` FAQs for each query, best first; an unsearchable query gets ``[]``.

        ``known``: a sentence vector the NLU already computed (``knowledge.query_vector``),
        used for a query whose cleaned text it was computed from.
        """
        k = max(0, min(int(k), len(self.faqs)))
        clean = [normalise_query(q, max_chars=self.settings.max_query_chars) for q in queries]
        results: list[list[FaqHit]] = [[] for _ in clean]
        todo = [i for i, q in enumerate(clean) if q] if k else []
        if known is not None and len(todo) == 1 and known.is_for(clean[todo[0]]):
            batches = [(todo, known.vector[np.newaxis, :])]
        else:
            batches = [(todo[s : s + _QUERY_BATCH], None) for s in range(0, len(todo), _QUERY_BATCH)]
        for batch, vectors in batches:
            scores = self.scores([clean[i] for i in batch], vectors)
            top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            for row, i in enumerate(batch):
                results[i] = [self._hit(j, float(scores[row, j])) for j in top[row]]
        return results

    def search(self, query: object, k: int = 5, known: QueryVector | None = None) -> list[FaqHit]:
        """Top-``k`` FAQs for one query (any text: empty, huge, markup... never raises)."""
        return self.search_many([query], k=k, known=known)[0]

    def known_vector(self, parse_data: object) -> QueryVector | None:
        """The sentence vector in a message's parse data, if it can stand in for encoding."""
        if not isinstance(parse_data, dict):
            return None
        return from_parse_data(parse_data, model_id=self.vector_model_id,
                               dimension=int(self.index.index.d))

    def answer(self, query: object, known: QueryVector | None = None) -> FaqAnswer | None:
        """The best FAQ if its score reaches the threshold, else ``None`` (hand over / rephrase)."""
        hits = self.search(query, k=1, known=known)
        if not hits or hits[0].score < self.threshold:
            return None
        best = hits[0]
        logger.debug("answered with FAQ %s (score %.3f)", best.faq_id, best.score)
        return FaqAnswer(best.faq_id, best.question, best.answer, best.score, best.category)

    def _hit(self, j: int, score: float) -> FaqHit:
        faq = self.faqs[j]
        return FaqHit(faq.id, faq.question, faq.answer, round(score, 6), faq.category)
