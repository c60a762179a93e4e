"""Recommendations: repeat purchases first, co-bought and popular products next, best sellers for
strangers, inactive products never, a save/reload that keeps the answers, and the quality bar
against both baselines on fixed data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from analytics import (
    AnalyticsSettings,
    InvalidInputData,
    NotEnoughData,
    PurchaseRecommender,
    best_sellers,
    latest_artifact_path,
    load_recommender,
    recommend_for_customer,
    save_recommender,
)
from analytics.recommend import (
    backtest,
    hit_rate,
    own_most_bought_baseline,
    popularity_baseline,
    train_recommender,
)
from analytics.refresh import StepResult, validation_headline
from analytics.transactions import transactions_from_crm
from crm_connector import create_db_engine, create_session_factory, read_transaction
from crm_connector.models import Product
from tests.analytics.customer_data import demo_crm
from tests.crm_connector.factories import NOW, days_ago, make_customer, make_order

START = pd.Timestamp("2011-01-03")


def purchase(customer: str, invoice: str, code: str, day: int) -> dict:
    return {"InvoiceNo": invoice, "StockCode": code, "Description": f"Thing {code}",
            "Quantity": 2, "InvoiceDate": START + pd.Timedelta(days=day), "UnitPrice": 1.0,
            "CustomerID": customer, "Country": "UK", "IsCreditNote": False}


def shop(seed: int = 5, customers: int = 300, products: int = 120, days: int = 200) -> pd.DataFrame:
    """Customers with a few staple products they reorder, tastes shared within groups (so
    co-purchases mean something), and a drift of what is popular."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        group = c % 6
        staples = rng.choice(np.arange(group * 20, group * 20 + 20), size=4, replace=False)
        for n in range(int(rng.integers(2, 14))):
            day = int(rng.integers(0, days))
            basket = set(rng.choice(staples, size=2, replace=False).tolist())
            basket.add(int(rng.integers(0, products)))
            rows.extend(purchase(f"U{c}", f"{c}-{n}", f"P{p:03d}", day) for p in basket)
    return pd.DataFrame(rows)


def test_repeat_purchases_lead_and_each_pick_says_why() -> None:
    frame = pd.DataFrame([
        purchase("A", "1", "MUG", 1), purchase("A", "2", "MUG", 20), purchase("A", "2", "TEA", 20),
        purchase("B", "3", "TEA", 5), purchase("B", "3", "SPOON", 5),
        purchase("C", "4", "SPOON", 6), purchase("D", "5", "SPOON", 25),
    ])
    model = PurchaseRecommender().fit(frame, as_of=START + pd.Timedelta(days=30))

    picks = model.recommend("A", k=3)
    assert [p.code for p in picks][:2] == ["MUG", "TEA"]
    assert picks[0].reason == "you have bought this before" and picks[0].personal
    assert picks[0].name == "Thing MUG"
    assert picks[0].score > picks[1].score > picks[2].score
    # a stranger gets the best sellers: SPOON has the most buyers
    stranger = model.recommend("nobody", k=2)
    assert stranger[0].code == "SPOON" and not stranger[0].personal


def test_a_product_on_the_rise_is_offered_before_a_steady_best_seller() -> None:
    # SPOON: 6 buyers a week, every week; STAR: nobody until the last 14 days, then 8 buyers
    steady = [purchase(f"S{week}-{n}", f"s{week}-{n}", "SPOON", 7 * week + n)
              for week in range(8) for n in range(6)]
    rising = [purchase(f"R{n}", f"r{n}", "STAR", 44 + n) for n in range(8)]
    mine = [purchase("A", "a1", "MUG", 3), purchase("A", "a2", "MUG", 30)]
    frame = pd.DataFrame(steady + rising + mine)
    cut = START + pd.Timedelta(days=56)

    assert [p.code for p in PurchaseRecommender(w_trend=0).fit(frame, as_of=cut)
            .recommend("A", 3)][:2] == ["MUG", "SPOON"]
    picks = PurchaseRecommender(w_trend=1.0).fit(frame, as_of=cut).recommend("A", 3)
    assert {p.code for p in picks[:2]} == {"MUG", "STAR"}
    star = next(p for p in picks if p.code == "STAR")
    assert star.reason == "popular with other customers right now"


def test_bad_k_and_no_data_are_clear_errors() -> None:
    model = PurchaseRecommender().fit(pd.DataFrame([purchase("A", "1", "MUG", 1)]))
    for k in (0, -1, 1000, 2.5, True):
        with pytest.raises(InvalidInputData, match="k must be"):
            recommend_for_customer(model, "A", k)
    with pytest.raises(NotEnoughData):
        PurchaseRecommender().fit(pd.DataFrame([purchase(None, "1", "MUG", 1)]))


def test_beats_popularity_and_own_most_bought_on_the_next_five_weeks() -> None:
    frame = shop()
    cut = START + pd.Timedelta(days=165)
    past, future = frame[frame["InvoiceDate"] < cut], frame[frame["InvoiceDate"] >= cut]
    model = PurchaseRecommender().fit(past, as_of=cut)
    ours = dict(model.top_k_all(10))

    assert set(ours) == set(past["CustomerID"])
    assert all(len(codes) == 10 == len(set(codes)) for codes in ours.values())
    popularity = hit_rate(popularity_baseline(past, list(ours)), future)
    own = hit_rate(own_most_bought_baseline(past), future)
    model_rate = hit_rate(ours, future)
    assert model_rate >= own >= popularity
    assert model_rate > popularity + 0.2


def test_the_backtest_is_the_same_comparison() -> None:
    """``backtest`` (the refresh step's validation and ``crmbot bench recs --backtest``) scores
    the model and both baselines on the 35 days after the cut, as done by hand above."""
    frame = shop()
    cut = START + pd.Timedelta(days=165)
    past = frame[frame["InvoiceDate"] < cut]
    future = frame[(frame["InvoiceDate"] >= cut) & (frame["InvoiceDate"] < cut + pd.Timedelta(days=35))]
    ours = dict(PurchaseRecommender().fit(past, as_of=cut).top_k_all(10))
    result = backtest(frame, cut)
    assert result == {
        "metric": "hit_rate@10", "cutoff": cut.isoformat(), "window_days": 35,
        "customers": len(set(future["CustomerID"]) & set(ours)),
        "model": hit_rate(ours, future),
        "popularity": hit_rate(popularity_baseline(past, list(ours)), future),
        "own_most_bought": hit_rate(own_most_bought_baseline(past), future),
    }
    assert result["model"] > result["popularity"]
    with pytest.raises(NotEnoughData):  # nobody of the history buys after the last sale
        backtest(frame, frame["InvoiceDate"].max() + pd.Timedelta(days=1))


def test_save_and_reload_keeps_the_answers(tmp_path: Path) -> None:
    model = PurchaseRecommender().fit(shop(customers=60))
    path = save_recommender(model, tmp_path, validation={"hit_rate@10": 0.9},
                            when=dt.date(2026, 11, 22))
    loaded = load_recommender(path)

    assert path.name == "recommendations-2026-11-22.skops"
    assert loaded.sidecar["data_snapshot"]["customers"] == 60
    assert loaded.model.recommend("U7", 5) == model.recommend("U7", 5)


def test_from_the_crm_inactive_products_are_never_offered(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions.begin() as s:
        anna = make_customer(s, "C0000001")
        ben = make_customer(s, "C0000002", email="ben@example.com", phone=None)
        make_order(s, anna, "10004217", placed_at=days_ago(3), lines=[("MUG-1", 1, 900)])
        make_order(s, anna, "10004218", placed_at=days_ago(9), lines=[("OLD-1", 1, 900)])
        make_order(s, ben, "10004219", placed_at=days_ago(2),
                   lines=[("MUG-1", 1, 900), ("TEA-7", 1, 500), ("OLD-1", 1, 900)])
        s.execute(update(Product).where(Product.sku == "OLD-1").values(active=False))
    with sessions.begin() as s:
        picks = recommend_for_customer(s, "C0000001", 5, as_of=NOW)
        popular = best_sellers(s, 5, as_of=NOW)

    assert [p.code for p in picks] == ["MUG-1", "TEA-7"]
    assert picks[0].reason == "you have bought this before"
    assert picks[1].reason != "you have bought this before"  # Anna never bought tea
    assert "OLD-1" not in {p.code for p in popular}

    # the refresh step saves the same model where the bot loads it from
    settings = AnalyticsSettings(_env_file=None, artifacts_dir=tmp_path / "models")
    with sessions.begin() as s:
        trained = train_recommender(s, settings, as_of=NOW)
    saved = load_recommender(latest_artifact_path(settings.artifacts_dir, "recommendations"))
    assert saved.path == trained.path
    assert saved.model.recommend("C0000001", 5) == picks
    # Nine days of orders: nothing before the 35-day backtest window to learn from, and it says so.
    assert saved.sidecar["validation"]["metric"] == "hit_rate@10"
    assert "no sales" in saved.sidecar["validation"]["skipped"]
    assert validation_headline(StepResult("recommendations", "done", {
        "validation": saved.sidecar["validation"]})).startswith("not validated: no sales")


def test_the_refresh_step_validates_on_the_last_five_weeks(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, tmp_path: Path
) -> None:
    """On the demo CRM: the saved model's sidecar holds the backtest of its last 35 days, the
    numbers a fresh ``backtest`` of the same orders gives, printed by the refresh."""
    engine = create_db_engine(demo_crm(tmp_path_factory, sqlite_template))
    sessions = create_session_factory(engine)
    settings = AnalyticsSettings(_env_file=None, artifacts_dir=tmp_path / "models")
    with read_transaction(sessions) as session:
        trained = train_recommender(session, settings)
        frame = transactions_from_crm(session)
    engine.dispose()
    validation = load_recommender(trained.path).sidecar["validation"]
    cut = frame["InvoiceDate"].max().normalize() - pd.Timedelta(days=34)
    assert validation == trained.validation == backtest(frame, cut)
    assert validation["customers"] > 20
    assert all(0 < validation[k] <= 1 for k in ("model", "popularity", "own_most_bought"))
    headline = validation_headline(StepResult("recommendations", "done",
                                              {"validation": validation}))
    assert headline == (f"backtest hit rate@10 {validation['model']:.2f} (own most-bought "
                        f"{validation['own_most_bought']:.2f}, popularity "
                        f"{validation['popularity']:.2f})")
