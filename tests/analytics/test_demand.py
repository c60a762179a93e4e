"""Weekly demand: aggregation on the cutoff's weeks, the forecast beats the naive baselines on
lumpy demand, the model survives a save and reload, and the CRM path gives chart data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from analytics import (
    InvalidInputData,
    NotEnoughData,
    crm_demand_report,
    fit_demand_model,
    forecast,
    load_demand_model,
    save_demand_model,
    wape,
    weekly_history,
)
from analytics.demand import (
    FEATURES,
    LevelRatioRegressor,
    actual_units,
    build_pipeline,
    demand_report,
    origin_features,
    score_forecast,
)
from crm_connector import CrmSettings, create_db_engine, create_session_factory
from tests.support.stack import AS_OF

CUTOFF = pd.Timestamp("2011-11-01")


def line(invoice: str, code: str, qty: int, when: pd.Timestamp) -> dict:
    return {"InvoiceNo": invoice, "StockCode": code, "Description": f"Item {code}",
            "Quantity": qty, "InvoiceDate": when, "UnitPrice": 1.5, "CustomerID": "1",
            "Country": "UK", "IsCreditNote": invoice.startswith("C")}


def lumpy_history(weeks: int = 36, items: int = 40, seed: int = 3) -> pd.DataFrame:
    """Steady retail demand per product plus rare wholesale orders ten times as big: the shape
    of the Online Retail data, where the mean of four weeks chases the spikes."""
    rng = np.random.default_rng(seed)
    rows = []
    start = CUTOFF - pd.Timedelta(weeks=weeks)
    for i in range(items):
        level = rng.uniform(5, 60)
        for w in range(weeks + 4):
            day = start + pd.Timedelta(weeks=w) + pd.Timedelta(days=int(rng.integers(0, 7)))
            qty = int(rng.poisson(level))
            if rng.random() < 0.12:
                qty += int(level * 10)
            if qty:
                rows.append(line(f"{i}-{w}", f"P{i:03d}", qty, day))
    return pd.DataFrame(rows)


def test_weeks_are_aligned_on_the_cutoff_and_count_only_sales() -> None:
    frame = pd.DataFrame([
        line("1", "A", 5, CUTOFF - pd.Timedelta(hours=1)),        # week -1
        line("2", "A", 3, CUTOFF - pd.Timedelta(days=7)),         # week -1 (its first second)
        line("3", "A", 4, CUTOFF - pd.Timedelta(days=7, hours=1)),  # week -2
        line("C4", "A", -2, CUTOFF - pd.Timedelta(hours=2)),      # a credit note: not a sale
        line("5", "B", 7, CUTOFF),                                # week 0: not history
    ])
    history = weekly_history(frame, "2011-11-01")
    assert history.items == ("A",)
    assert history.units.tolist() == [[4.0, 8.0]]
    assert actual_units(frame, CUTOFF, 2).loc["B"].tolist() == [7.0, 0.0]


def test_one_off_big_orders_are_told_apart_from_steady_demand() -> None:
    """A wholesale line is most of its week: the features see the level without it, and how
    much of the recent volume such lines make."""
    week = pd.Timedelta(days=7)
    rows = []
    for k in range(1, 9):  # weeks -1 .. -8: A sells 10 a week in two lines, B the same ...
        when = CUTOFF - k * week + pd.Timedelta(hours=1)
        rows += [line(f"a{k}", "A", 6, when), line(f"a{k}x", "A", 4, when),
                 line(f"b{k}", "B", 6, when), line(f"b{k}x", "B", 4, when)]
    rows.append(line("big", "B", 400, CUTOFF - 3 * week))  # ... plus one wholesale order
    rows.append(line("old", "C", 5, CUTOFF - 20 * week))  # C: nothing in the last 8 weeks
    history = weekly_history(pd.DataFrame(rows), CUTOFF)
    assert history.largest_line[history.index()["B"], -3] == 400

    features = origin_features(history, history.n_weeks).set_index(pd.Index(history.items))
    assert features.loc["A", "mean_8"] == pytest.approx(10)
    assert features.loc["A", "mean_8_without_largest"] == pytest.approx(4)
    assert features.loc["B", "mean_8"] == pytest.approx(60)
    # B's usual level is A's: the big order only ever counts as the week's largest line.
    assert features.loc["B", "mean_8_without_largest"] == pytest.approx(4 + 6 / 8)
    assert features.loc["A", "largest_line_share_8"] == pytest.approx(0.6)
    assert features.loc["B", "largest_line_share_8"] == pytest.approx((7 * 6 + 400) / 480)
    assert np.isnan(features.loc["C", "largest_line_share_8"])
    assert features.loc["C", "mean_8_without_largest"] == 0


def test_bad_cutoffs_and_empty_history_are_clear_errors() -> None:
    frame = pd.DataFrame([line("1", "A", 5, CUTOFF)])
    with pytest.raises(InvalidInputData, match="not a date"):
        weekly_history(frame, "next tuesday")
    with pytest.raises(NotEnoughData, match="no sales before"):
        weekly_history(frame, "2011-10-01")


@pytest.fixture(scope="module")
def lumpy() -> pd.DataFrame:
    return lumpy_history()


@pytest.fixture(scope="module")
def fitted(lumpy: pd.DataFrame):
    history = weekly_history(lumpy, CUTOFF)
    return history, fit_demand_model(history)


def test_forecast_covers_every_item_and_week_and_beats_the_baselines(
    lumpy: pd.DataFrame, fitted
) -> None:
    history, model = fitted
    items = [*history.items, "NEVER-SOLD"]
    result = forecast(model, history, items, weeks=4)

    table = result.to_frame()
    assert len(table) == len(items) * 4
    assert table["week_start"].unique().tolist() == [
        "2011-11-01", "2011-11-08", "2011-11-15", "2011-11-22"]
    assert (table["forecast_units"] >= 0).all()
    assert table.loc[table["stock_code"] == "NEVER-SOLD", "forecast_units"].eq(0).all()

    scored = score_forecast(result, actual_units(lumpy, CUTOFF, 4), "all")
    assert scored.wape["model"] <= 0.85 * scored.wape["mean_last_4"], scored.wape
    assert scored.wape["model"] < scored.wape["last_week"], scored.wape


def test_wape() -> None:
    assert wape(np.array([10.0, 0.0]), np.array([8.0, 1.0])) == pytest.approx(0.3)
    assert np.isnan(wape(np.array([0.0]), np.array([1.0])))


def steady_products(levels: np.ndarray, seed: int) -> np.ndarray:
    """Feature rows of products that sell about ``levels`` units a week, every week."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((len(levels), len(FEATURES)))
    for column, name in enumerate(FEATURES):
        if name.startswith(("lag_", "mean_", "median_")):
            rows[:, column] = levels * rng.uniform(0.9, 1.1, len(levels))
    return rows


def test_the_ratio_model_forecasts_a_bigger_product_at_its_own_scale() -> None:
    """Trees cannot forecast beyond the units they saw; the ratio half of the ensemble can, so
    a product outgrowing every other one in the history keeps a forecast of its own size."""
    x = steady_products(np.random.default_rng(0).uniform(5, 50, 2000), seed=1)
    position = {name: i for i, name in enumerate(FEATURES)}
    y = 2 * (0.5 * x[:, position["mean_4"]] + 0.5 * x[:, position["mean_8"]] + 1)
    big = steady_products(np.full(5, 1000.0), seed=2)

    ratio = LevelRatioRegressor(HistGradientBoostingRegressor(loss="absolute_error")).fit(x, y)
    predicted = ratio.predict(big)
    assert np.all(np.abs(predicted / 2000 - 1) < 0.2), predicted
    columns = list(FEATURES)
    model = build_pipeline().fit(pd.DataFrame(x, columns=columns), y)
    ensemble = model.predict(pd.DataFrame(big, columns=columns))
    assert np.all(ensemble > 2 * y.max()), ensemble  # the ratio half lifts it past the history


def test_the_model_survives_save_and_reload(lumpy: pd.DataFrame, tmp_path: Path) -> None:
    report = demand_report(lumpy, CUTOFF, weeks=4, top=5)
    path = save_demand_model(report, tmp_path, rows=len(lumpy), when=dt.date(2011, 11, 1))

    assert path.name == "demand-2011-11-01.skops"
    loaded = load_demand_model(path)
    assert loaded.sidecar["validation"]["metric"] == "wape"
    assert loaded.sidecar["validation"]["model"] == report.backtest_wape["model"]
    history = weekly_history(lumpy, CUTOFF)
    before = forecast(report.model, history, weeks=4).model
    after = forecast(loaded.model, history, weeks=4).model
    np.testing.assert_allclose(after, before)


def test_crm_report_has_history_forecast_and_baselines_for_charts(e2e_crm: CrmSettings) -> None:
    engine = create_db_engine(e2e_crm)
    try:
        with create_session_factory(engine).begin() as session:
            as_of = dt.datetime.combine(AS_OF, dt.time(), tzinfo=dt.UTC)
            report = crm_demand_report(session, as_of, weeks=4, top=3, history_weeks=12)
    finally:
        engine.dispose()

    assert len(report.products) == 3
    chart = report.products[0]
    assert len(chart.history) == 12 and len(chart.forecast) == 4
    assert chart.forecast[0][0] == AS_OF.isoformat()
    assert [w for w, _ in chart.forecast] == [w for w, _ in chart.mean_last_4]
    assert sum(u for _, u in chart.history) > 0  # a top seller sold something
    assert chart.name and chart.name != chart.code
    assert set(report.backtest_wape) == {"model", "last_week", "mean_last_4"}
    assert all(v >= 0 for v in report.backtest_wape.values())


def test_refresh_step_persists_the_model_and_the_dashboard_shows_its_forecast(
    e2e_crm: CrmSettings, tmp_path: Path
) -> None:
    from analytics import AnalyticsSettings
    from analytics.demand import crm_forecast, load_demand_model, train_demand

    settings = AnalyticsSettings(artifacts_dir=tmp_path)
    engine = create_db_engine(e2e_crm)
    try:
        with create_session_factory(engine).begin() as session:
            assert "analytics refresh" in crm_forecast(session, settings)  # nothing trained yet
            trained = train_demand(session, settings)
            html = crm_forecast(session, settings, products=2)
    finally:
        engine.dispose()

    assert load_demand_model(trained.path).sidecar["validation"]["metric"] == "wape"
    assert {"model", "last_week", "mean_last_4"} <= set(trained.validation)
    assert html.count("<svg") == 2  # one chart per product
    assert "mean last 4" in html and "forecast" in html and "WAPE" in html
