"""Helpers shared by the knowledge tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from knowledge import Faq, KnowledgeSettings, load_corpus
from knowledge.settings import DEFAULT_CORPUS_PATH, PROJECT_ROOT

DATA = Path(__file__).parent / "data"
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"

__all__ = ["DATA", "DEFAULT_CORPUS_PATH", "PROJECT_ROOT", "SHARED_DATA", "make_settings",
           "small_corpus"]


def make_settings(tmp: Path, **overrides: object) -> KnowledgeSettings:
    """Settings isolated from the developer's environment and var/ folder."""
    values: dict[str, object] = {"corpus_path": DEFAULT_CORPUS_PATH, "index_dir": tmp / "index"}
    values.update(overrides)
    return KnowledgeSettings(**values)  # type: ignore[arg-type]


def small_corpus(n: int = 30) -> list[Faq]:
    """The first ``n`` shop FAQs: enough for centring, quick to embed."""
    return load_corpus(DEFAULT_CORPUS_PATH)[:n]
