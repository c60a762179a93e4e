"""Index artifacts: build, sidecar, reload, and stale detection (real model, real FAISS)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmbot.cli import main
from knowledge import (
    Embedder,
    Faq,
    FaqIndex,
    FaqRetriever,
    IndexNotFound,
    IndexStale,
    IndexWriteFailed,
    KnowledgeSettings,
    artifact_paths,
    build_index,
    corpus_hash,
    load_index,
    save_corpus,
)
from tests.knowledge.helpers import make_settings, small_corpus

Built = tuple[list[Faq], KnowledgeSettings, FaqIndex]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A corpus file and its index, built once; each test gets a copy to damage."""
    root = tmp_path_factory.mktemp("index-template")
    corpus_path = root / "faqs.yml"
    save_corpus(corpus_path, small_corpus())
    build_index(small_corpus(), embedder, make_settings(root, corpus_path=corpus_path),
                corpus_path=corpus_path)
    return root


@pytest.fixture
def built(tmp_path: Path, template: Path, embedder: Embedder) -> Built:
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    faqs = small_corpus()
    settings = make_settings(tmp_path, corpus_path=tmp_path / "faqs.yml", rebuild_stale_index=False)
    # The sidecar names the corpus file it was built from; point it at the copy.
    _, json_path = artifact_paths(settings.index_dir, corpus_hash(faqs))
    sidecar = json.loads(json_path.read_text())
    sidecar["corpus_path"] = str(settings.corpus_path)
    json_path.write_text(json.dumps(sidecar))
    return faqs, settings, load_index(faqs, embedder, settings)


def test_build_writes_index_and_sidecar(built: Built, embedder: Embedder) -> None:
    faqs, settings, index = built
    faiss_path, json_path = artifact_paths(settings.index_dir, corpus_hash(faqs))
    assert faiss_path.name == f"faq-index-{corpus_hash(faqs)}.faiss"
    assert faiss_path.is_file() and json_path.is_file()
    sidecar = json.loads(json_path.read_text())
    assert sidecar["model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert sidecar["model"]["fingerprint"] == embedder.fingerprint
    assert sidecar["dimension"] == 384
    assert sidecar["count"] == sum(len(f.phrasings) + 1 for f in faqs)
    assert sidecar["faq_count"] == len(faqs)
    assert sidecar["corpus_hash"] == corpus_hash(faqs)
    assert sidecar["threshold"] == settings.answer_threshold
    assert "oos_train" in sidecar["threshold_calibration"]
    assert sidecar["created_at"]


def test_reload_gives_the_same_results(built: Built, embedder: Embedder) -> None:
    faqs, settings, index = built
    fresh = FaqRetriever(faqs, index, embedder, settings)
    reloaded = FaqRetriever.load(settings, embedder=embedder)
    assert reloaded.index.index.ntotal == index.index.ntotal
    query = "how much does delivery cost"
    assert fresh.search(query) == reloaded.search(query)
    assert reloaded.search(query)[0].faq_id == "shipping-cost"


def test_changed_corpus_is_detected(built: Built, embedder: Embedder) -> None:
    faqs, settings, _ = built
    changed = [faqs[0].model_copy(update={"answer": "Shipping is now free."}), *faqs[1:]]
    save_corpus(settings.corpus_path, changed)
    with pytest.raises(IndexNotFound, match="crmbot knowledge index"):
        FaqRetriever.load(settings, embedder=embedder)
    rebuilt = FaqRetriever.load(settings.model_copy(update={"rebuild_stale_index": True}),
                                embedder=embedder)
    assert rebuilt.index.sidecar["corpus_hash"] == corpus_hash(changed)
    # The outdated artifact of the same corpus file is removed.
    assert sorted(p.name for p in settings.index_dir.iterdir()) == sorted(
        p.name for p in artifact_paths(settings.index_dir, corpus_hash(changed)))


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("count", 3, "count is 3"),
        ("dimension", 768, "dimension is 768"),
        ("model", {"name": "other", "fingerprint": "0000"}, "model fingerprint"),
        ("format", "faq-index/0", "format is"),
    ],
)
def test_sidecar_mismatch_is_stale(
    built: Built, embedder: Embedder, field: str, value: object, reason: str
) -> None:
    faqs, settings, _ = built
    _, json_path = artifact_paths(settings.index_dir, corpus_hash(faqs))
    sidecar = json.loads(json_path.read_text())
    sidecar[field] = value
    json_path.write_text(json.dumps(sidecar))
    with pytest.raises(IndexStale, match=reason):
        load_index(faqs, embedder, settings)


def test_corrupt_index_file_is_stale(built: Built, embedder: Embedder) -> None:
    faqs, settings, _ = built
    faiss_path, _ = artifact_paths(settings.index_dir, corpus_hash(faqs))
    faiss_path.write_bytes(b"not a faiss index")
    with pytest.raises(IndexStale, match="unreadable index"):
        load_index(faqs, embedder, settings)


def test_cli_index_is_up_to_date_after_a_build(built: Built) -> None:
    _, settings, _ = built
    result = CliRunner().invoke(main, ["knowledge", "index", "--corpus", str(settings.corpus_path),
                                       "--index-dir", str(settings.index_dir)])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def test_unwritable_index_dir_is_a_clear_error(tmp_path: Path, embedder: Embedder) -> None:
    (tmp_path / "a-file").write_text("")
    settings = make_settings(tmp_path, index_dir=tmp_path / "a-file" / "index")
    with pytest.raises(IndexWriteFailed, match="KNOWLEDGE_INDEX_DIR"):
        FaqRetriever.load(settings, embedder=embedder, faqs=small_corpus(3))
