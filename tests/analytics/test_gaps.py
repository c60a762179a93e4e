"""Unanswered-question mining with the real MiniLM model (the FAQ index's ``Embedder``)."""

from __future__ import annotations

import pytest

from analytics import AnalyticsSettings
from analytics.errors import InvalidInputData
from analytics.gaps import Candidate, find_gaps, load_embedder, suggest_gaps
from analytics.pipeline import run_pipeline
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
