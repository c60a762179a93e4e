"""Reusing the NLU's sentence vector for FAQ search (knowledge/query_vector.py)."""

from __future__ import annotations

import base64
import hashlib

import numpy as np
import pytest

from knowledge import Embedder, FaqRetriever
from knowledge.query_vector import PARSE_KEY, packaged_model_id, text_digest

RETURNS = "how many days do I have to return stuff"
DECLINED = "my credit card got declined"


def payload(embedder: Embedder, encoded_text: str, labelled_text: str,
            model: str | None = None) -> dict[str, object]:
    """Parse data as bot.components.minilm_featurizer writes it (float16, base64)."""
    vector = embedder.encode([encoded_text])[0]
    return {"text": labelled_text, PARSE_KEY: {
        "model": model or packaged_model_id(),
        "sha1": hashlib.sha1(labelled_text.encode(), usedforsecurity=False).hexdigest()[:16],
        "f16": base64.b64encode(vector.astype("<f2").tobytes()).decode(),
    }}


def test_the_vector_of_the_same_text_gives_the_same_answer(
    shop_retriever: FaqRetriever, embedder: Embedder
) -> None:
    known = shop_retriever.known_vector(payload(embedder, RETURNS, RETURNS))
    assert known is not None and known.is_for(RETURNS)
    assert known.text_sha1 == text_digest(RETURNS)
    reused, encoded = shop_retriever.answer(RETURNS, known=known), shop_retriever.answer(RETURNS)
    assert reused is not None and encoded is not None
    assert reused.faq_id == encoded.faq_id == "returns-policy"
    assert reused.score == pytest.approx(encoded.score, abs=2e-3)  # float16 rounding only


def test_the_known_vector_is_what_gets_searched(
    shop_retriever: FaqRetriever, embedder: Embedder
) -> None:
    # a vector of another text under this text's digest: the semantic scores follow the vector
    swapped = shop_retriever.known_vector(payload(embedder, DECLINED, RETURNS))
    assert swapped is not None
    reused = shop_retriever.search(RETURNS, k=1, known=swapped)[0]
    encoded = shop_retriever.search(RETURNS, k=1)[0]
    assert (reused.faq_id, reused.score) != (encoded.faq_id, encoded.score)


def test_a_vector_of_another_text_is_not_used(
    shop_retriever: FaqRetriever, embedder: Embedder
) -> None:
    other = shop_retriever.known_vector(payload(embedder, DECLINED, DECLINED))
    assert other is not None and not other.is_for(RETURNS)
    assert shop_retriever.search(RETURNS, k=3, known=other) == shop_retriever.search(RETURNS, k=3)


@pytest.mark.parametrize("broken", [
    {"model": "some-other-model==1.0"},
    {"sha1": 42},
    {"f16": "not base64 at all!"},
    {"f16": base64.b64encode(b"\x00\x3c" * 10).decode()},  # 10 values, not 384
    {"f16": base64.b64encode(np.zeros(384, "<f2").tobytes()).decode()},  # no direction
    {"f16": base64.b64encode(np.full(384, np.inf, "<f2").tobytes()).decode()},
])
def test_malformed_or_foreign_vectors_are_ignored(
    shop_retriever: FaqRetriever, embedder: Embedder, broken: dict[str, object]
) -> None:
    parse_data = payload(embedder, RETURNS, RETURNS)
    parse_data[PARSE_KEY] = {**parse_data[PARSE_KEY], **broken}  # type: ignore[dict-item]
    assert shop_retriever.known_vector(parse_data) is None


@pytest.mark.parametrize("parse_data", [None, "text", {}, {"text": RETURNS},
                                        {PARSE_KEY: "nope"}, {PARSE_KEY: None}])
def test_messages_without_a_vector_are_encoded(shop_retriever: FaqRetriever,
                                               parse_data: object) -> None:
    assert shop_retriever.known_vector(parse_data) is None
