"""Fixtures for the knowledge tests: the real model, loaded once per session, and real indexes."""

from __future__ import annotations

import os

import pytest

# The tests are an entry point: models are loaded by path, never from a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from knowledge import Embedder, Faq, FaqRetriever, KnowledgeSettings, load_corpus  # noqa: E402
from tests.knowledge.helpers import DEFAULT_CORPUS_PATH, make_settings  # noqa: E402


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder.load(KnowledgeSettings()).warm_up()


@pytest.fixture(scope="session")
def shop_faqs() -> list[Faq]:
    return load_corpus(DEFAULT_CORPUS_PATH)


@pytest.fixture(scope="session")
def shop_retriever(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, shop_faqs: list[Faq]
) -> FaqRetriever:
    settings = make_settings(tmp_path_factory.mktemp("shop-index"))
    return FaqRetriever.build(shop_faqs, settings, embedder=embedder)
