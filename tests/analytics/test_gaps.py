"""Unanswered-question mining with the real MiniLM model (the FAQ index's ``Embedder``)."""

from __future__ import annotations

import numpy as np
import pytest

from analytics import AnalyticsSettings
from analytics.errors import InvalidInputData
from analytics.gaps import CachedEmbedder, Candidate, find_gaps, load_embedder, suggest_gaps
from analytics.pipeline import run_pipeline
from analytics.report import gaps_section
from analytics.schema import upgrade_analytics
from crm_connector import CrmSettings, create_db_engine, create_session_factory
from crm_connector import read_transaction, upgrade_schema, write_transaction
from tests.analytics.tracker_rows import Tracker

GIFT_CARDS = ["do you sell gift cards?", "can I buy a gift card for my sister?",
              "Gift vouchers available?", "how do I purchase a gift card"]
STUDENTS = ["is there a student discount?", "discount for students?",
            "do students get a reduction on prices"]
LOOSE = ["my cat likes the box", "qwertzuiop"]


@pytest.fixture(scope="module")
def embedder():  # type: ignore[no-untyped-def]
    return load_embedder()


def test_similar_questions_become_one_suggestion_with_counts(embedder) -> None:  # type: ignore[no-untyped-def]
    candidates = [Candidate(t, "nlu_fallback") for t in GIFT_CARDS + STUDENTS + LOOSE]
    candidates.append(Candidate("DO YOU SELL  gift cards?", "ask_faq"))  # a repeat counts twice
    suggestions = suggest_gaps(candidates, embedder, min_count=2)
    assert [s.count for s in suggestions] == [5, 3]
    gift, students = suggestions
    assert set(gift.examples) == set(GIFT_CARDS) and gift.kind == "faq"
    assert gift.intents == {"nlu_fallback": 4, "ask_faq": 1}
    assert set(students.examples) == set(STUDENTS)
    assert gift.title in GIFT_CARDS and students.title in STUDENTS


def test_requests_are_suggested_as_intents(embedder) -> None:  # type: ignore[no-untyped-def]
    requests = ["I want to change my password", "reset my password please",
                "change the password of my account"]
    suggestions = suggest_gaps([Candidate(t) for t in requests], embedder)
    assert len(suggestions) == 1 and suggestions[0].kind == "intent"
    assert suggestions[0].count == 3


def test_nothing_to_mine_and_bad_parameters(embedder) -> None:  # type: ignore[no-untyped-def]
    assert suggest_gaps([], embedder) == []
    assert suggest_gaps([Candidate("   ")], embedder) == []
    only = suggest_gaps([Candidate("gift cards?")], embedder, min_count=1)
    assert [(s.title, s.count) for s in only] == [("gift cards?", 1)]
    with pytest.raises(InvalidInputData):
        suggest_gaps([Candidate("x")], embedder, distance_threshold=0)
    with pytest.raises(InvalidInputData):
        suggest_gaps([Candidate("x")], embedder, max_grouped=0)


def test_past_the_cap_the_most_frequent_texts_are_grouped_and_the_page_says_so(embedder) -> None:  # type: ignore[no-untyped-def]
    """Average linkage compares every pair of texts, so one mining groups at most
    ``max_grouped`` distinct ones: the most frequent; of equally frequent, the newest."""
    candidates = [Candidate(t) for t in GIFT_CARDS * 2 + STUDENTS + LOOSE]
    capped = suggest_gaps(candidates, embedder, max_grouped=len(GIFT_CARDS) + 1)
    assert (capped.distinct, capped.grouped) == (9, 5)
    # Every gift-card text came twice; of the single ones the first (newest) student question.
    assert [(s.count, set(s.examples)) for s in capped] == [(8, set(GIFT_CARDS))]
    note = "Grouped the 5 most frequent of 9 distinct unanswered messages"
    assert note in gaps_section(capped)
    whole = suggest_gaps(candidates, embedder)
    assert (whole.distinct, whole.grouped) == (9, 9) and [s.count for s in whole] == [8, 3]
    assert "Grouped the" not in gaps_section(whole)


def test_cached_embedder_gives_the_models_vectors_and_embeds_each_text_once(embedder) -> None:  # type: ignore[no-untyped-def]
    texts = GIFT_CARDS + STUDENTS
    cached = CachedEmbedder(embedder, max_entries=5)
    first = cached.encode(texts[:4])
    assert np.allclose(first, embedder.encode(texts[:4]), atol=1e-6)
    again = cached.encode([texts[3], texts[0], texts[3]])  # all known: nothing embedded
    assert np.array_equal(again, first[[3, 0, 3]])
    both = cached.encode(texts)  # 3 new; the cache keeps the 5 used last
    assert np.allclose(both, embedder.encode(texts), atol=1e-6)
    assert list(cached._vectors) == texts[2:]
    assert cached.encode([]).shape == (0, first.shape[1])


def test_mined_from_the_pipeline_tables(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    crm = CrmSettings(database_url=f"sqlite:///{tmp_path / 'gaps.sqlite'}")
    engine = create_db_engine(crm)
    upgrade_schema(engine)
    upgrade_analytics(engine)
    sessions = create_session_factory(engine)
    chat = Tracker(engine, "gaps")
    for text in GIFT_CARDS:
        chat.user(text, "nlu_fallback", 0.2).action("action_default_fallback").bot("Rephrase?")
    chat.user("how long does delivery take?", "ask_faq", 0.2).action("action_answer_faq").bot(
        "2-4 days\n\n(From our FAQ: \u201cHow long does delivery take?\u201d)")  # answered
    chat.user("where is my order 10000101", "order_status", 0.99)  # understood
    settings = AnalyticsSettings(redaction_key="k")
    with write_transaction(sessions) as session:
        run_pipeline(session, settings)
    with read_transaction(sessions) as session:
        suggestions = find_gaps(session, settings, embedder)
    engine.dispose()
    assert [(s.count, set(s.examples)) for s in suggestions] == [(4, set(GIFT_CARDS))]
