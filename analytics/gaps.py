"""Unanswered-question mining: what customers ask that the assistant cannot answer.

Candidates are customer messages the bot could not serve (a fallback, an intent confidence
below ``low_confidence_threshold``, or a FAQ question without a FAQ answer), already redacted by
the pipeline. They are embedded with the FAQ index's sentence-embedding model (``knowledge``'s
``Embedder``, MiniLM; normalised vectors, so cosine = inner product), grouped by agglomerative
clustering (average linkage, cosine distance below ``gap_distance_threshold``), and every group
of at least ``gap_min_count`` messages becomes a suggestion: a new FAQ (mostly questions) or a
new intent (mostly requests), titled by its most central message, with examples and counts.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from analytics.errors import InvalidInputData
from analytics.schema import Turn
from analytics.settings import AnalyticsSettings

log = logging.getLogger(__name__)

_QUESTION = re.compile(
    r"\?\s*$|^(how|what|when|where|which|who|why|can|could|do|does|did|is|are|will|would|"
    r"should|may|have|has)\b", re.I)
MAX_MESSAGES = 20_000
#: Distinct texts grouped in one mining, the most frequent first (ties: the newest). Average
#: linkage compares every pair: 5,000 texts took 2.6 s and 20,000 would need 1.6 GB for the
#: distances alone (benchmarks/README.md, "Dashboard and customer panel latency").
MAX_GROUPED = 3_000
#: Vectors a ``CachedEmbedder`` keeps (384 float32 each: 50,000 are 77 MB).
CACHED_VECTORS = 50_000


@dataclass(frozen=True)
class GapSuggestion:
    kind: str  # "faq" | "intent"
    title: str
    count: int
    examples: list[str]
    intents: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class GapSuggestions(list[GapSuggestion]):
    """The suggestions, largest first, and how many distinct texts there were (``distinct``)
    and were grouped (``grouped``: at most ``MAX_GROUPED``)."""

    def __init__(self, suggestions: Iterable[GapSuggestion] = (), *, distinct: int = 0,
                 grouped: int = 0) -> None:
        super().__init__(suggestions)
        self.distinct = distinct
        self.grouped = grouped


class CachedEmbedder:
    """An embedder that keeps the vectors of the texts it has embedded (the last
    ``max_entries`` used), so mining the same unanswered messages again embeds only the new
    ones. Safe to share between threads."""

    def __init__(self, embedder: Any, max_entries: int = CACHED_VECTORS) -> None:
        self.embedder = embedder
        self.max_entries = max_entries
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def warm_up(self) -> CachedEmbedder:
        self.embedder.warm_up()
        return self

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return self.embedder.encode([])
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
            for text in known:
                self._vectors.move_to_end(text)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            fresh = dict(zip(missing, self.embedder.encode(missing), strict=True))
            known.update(fresh)
            with self._lock:
                self._vectors.update(fresh)
                while len(self._vectors) > self.max_entries:
                    self._vectors.popitem(last=False)
        return np.stack([known[t] for t in texts])


@dataclass(frozen=True)
class Candidate:
    text: str
    intent: str | None = None


def unanswered_messages(session: Session, settings: AnalyticsSettings, *,
                        since: dt.datetime | None = None, until: dt.datetime | None = None,
                        limit: int = MAX_MESSAGES) -> list[Candidate]:
    """The redacted texts of customer messages the assistant did not answer (newest first)."""
    query = select(Turn.text, Turn.intent).where(
        or_(Turn.is_fallback, Turn.is_low_confidence,
            Turn.faq_asked & ~Turn.faq_answered),
        ~Turn.faq_answered, Turn.text != "",
    )
    if since is not None:
        query = query.where(Turn.sent_at >= since)
    if until is not None:
        query = query.where(Turn.sent_at < until)
    rows = session.execute(query.order_by(Turn.sent_at.desc()).limit(limit)).all()
    return [Candidate(text, intent) for text, intent in rows if text and text.strip()]


def suggest_gaps(candidates: list[Candidate], embedder: Any, *, distance_threshold: float = 0.55,
                 min_count: int = 2, max_examples: int = 5,
                 max_grouped: int = MAX_GROUPED) -> GapSuggestions:
    """Cluster ``candidates`` (see the module docstring); largest groups first. Of more than
    ``max_grouped`` distinct texts the most frequent are grouped (ties: the earlier candidates,
    the newest from ``unanswered_messages``).

    ``embedder`` is a ``knowledge.Embedder`` (anything with ``encode(texts) -> unit vectors``,
    such as a ``CachedEmbedder``).
    """
    if not 0 < distance_threshold < 2:
        raise InvalidInputData("distance_threshold must be between 0 and 2 (cosine distance)")
    if min_count < 1:
        raise InvalidInputData("min_count must be at least 1")
    if max_grouped < 1:
        raise InvalidInputData("max_grouped must be at least 1")
    # The same text (case and spaces aside) is embedded once and weighted by how often it came.
    groups: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        key = " ".join(candidate.text.lower().split())
        if key:
            groups.setdefault(key, []).append(candidate)
    if not groups:
        return GapSuggestions()
    keys = list(groups)
    if len(keys) > max_grouped:  # the most frequent (a stable sort: the newest of equals)
        kept = set(sorted(keys, key=lambda k: -len(groups[k]))[:max_grouped])
        keys = [k for k in keys if k in kept]
    texts = [groups[k][0].text for k in keys]
    weights = np.array([len(groups[k]) for k in keys])
    vectors = embedder.encode(texts)
    labels = _cluster(vectors, distance_threshold)
    suggestions = []
    for label in sorted(set(labels)):
        members = np.flatnonzero(labels == label)
        count = int(weights[members].sum())
        if count < min_count:
            continue
        sims = vectors[members] @ vectors[members].T
        centrality = (sims * weights[members]).sum(axis=1)
        order = members[np.argsort(-centrality, kind="stable")]
        examples = [texts[i] for i in order[:max_examples]]
        intents = Counter(c.intent or "none" for i in members for c in groups[keys[i]])
        questions = sum(weights[i] for i in members if _QUESTION.search(texts[i].strip()))
        suggestions.append(GapSuggestion(
            kind="faq" if questions * 2 >= count else "intent", title=examples[0], count=count,
            examples=examples, intents=dict(intents.most_common())))
    suggestions.sort(key=lambda s: (-s.count, s.title))
    log.info("unanswered questions: %s messages, %s distinct (%s grouped), %s suggestions",
             len(candidates), len(groups), len(keys), len(suggestions))
    return GapSuggestions(suggestions, distinct=len(groups), grouped=len(keys))


def _cluster(vectors: np.ndarray, distance_threshold: float) -> np.ndarray:
    if len(vectors) == 1:
        return np.zeros(1, dtype=int)
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                    distance_threshold=distance_threshold)
    return model.fit_predict(vectors)


def find_gaps(session: Session, settings: AnalyticsSettings, embedder: Any, *,
              since: dt.datetime | None = None, until: dt.datetime | None = None,
              max_examples: int = 5) -> GapSuggestions:
    """Suggestions from the unanswered messages in the analytics tables."""
    candidates = unanswered_messages(session, settings, since=since, until=until)
    return suggest_gaps(candidates, embedder, distance_threshold=settings.gap_distance_threshold,
                        min_count=settings.gap_min_count, max_examples=max_examples)


def load_embedder(knowledge_settings: Any = None) -> Any:
    """The FAQ index's embedding model, through ``knowledge``'s own loader."""
    from knowledge import Embedder, KnowledgeSettings

    return Embedder.load(knowledge_settings or KnowledgeSettings())
