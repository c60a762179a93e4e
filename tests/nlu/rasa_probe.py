"""Run by tests/nlu with `.venv-rasa/bin/python` (repository root on PYTHONPATH), never imported.

    python tests/nlu/rasa_probe.py SENTENCES.json OUT.json

Encodes the sentences with `SentenceEncoder` and featurizes them with `WhitespaceTokenizer` +
`MiniLMFeaturizer` as the pipeline does, then writes the sentence vectors and, per message, the
token count and the shapes of the features the featurizer added.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.minilm_featurizer import MiniLMFeaturizer
from bot.components.sentence_encoder import SentenceEncoder, default_model_dir


def main() -> None:
    sentences = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    encoder = SentenceEncoder(default_model_dir(), batch_size=2)  # several batches
    vectors = encoder.encode_sentences(sentences)

    context = ExecutionContext(GraphSchema({}), node_name="probe_minilm")
    featurizer = MiniLMFeaturizer.create(
        {**MiniLMFeaturizer.get_default_config(), "batch_size": 3}, None, None, context
    )
    tokenizer = WhitespaceTokenizer({**WhitespaceTokenizer.get_default_config()})
    training = TrainingData([Message(data={TEXT: s, "intent": "x"}) for s in sentences])
    tokenizer.process_training_data(training)
    featurizer.process_training_data(training)
    inference = [Message(data={TEXT: s}) for s in sentences]
    tokenizer.process(inference)
    featurizer.process(inference)

    report = []
    for train_msg, live_msg in zip(training.training_examples, inference):
        seq, sent = train_msg.get_dense_features(TEXT)
        live_seq, live_sent = live_msg.get_dense_features(TEXT)
        report.append(
            {
                "tokens": len(train_msg.get("text_tokens")),
                "sequence_shape": list(seq.features.shape),
                "sentence_shape": list(sent.features.shape),
                "origins": sorted({f.origin for f in train_msg.features}),
                "train_equals_inference": bool(
                    np.allclose(sent.features, live_sent.features, atol=1e-5)
                    and np.allclose(seq.features, live_seq.features, atol=1e-5)
                ),
                "sentence": sent.features[0].tolist(),
            }
        )
    Path(sys.argv[2]).write_text(
        json.dumps({"vectors": vectors.tolist(), "dim": encoder.dim, "messages": report}),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
