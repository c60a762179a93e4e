"""`crmbot bench intents` data handling and metrics (no Rasa needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from crmbot.nlu_bench import (
    BenchError,
    IntentData,
    intent_metrics,
    predicted_label,
    read_intent_data,
    write_rasa_nlu,
)


def test_reads_csv_with_and_without_labels(tmp_path: Path) -> None:
    path = tmp_path / "test.csv"
    path.write_text('text,category\n"hello, ""you""",greet\nno label here,\n', encoding="utf-8")

    data = read_intent_data(path, "test")

    assert data.texts == ['hello, "you"', "no label here"]
    assert data.labels == ["greet", None]


def test_reads_clinc_json_splits(tmp_path: Path) -> None:
    rows = {"train": [["a", "x"]], "oos_train": [["b", "oos"]], "val": [["c", "x"]],
            "oos_val": [["d", "oos"]]}  # fmt: skip
    path = tmp_path / "clinc.json"
    path.write_text(json.dumps(rows), encoding="utf-8")

    assert read_intent_data(path, "train").texts == ["a", "b"]
    assert read_intent_data(path, "test").labels == ["x", "oos"]  # val + oos_val

    rows.update({"test": [["e", "y"]], "oos_test": [["f", "oos"]]})
    path.write_text(json.dumps(rows), encoding="utf-8")
    assert read_intent_data(path, "test").texts == ["e", "f"]  # test + oos_test first


def test_refuses_data_it_cannot_use(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("sentence,label\nhi,greet\n", encoding="utf-8")
    (tmp_path / "bad.json").write_text(json.dumps({"other": []}), encoding="utf-8")

    with pytest.raises(BenchError, match="'text' column"):
        read_intent_data(tmp_path / "bad.csv", "train")
    with pytest.raises(BenchError, match="'train'"):
        read_intent_data(tmp_path / "bad.json", "train")


def test_rasa_yaml_keeps_awkward_texts(tmp_path: Path) -> None:
    texts = ['card "new", not: arrived #2', "  spaced\tout\nnewline  ", "Ünïcödé 💳", "- dash"]
    data = IntentData(texts + ["other"], ["card: arrival"] * 4 + ["other"])

    count = write_rasa_nlu(data, tmp_path / "nlu.yml")

    nlu = yaml.safe_load((tmp_path / "nlu.yml").read_text(encoding="utf-8"))["nlu"]
    examples = [line[2:] for line in nlu[0]["examples"].splitlines()]
    assert count == 5
    assert nlu[0]["intent"] == "card: arrival"
    assert examples == ['card "new", not: arrived #2', "spaced out newline", "Ünïcödé 💳", "- dash"]


def test_metrics_with_out_of_scope() -> None:
    gold = ["a", "a", "b", "oos", "oos", None]
    predicted = ["a", "b", "b", "oos", "a", "oos"]

    metrics = intent_metrics(gold, predicted)

    assert metrics["labelled"] == 5
    assert metrics["accuracy"] == pytest.approx(3 / 5)
    assert metrics["in_scope_accuracy"] == pytest.approx(2 / 3)
    assert metrics["oos_recall"] == pytest.approx(1 / 2)
    # F1: a 2/3 (tp 1, gold 2, pred 2 -> 0.5), b (tp 1, gold 1, pred 2 -> 2/3), oos (1, 2, 1 -> 2/3)
    assert metrics["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3)


def test_fallback_is_reported_as_oos_with_the_best_intents_confidence() -> None:
    fallback = {"intent": "nlu_fallback", "confidence": 0.15,
                "ranking": [["nlu_fallback", 0.15], ["card_arrival", 0.04]]}  # fmt: skip

    assert predicted_label(fallback) == ("oos", 0.04)
    assert predicted_label({"intent": "card_arrival", "confidence": 0.9}) == ("card_arrival", 0.9)
    assert predicted_label({"intent": None, "confidence": 0.0}) == ("oos", 0.0)
