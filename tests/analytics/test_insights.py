"""The agent inbox's customer panel: segment, churn risk with reasons, recommendations."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from analytics import AnalyticsSettings
from analytics.churn import risk_level
from analytics.insights import InsightCache, customer_insights
from analytics.recommend import newest_saved_recommender
from analytics.refresh import refresh
from analytics.report import customer_model_sections
from analytics.segments import load_segment_model
from crm_connector import CrmSettings, create_db_engine, create_session_factory, read_transaction
from crm_connector import upgrade_schema, write_transaction
from crm_connector.demo import DemoConfig, seed_demo_data
from crm_connector.models import Customer, Product, SalesOrder
from tests.crm_connector.factories import make_customer, make_order


@pytest.fixture
def demo_crm(tmp_path):  # type: ignore[no-untyped-def]
    """A small seeded SQLite CRM (120 customers, 800 orders) and where its models go; the
    engine is disposed of afterwards."""
    crm = CrmSettings(database_url=f"sqlite:///{tmp_path / 'crm.sqlite'}")
    engine = create_db_engine(crm)
    upgrade_schema(engine)
    sessions = create_session_factory(engine)
    with sessions.begin() as session:
        seed_demo_data(session, DemoConfig(as_of=dt.date(2026, 11, 22), customers=120,
                                           products=60, orders=800))
    settings = AnalyticsSettings(artifacts_dir=tmp_path / "models", redaction_key="k")
    yield crm, sessions, settings
    engine.dispose()


def test_panel_shows_what_the_trained_models_say(demo_crm) -> None:  # type: ignore[no-untyped-def]
    crm, sessions, settings = demo_crm
    cache = InsightCache(settings)
    with read_transaction(sessions) as session:
        buyer = session.scalar(select(Customer.public_id).join(SalesOrder)
                               .order_by(Customer.public_id).limit(1))
        before = customer_insights(session, buyer, cache=cache)
    # No models yet: recommendations only (fitted on the CRM), no segment or churn risk.
    assert "segment" not in before and "churn_risk" not in before
    assert len(before["recommendations"]) == 5

    result = refresh(crm, settings, only=["segments", "churn", "clv"])
    assert [s.status for s in result.steps] == ["done", "done", "done"], result.steps
    with read_transaction(sessions) as session:
        after = customer_insights(session, buyer, cache=cache)  # a new model file: rebuilt
        nobody = customer_insights(session, "C9999999", cache=cache)
        empty = customer_insights(session, "", cache=cache)
    assert after["segment"] in set(load_segment_model(settings).names)
    assert 0.0 <= after["churn_risk"] <= 1.0
    assert isinstance(after["churn_reasons"], list)
    assert after["churn_level"] == risk_level(after["churn_risk"])
    assert after["clv"] > 0 and after["clv_weeks"] == 52 and after["clv_currency"] == "EUR"
    assert all({"code", "name", "reason"} <= set(r) for r in after["recommendations"])
    # Reasons as an agent reads them about the customer, not as the bot says them to her.
    assert not any(r["reason"].startswith("you ") for r in after["recommendations"])
    assert "segment" not in nobody and "churn_risk" not in nobody  # unknown: best sellers only
    assert "clv" not in nobody
    assert nobody["recommendations"] and empty == {}

    # The manager pages' tables of the same models, money headed with the shop's currency.
    notes: list[str] = []
    with read_transaction(sessions) as session:
        sections = dict(customer_model_sections(session, settings, notes))
    assert notes == []
    segments = sections["Customer segments"]
    assert "<svg" in segments and "<th>spend (EUR)</th>" in segments
    assert all(name in segments for name in load_segment_model(settings).names)
    churn = next(body for title, body in sections.items() if title.startswith("Churn risk"))
    assert "<th>spend last year (EUR)</th>" in churn and "<th>value at risk (EUR)</th>" in churn
    # Every customer of the last year by level of risk, charted; the table keeps the top 20.
    assert churn.count("<svg") == 2 and "Value at risk by churn risk (EUR)" in churn
    assert all(label in churn for label in ("high (50% or more)", "medium (20% to 50%)",
                                            "low (under 20%)"))
    assert churn.count("<tr>") <= 21
    # How far to trust each: the criterion that chose the segments, the churn model's check.
    model = load_segment_model(settings)
    assert (f"{model.k} segments: the number of the {min(model.silhouette)}-"
            f"{max(model.silhouette)} tried with the best silhouette score "
            f"({model.silhouette[model.k]:.2f}") in segments
    clv = sections["Customer lifetime value"]
    assert re.search(r"Expected spend of today's [\d,]+ customers in the next 12 months: "
                     r"<b>[\d,]+\.\d\d EUR</b>", clv), clv
    assert re.search(r"Checked on the last 26 weeks, fitted on what came before: [\d,]+ "
                     r"purchases predicted, [\d,]+ made", clv), clv
    assert "Expected spend, next 12 months, by segment (EUR)" in clv and "<svg" in clv
    assert "<th>expected spend (EUR)</th>" in clv and clv.count("<tr>") == 11  # header + 10
    assert re.search(r"Checked on later data \(forward in time: fitted at \d{4}-\d\d-\d\d, "
                     r"scored at \d{4}-\d\d-\d\d\): ROC-AUC 0\.\d\d", churn), churn


def test_old_scores_are_served_while_a_background_thread_rebuilds_them(demo_crm) -> None:  # type: ignore[no-untyped-def]
    """No agent waits for the periodic rebuild: past the cache's age the panel gets the old
    scores at once, and the next request sees the rebuilt ones (with a customer added since)."""
    crm, sessions, settings = demo_crm
    steps = refresh(crm, settings, only=["churn", "recommendations"]).steps
    assert [s.status for s in steps] == ["done", "done"]
    _, saved = newest_saved_recommender(settings.artifacts_dir)
    cache = InsightCache(settings, ttl=3600)
    with read_transaction(sessions) as session:
        first = cache.scores(session)
    assert first.churn and "C9000001" not in first.churn
    with write_transaction(sessions) as session:
        newcomer = make_customer(session, "C9000001", email="new.comer@example.com")
        last = session.scalar(select(func.max(SalesOrder.placed_at)))
        make_order(session, newcomer, "19000001", placed_at=last - dt.timedelta(days=1))
        best = saved.best_sellers(1)[0].code
        session.scalar(select(Product).where(Product.sku == best)).active = False  # withdrawn

    cache.ttl = 0.0  # from now on every score is too old
    with read_transaction(sessions) as session:
        served = cache.scores(session)
    assert served is first  # at once, not after a rebuild
    cache.wait_for_rebuild(timeout=120)
    with read_transaction(sessions) as session:
        rebuilt = cache.scores(session)
        panel = customer_insights(session, "C9000001", cache=cache)
    assert rebuilt is not first and "C9000001" in rebuilt.churn
    # The recommender refresh saved, not a new fit on every order (which counts the newcomer's),
    # minus what the shop no longer sells.
    assert rebuilt.recommender.n_events_ == saved.n_events_
    assert best not in {r["code"] for r in panel["recommendations"]}
    assert best not in {r.code for r in rebuilt.recommender.best_sellers(5)}
    assert 0.0 <= panel["churn_risk"] <= 1.0
    cache.wait_for_rebuild(timeout=120)
