"""The FAISS index of an FAQ corpus and its JSON sidecar: build, save, load, check.

Rows, in corpus order: for each FAQ, one row per phrasing (question, then alternatives), then
one row for question + answer. Vectors are L2-normalised after subtracting the corpus centroid
(corpora of at least ``MIN_FAQS_FOR_CENTRING`` entries): removing the direction every text of
a one-domain corpus shares makes cosine separate its entries better. Inner product on those
vectors (``IndexFlatIP``) is cosine similarity, searched exactly.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from knowledge.corpus import INDEX_FORMAT, Faq, corpus_hash
from knowledge.embedder import Embedder
from knowledge.errors import IndexNotFound, IndexStale, IndexWriteFailed
from knowledge.settings import THRESHOLD_CALIBRATION, KnowledgeSettings

logger = logging.getLogger(__name__)

MIN_FAQS_FOR_CENTRING = 20
ARTIFACT_PREFIX = "faq-index-"


@dataclass(frozen=True)
class Layout:
    """Which FAQ each index row belongs to, and whether it is the question+answer row."""

    row_faq: np.ndarray[Any, Any]
    row_is_doc: np.ndarray[Any, Any]

    @classmethod
    def of(cls, faqs: Sequence[Faq]) -> Layout:
        owner: list[int] = []
        is_doc: list[bool] = []
        for i, faq in enumerate(faqs):
            owner += [i] * (len(faq.phrasings) + 1)
            is_doc += [False] * len(faq.phrasings) + [True]
        return cls(np.array(owner, dtype=np.int64), np.array(is_doc, dtype=bool))

    @staticmethod
    def texts(faqs: Sequence[Faq]) -> list[str]:
        return [t for f in faqs for t in (*f.phrasings, f"{f.question}\n{f.answer}")]

    @property
    def count(self) -> int:
        return len(self.row_faq)


def artifact_paths(index_dir: Path, chash: str) -> tuple[Path, Path]:
    stem = Path(index_dir) / f"{ARTIFACT_PREFIX}{chash}"
    return stem.with_suffix(".faiss"), stem.with_suffix(".json")


def centre_and_normalise(
    vectors: np.ndarray[Any, Any], centre: np.ndarray[Any, Any] | None
) -> np.ndarray[Any, Any]:
    out = vectors if centre is None else vectors - centre
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.ascontiguousarray(out / np.maximum(norms, 1e-12), dtype=np.float32)


@dataclass
class FaqIndex:
    index: faiss.Index
    sidecar: dict[str, Any]
    faiss_path: Path

    @property
    def centre(self) -> np.ndarray[Any, Any] | None:
        centre = self.sidecar.get("centre")
        return None if centre is None else np.asarray(centre, dtype=np.float32)


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("faiss-cpu", "sentence-transformers", "torch", "numpy", "scikit-learn"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def _write_atomic(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_index(
    faqs: Sequence[Faq],
    embedder: Embedder,
    settings: KnowledgeSettings,
    *,
    corpus_path: Path | None = None,
    progress: bool = False,
    centre: bool = True,
) -> FaqIndex:
    """Embed the corpus, write ``faq-index-<hash>.faiss`` and ``.json`` into ``index_dir``."""
    started = time.perf_counter()
    chash = corpus_hash(faqs)
    vectors = embedder.encode(Layout.texts(faqs), progress=progress)
    mean = vectors.mean(axis=0) if centre and len(faqs) >= MIN_FAQS_FOR_CENTRING else None
    vectors = centre_and_normalise(vectors, mean)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    faiss_path, json_path = artifact_paths(settings.index_dir, chash)
    sidecar = {
        "format": INDEX_FORMAT,
        "model": {
            "name": embedder.name,
            "path": str(embedder.path),
            "fingerprint": embedder.fingerprint,
        },
        "dimension": int(vectors.shape[1]),
        "count": int(index.ntotal),
        "faq_count": len(faqs),
        "corpus_hash": chash,
        "corpus_path": str(corpus_path) if corpus_path else None,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "threshold": settings.answer_threshold,
        "threshold_calibration": THRESHOLD_CALIBRATION,
        "weights": {"question": 1.0, "doc": settings.doc_weight, "word": settings.word_weight,
                    "char": settings.char_weight},
        "build_seconds": round(time.perf_counter() - started, 2),
        "versions": _versions(),
        "centre": None if mean is None else [float(x) for x in mean],
    }
    try:
        Path(settings.index_dir).mkdir(parents=True, exist_ok=True)
        _write_atomic(faiss_path, lambda tmp: faiss.write_index(index, tmp))
        _write_atomic(json_path, lambda tmp: Path(tmp).write_text(json.dumps(sidecar, indent=1)))
    except (OSError, RuntimeError) as exc:
        raise IndexWriteFailed(
            f"cannot write the FAQ index to {settings.index_dir}: {exc} "
            "(set KNOWLEDGE_INDEX_DIR to a writable folder)"
        ) from exc
    logger.info("built FAQ index %s: %s FAQs, %s vectors in %.1fs",
                chash, len(faqs), index.ntotal, sidecar["build_seconds"])
    if corpus_path:
        _prune(settings.index_dir, keep=chash, corpus_path=str(corpus_path))
    return FaqIndex(index=index, sidecar=sidecar, faiss_path=faiss_path)


def _prune(index_dir: Path, *, keep: str, corpus_path: str) -> None:
    """Delete older artifacts built from the same corpus file."""
    for json_path in Path(index_dir).glob(f"{ARTIFACT_PREFIX}*.json"):
        if json_path.stem == f"{ARTIFACT_PREFIX}{keep}":
            continue
        try:
            if json.loads(json_path.read_text()).get("corpus_path") != corpus_path:
                continue
        except (OSError, ValueError):
            continue
        json_path.with_suffix(".faiss").unlink(missing_ok=True)
        json_path.unlink(missing_ok=True)
        logger.info("removed outdated index %s", json_path.stem)


def check_sidecar(sidecar: dict[str, Any], faqs: Sequence[Faq], embedder: Embedder) -> list[str]:
    """Reasons why an index does not fit this corpus and model (empty when it fits)."""
    expected = {
        "format": INDEX_FORMAT,
        "corpus_hash": corpus_hash(faqs),
        "dimension": embedder.dimension,
        "count": Layout.of(faqs).count,
        "model fingerprint": embedder.fingerprint,
    }
    found = dict(sidecar)
    found["model fingerprint"] = (sidecar.get("model") or {}).get("fingerprint")
    return [
        f"{key} is {found.get(key)!r}, expected {value!r}"
        for key, value in expected.items()
        if found.get(key) != value
    ]


def load_index(faqs: Sequence[Faq], embedder: Embedder, settings: KnowledgeSettings) -> FaqIndex:
    """Load the index of this corpus; raise ``IndexNotFound`` or ``IndexStale`` if unusable."""
    chash = corpus_hash(faqs)
    faiss_path, json_path = artifact_paths(settings.index_dir, chash)
    if not (faiss_path.is_file() and json_path.is_file()):
        raise IndexNotFound(
            f"no FAQ index for corpus {chash} in {settings.index_dir} (the corpus is new or "
            "changed): run `crmbot knowledge index`"
        )
    try:
        sidecar = json.loads(json_path.read_text(encoding="utf-8"))
        if not isinstance(sidecar, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise IndexStale(
            f"{json_path}: unreadable sidecar ({exc}): run `crmbot knowledge index`"
        ) from exc
    problems = check_sidecar(sidecar, faqs, embedder)
    if not problems:
        try:
            index = faiss.read_index(str(faiss_path))
        except RuntimeError as exc:
            raise IndexStale(
                f"{faiss_path}: unreadable index: run `crmbot knowledge index`"
            ) from exc
        if index.ntotal != sidecar["count"] or index.d != sidecar["dimension"]:
            problems.append(f"index file has {index.ntotal} vectors of dimension {index.d}, "
                            f"sidecar says {sidecar['count']} of {sidecar['dimension']}")
    if problems:
        raise IndexStale(f"{json_path.name} does not match: " + "; ".join(problems)
                         + ": run `crmbot knowledge index`")
    logger.debug("loaded FAQ index %s (%s vectors)", chash, index.ntotal)
    return FaqIndex(index=index, sidecar=sidecar, faiss_path=faiss_path)
