"""``crmbot bench faq`` on a slice of StackFAQ, and the CLINC150 out-of-scope query script."""

from __future__ import annotations

import csv
import json
import runpy
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmbot.cli import main
from tests.knowledge.helpers import PROJECT_ROOT, SHARED_DATA

STACKFAQ = SHARED_DATA / "stackfaq"


@pytest.fixture
def stackfaq_slice(tmp_path: Path) -> tuple[Path, Path]:
    if not (STACKFAQ / "faqs.json").is_file():
        pytest.skip(f"StackFAQ not found at {STACKFAQ}")
    faqs = json.loads((STACKFAQ / "faqs.json").read_text())[:15]
    ids = {f["id"] for f in faqs}
    with (STACKFAQ / "queries_dev.csv").open(newline="", encoding="utf-8") as fh:
        queries = [r for r in csv.DictReader(fh) if r["faq_id"] in ids]
    (tmp_path / "faqs.json").write_text(json.dumps(faqs))
    with (tmp_path / "queries.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["query", "faq_id"])
        writer.writeheader()
        writer.writerows(queries)
    return tmp_path / "faqs.json", tmp_path / "queries.csv"


@pytest.mark.slow
def test_bench_faq_writes_predictions_and_metrics(
    tmp_path: Path, stackfaq_slice: tuple[Path, Path]
) -> None:
    faqs, queries = stackfaq_slice
    out = tmp_path / "pred.csv"
    result = CliRunner().invoke(main, ["bench", "faq", "--faqs", str(faqs), "--queries",
                                       str(queries), "--out", str(out), "--latency-sample", "3"])
    assert result.exit_code == 0, result.output
    with queries.open(newline="", encoding="utf-8") as fh:
        expected_queries = [r["query"] for r in csv.DictReader(fh)]
    with out.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["query", "faq_id", "rank", "score", "answered"]
        rows = list(reader)
    assert len(rows) == 5 * len(expected_queries)
    assert [r["query"] for r in rows[::5]] == expected_queries
    assert [r["rank"] for r in rows[:5]] == ["1", "2", "3", "4", "5"]
    for start in range(0, len(rows), 5):
        group = rows[start : start + 5]
        assert len({r["answered"] for r in group}) == 1
        scores = [float(r["score"]) for r in group]
        assert scores == sorted(scores, reverse=True)
    lines = [line.split() for line in result.stdout.splitlines()[1:]]
    metrics = dict(parts for parts in lines if len(parts) == 2)
    assert float(metrics["precision@1"]) >= 0.9
    assert float(metrics["recall@5"]) >= 0.97
    assert float(metrics["answered_rate"]) >= 0.9


@pytest.mark.slow
def test_bench_faq_without_labels_reports_answered_rate(
    tmp_path: Path, stackfaq_slice: tuple[Path, Path]
) -> None:
    faqs, _ = stackfaq_slice
    queries = tmp_path / "oos.csv"
    queries.write_text("query\nwhat is the capital of Peru\nhow do I bake bread\n\n")
    result = CliRunner().invoke(main, ["bench", "faq", "--faqs", str(faqs), "--queries",
                                       str(queries), "--out", str(tmp_path / "p.csv"),
                                       "--latency-sample", "0"])
    assert result.exit_code == 0, result.output
    assert "answered_rate    0.0000" in result.output
    assert "precision@1" not in result.output


def test_make_oos_queries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clinc = tmp_path / "clinc.json"
    clinc.write_text(json.dumps({"oos_train": [["how is glue made", "oos"]],
                                 "oos_val": [["a show on broadway", "oos"], ["x, \"y\"", "oos"]]}))
    out = tmp_path / "oos.csv"
    monkeypatch.setattr(sys, "argv", ["make_oos_queries.py", str(clinc), "--split", "oos_val",
                                      "--split", "oos_train", "--out", str(out)])
    runpy.run_path(str(PROJECT_ROOT / "benchmarks" / "make_oos_queries.py"), run_name="__main__")
    with out.open(newline="", encoding="utf-8") as fh:
        assert list(csv.DictReader(fh)) == [{"query": "a show on broadway"}, {"query": 'x, "y"'},
                                            {"query": "how is glue made"}]
