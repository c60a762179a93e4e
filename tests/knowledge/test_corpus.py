"""The shop corpus file and the YAML corpus format."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge import CorpusError, load_corpus, save_corpus
from knowledge.settings import DEFAULT_CORPUS_PATH

CATEGORIES = {"shipping", "returns", "refunds", "payments", "account", "products", "privacy",
              "orders", "contact"}


def test_shop_corpus_is_complete() -> None:
    faqs = load_corpus(DEFAULT_CORPUS_PATH)
    assert len(faqs) >= 80
    assert len({f.id for f in faqs}) == len(faqs)
    assert all(f.answer.strip() and f.question.strip() for f in faqs)
    assert {f.category for f in faqs} == CATEGORIES
    assert sum(1 for f in faqs if f.alternatives) >= 0.9 * len(faqs)


def test_shop_corpus_states_the_30_day_return_window() -> None:
    by_id = {f.id: f for f in load_corpus(DEFAULT_CORPUS_PATH)}
    assert "30 days of delivery" in by_id["returns-policy"].answer
    assert "EUR" in by_id["shipping-cost"].answer


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    faqs = load_corpus(DEFAULT_CORPUS_PATH)
    save_corpus(tmp_path / "copy.yml", faqs)
    assert load_corpus(tmp_path / "copy.yml") == faqs


def test_duplicate_ids_and_empty_answers_are_reported_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(
        "faqs:\n"
        "- id: a\n  question: Q1?\n  answer: A1\n"
        "- id: a\n  question: Q2?\n  answer: A2\n"
        "- id: b\n  question: Q3?\n  answer: '  '\n"
        "- id: c\n  question: Q4?\n  answer: A4\n  colour: red\n"
    )
    with pytest.raises(CorpusError) as caught:
        load_corpus(path)
    message = str(caught.value)
    assert "line 5: duplicate id 'a' (first at line 2)" in message
    assert "line 8 (id 'b'): answer" in message
    assert "line 11 (id 'c'): colour: Extra inputs are not permitted" in message


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("faqs:\n- id: a\n  question: [unclosed\n  answer: x\n")
    with pytest.raises(CorpusError, match=r"line \d+, column \d+: not valid YAML"):
        load_corpus(path)


def test_missing_corpus_file_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="KNOWLEDGE_CORPUS_PATH"):
        load_corpus(tmp_path / "nope.yml")
