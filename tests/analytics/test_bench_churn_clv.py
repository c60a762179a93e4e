"""``crmbot bench churn`` and ``crmbot bench clv`` on the public data, through the real CLI."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmbot.bench_clv import PAPER_BGNBD, PAPER_GAMMA_GAMMA
from crmbot.cli import main
from tests.analytics.customer_data import SHARED_DATA
from tests.conftest import skip_or_fail

TELCO = SHARED_DATA / "telco_churn" / "train.csv"
CDNOW = SHARED_DATA / "cdnow" / "CDNOW_sample.txt"
FAST_MODEL = "logreg + engineered, C=0.1"


def need(path: Path) -> Path:
    if not path.is_file():
        skip_or_fail(f"benchmark data not found at {path}")
    return path


@pytest.fixture(scope="module")
def telco_split(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, list[str]]:
    """train.csv cut in two: 4,500 rows to train on, the rest to score with and without labels."""
    rows = list(csv.DictReader(need(TELCO).open(newline="", encoding="utf-8")))
    folder = tmp_path_factory.mktemp("telco")
    fields = list(rows[0])
    paths = {}
    for name, part, columns in (("train", rows[:4500], fields), ("test", rows[4500:], fields),
                                ("unlabelled", rows[4500:], [f for f in fields if f != "Churn"])):
        paths[name] = folder / f"{name}.csv"
        with paths[name].open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(part)
    ids = [r["customerID"] for r in rows[4500:]]
    return paths["train"], paths["test"], paths["unlabelled"], ids


def metric(output: str, name: str) -> float:
    found = re.search(rf"^\s+{name}\s+(-?[0-9.]+)$", output, re.MULTILINE)
    assert found, f"{name} not in output:\n{output}"
    return float(found.group(1))


def read_predictions(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_bench_churn_scores_a_labelled_test_file(telco_split, tmp_path: Path) -> None:
    train, test, _, ids = telco_split
    out = tmp_path / "pred.csv"
    result = CliRunner().invoke(main, ["bench", "churn", "--train", str(train), "--test", str(test),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert metric(result.output, "test_roc_auc") >= 0.82
    predictions = read_predictions(out)
    assert [p["customerID"] for p in predictions] == ids
    assert all(0.0 <= float(p["churn_probability"]) <= 1.0 for p in predictions)


def test_bench_churn_without_labels_writes_predictions_only(telco_split, tmp_path: Path) -> None:
    train, _, unlabelled, ids = telco_split
    out = tmp_path / "pred.csv"
    result = CliRunner().invoke(main, ["bench", "churn", "--train", str(train), "--test",
                                       str(unlabelled), "--out", str(out), "--model", FAST_MODEL,
                                       "--cv", "3"])
    assert result.exit_code == 0, result.output
    assert "test_roc_auc" not in result.output
    assert metric(result.output, "cv_roc_auc_mean") > 0.8
    assert "hold-out 80/20" in result.output
    assert [p["customerID"] for p in read_predictions(out)] == ids


def test_bench_churn_rejects_broken_files_clearly(telco_split, tmp_path: Path) -> None:
    train, test, _, _ = telco_split
    broken = tmp_path / "broken.csv"
    broken.write_text("customerID,tenure\n1,2\n")
    result = CliRunner().invoke(main, ["bench", "churn", "--train", str(broken), "--test",
                                       str(test), "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 1 and "missing columns" in result.output
    bad_number = tmp_path / "bad.csv"
    text = test.read_text().splitlines()
    header = text[0].split(",")
    row = text[1].split(",")
    row[header.index("MonthlyCharges")] = "<script>"
    bad_number.write_text("\n".join([text[0], ",".join(row)]) + "\n")
    result = CliRunner().invoke(main, ["bench", "churn", "--train", str(train), "--test",
                                       str(bad_number), "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 1 and "line 2: MonthlyCharges is not a number" in result.output
    assert not (tmp_path / "p.csv").exists()


def test_bench_clv_matches_the_paper(tmp_path: Path) -> None:
    out, values = tmp_path / "params.json", tmp_path / "values.csv"
    result = CliRunner().invoke(main, ["bench", "clv", "--transactions", str(need(CDNOW)),
                                       "--calibration-end", "1997-09-30", "--out", str(out),
                                       "--values", str(values)])
    assert result.exit_code == 0, result.output
    params = json.loads(out.read_text())
    for name, paper in {**PAPER_BGNBD, **PAPER_GAMMA_GAMMA}.items():
        assert params[name] == pytest.approx(paper, rel=0.01), name
    assert params["customers"] == 2357 and params["gamma_gamma"]["customers"] == 946
    with values.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2357 and {"clv", "probability_alive", "expected_purchases"} <= set(rows[0])
    # The file runs 39 weeks past the calibration: the forecast is checked on them.
    holdout = params["holdout"]
    assert holdout["holdout_weeks"] == 39 and holdout["customers"] == 2357
    assert holdout["mae"] < holdout["naive_mae"]
    assert "holdout_predicted_purchases" in result.output


def test_bench_clv_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.txt"
    broken.write_text(" 00001 0001 19970101  2   29.33\n 00002 0002 1997-01-02  1   DROP TABLE\n")
    result = CliRunner().invoke(main, ["bench", "clv", "--transactions", str(broken),
                                       "--calibration-end", "1997-09-30",
                                       "--out", str(tmp_path / "p.json")])
    assert result.exit_code == 1 and "line 2" in result.output
    assert not (tmp_path / "p.json").exists()
    broken.write_text("19970101 2\n19970102 1\n")
    result = CliRunner().invoke(main, ["bench", "clv", "--transactions", str(broken),
                                       "--calibration-end", "1997-09-30",
                                       "--out", str(tmp_path / "p.json")])
    assert result.exit_code == 1, result.output
    assert "expected 4 or 5 whitespace-separated columns" in result.output
    assert "found 2" in result.output
