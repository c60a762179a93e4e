"""``crmbot bench demand`` and ``crmbot bench recs`` on a small Online Retail file: the
prediction files have the promised shape and broken inputs are clear errors."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from crmbot.cli import main

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twenty weeks of a small shop (30 products, 40 customers) until 2011-10-31, gzipped,
    with a cancellation and a guest order in it."""
    rng = np.random.default_rng(11)
    lines = [HEADER]
    day0 = np.datetime64("2011-06-13")
    invoice = 540000
    for d in range(140):
        for _ in range(int(rng.integers(1, 5))):
            invoice += 1
            customer = f"{12000 + int(rng.integers(0, 40))}.0"
            when = f"{day0 + np.timedelta64(d, 'D')} 10:{int(rng.integers(10, 59))}:00"
            for code in set(rng.integers(0, 30, size=3).tolist()):
                qty = int(rng.integers(1, 24))
                lines.append(f"{invoice},P{code:02d},THING {code},{qty},{when},1.25,{customer},"
                             "United Kingdom\n")
    lines.append("C549999,P01,THING 1,-3,2011-10-30 11:00:00,1.25,12001.0,United Kingdom\n")
    lines.append("C549997,P01,THING 1,-1,2011-10-30 11:00:00,1.25,13999.0,United Kingdom\n")
    lines.append("549998,P02,THING 2,5,2011-10-30 11:00:00,1.25,,France\n")
    path = tmp_path_factory.mktemp("retail") / "history.csv.gz"
    path.write_bytes(gzip.compress("".join(lines).encode()))
    return path


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_bench_demand_writes_every_item_and_week(history: Path, tmp_path: Path) -> None:
    items = tmp_path / "items.txt"
    items.write_text("P01\nP02\n\nNEW-ONE\np03\n")
    out = tmp_path / "pred.csv"
    result = CliRunner().invoke(main, [
        "bench", "demand", "--history", str(history), "--cutoff", "2011-11-01", "--weeks", "4",
        "--items", str(items), "--out", str(out), "--backtest", "2011-10-04"])

    assert result.exit_code == 0, result.output
    predicted = rows(out)
    assert list(predicted[0]) == ["stock_code", "week_start", "forecast_units"]
    assert len(predicted) == 4 * 4
    assert {r["stock_code"] for r in predicted} == {"P01", "P02", "NEW-ONE", "P03"}
    assert sorted({r["week_start"] for r in predicted}) == [
        "2011-11-01", "2011-11-08", "2011-11-15", "2011-11-22"]
    assert all(float(r["forecast_units"]) >= 0 for r in predicted)
    assert {float(r["forecast_units"]) for r in predicted if r["stock_code"] == "NEW-ONE"} == {0.0}
    assert "items_without_history 1" in " ".join(result.output.split())
    assert "2011-10-04" in result.output and "mean4" in result.output
    assert "mean top200" in " ".join(result.output.split())  # the gain averaged over cutoffs


def test_bench_demand_refuses_broken_inputs(history: Path, tmp_path: Path) -> None:
    items = tmp_path / "items.txt"
    items.write_text("\n# nothing\n")
    out = tmp_path / "pred.csv"
    args = ["bench", "demand", "--history", str(history), "--cutoff", "2011-11-01",
            "--items", str(items), "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0 and "no stock codes" in result.output

    items.write_text("P01\n")
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(history.read_bytes()[:500])
    result = CliRunner().invoke(main, [*args[:2], "--history", str(broken), *args[4:]])
    assert result.exit_code != 0 and "broken.csv.gz: not a readable gzip file" in result.output
    result = CliRunner().invoke(main, [*args[:4], "--cutoff", "2010-01-01", *args[6:]])
    assert result.exit_code != 0 and "no sales before" in result.output
    assert not out.exists()


def test_bench_recs_writes_ten_per_customer(history: Path, tmp_path: Path) -> None:
    out = tmp_path / "recs.csv"
    result = CliRunner().invoke(main, ["bench", "recs", "--history", str(history), "--out",
                                       str(out), "--backtest", "2011-09-26"])

    assert result.exit_code == 0, result.output
    predicted = rows(out)
    assert list(predicted[0]) == ["CustomerID", "rank", "StockCode"]
    customers = {r["CustomerID"] for r in predicted}
    # guests have no recommendations; a customer with only a cancellation gets best sellers
    assert customers == {str(12000 + i) for i in range(40)} | {"13999"}
    for customer in customers:
        mine = [r for r in predicted if r["CustomerID"] == customer]
        assert [int(r["rank"]) for r in mine] == list(range(1, 11))
        assert len({r["StockCode"] for r in mine}) == 10
    assert "own_most_bought" in result.output and "popularity" in result.output


def test_bench_recs_refuses_a_bad_backtest_date(history: Path, tmp_path: Path) -> None:
    out = tmp_path / "recs.csv"
    for dates, bad in (("2011-13-45", "2011-13-45"), ("2011-09-26,next week", "next week")):
        result = CliRunner().invoke(main, ["bench", "recs", "--history", str(history), "--out",
                                           str(out), "--backtest", dates])
        assert result.exit_code == 2, result.output  # a usage error, before any work
        assert f"{bad!r} is not a date (use YYYY-MM-DD)" in result.output
    assert not out.exists()
    early = CliRunner().invoke(main, ["bench", "recs", "--history", str(history), "--out",
                                      str(out), "--backtest", "2001-01-01"])
    assert early.exit_code == 1 and "no sales with a customer" in early.output  # nothing before


def test_the_variants_benchmark_reproduces_the_production_model(
    history: Path, tmp_path: Path
) -> None:
    """benchmarks/demand_variants.py's ``production`` variant is the bench's model, so the
    variants it compares are measured against the real thing; others add columns and score."""
    import subprocess
    import sys

    from analytics import fit_demand_model, forecast, weekly_history
    from analytics.transactions import read_transactions
    from crm_connector import PROJECT_ROOT

    script = PROJECT_ROOT / "benchmarks" / "demand_variants.py"
    cache = tmp_path / "cache"
    common = ["--history", str(history), "--cache", str(cache), "--cutoffs", "2011-10-04"]
    for variant in ("production", "buyers+due"):
        done = subprocess.run([sys.executable, str(script), "fit", *common, variant, "ensemble"],
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
    cached = np.load(cache / "production--ensemble--42--2011-10-04.npz")

    past = weekly_history(read_transactions(history), "2011-10-04")
    expected = forecast(fit_demand_model(past), past).model
    assert cached["items"].tolist() == list(past.items)
    np.testing.assert_allclose(cached["forecast"], expected)

    scored = subprocess.run([sys.executable, str(script), "score", *common, "--references"],
                            capture_output=True, text=True, timeout=300, check=True).stdout
    assert "production ensemble seed 42" in scored and "buyers+due ensemble seed 42" in scored
    assert "reference: ceiling, median of actual weeks" in scored
    assert "reference: median of last 8 weeks" in scored

    bad = subprocess.run([sys.executable, str(script), "fit", *common, "nonsense", "units"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert bad.returncode != 0 and "unknown variant 'nonsense'" in bad.stderr


def test_the_reference_forecasts_are_medians_of_the_past_and_of_the_truth() -> None:
    """The ceiling is each product's median forecast week, flat; the references are the medians
    of its last 4 and 8 weeks, flat."""
    import importlib.util

    import pandas as pd

    from analytics.demand import WeeklyHistory
    from crm_connector import PROJECT_ROOT

    spec = importlib.util.spec_from_file_location(
        "demand_variants", PROJECT_ROOT / "benchmarks" / "demand_variants.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    units = np.array([[0, 0, 0, 0, 9, 1, 2, 3, 4, 100],
                      [5, 5, 5, 5, 5, 5, 0, 0, 0, 0]], dtype=float)
    zeros = np.zeros_like(units)
    history = WeeklyHistory(pd.Timestamp("2011-10-04"), ("A", "B"), units, zeros, zeros,
                            np.ones(2))
    future = np.array([[1, 7, 3, 50], [0, 0, 2, 0]], dtype=float)
    references = module.reference_forecasts(history, future)
    expected = {"reference: median of last 4 weeks": [3.5, 0.0],
                "reference: median of last 8 weeks": [2.5, 2.5],
                "reference: ceiling, median of actual weeks": [5.0, 0.0]}
    assert set(references) == set(expected)
    for name, medians in expected.items():
        np.testing.assert_array_equal(references[name], np.repeat([[m] for m in medians], 4, 1))
