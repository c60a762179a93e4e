"""'What would you recommend?': personal picks for a verified customer, best sellers otherwise,
against the seeded demo CRM (``e2e_crm``: customers, products and orders from the generator)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from trackers import responses, run, texts, tracker, verified_slots

from actions.common import DB_DOWN
from actions.context import ActionContext
from actions.recommendations import (
    BEST_SELLERS_HINT,
    BEST_SELLERS_INTRO,
    NOTHING_YET,
    PERSONAL_INTRO,
    ActionRecommendProducts,
    product_name,
)
from analytics import PurchaseRecommender, save_recommender
from crm_connector import CrmSettings, create_db_engine, create_session_factory
from crm_connector.models import Customer, OrderLine, Product, SalesOrder
from tests.actions.conftest import UNREACHABLE_DB, MakeContext
from tests.support.stack import AS_OF

SEED_NOW = dt.datetime.combine(AS_OF, dt.time(), tzinfo=dt.UTC)


def _query(crm: CrmSettings, statement):
    engine = create_db_engine(crm)
    try:
        with create_session_factory(engine).begin() as session:
            return session.execute(statement).all()
    finally:
        engine.dispose()


@pytest.fixture
def artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty artifacts folder of our own (no saved recommender unless a test saves one)."""
    folder = tmp_path / "artifacts"
    monkeypatch.setenv("ANALYTICS_ARTIFACTS_DIR", str(folder))
    return folder


@pytest.fixture
def seeded(e2e_crm: CrmSettings, make_context: MakeContext, artifacts: Path) -> ActionContext:
    return make_context(e2e_crm, clock=lambda: SEED_NOW)


@pytest.fixture(scope="module")
def regular(e2e_crm: CrmSettings) -> tuple[str, set[str], set[str]]:
    """The seeded customer with the most orders: public id, names and SKUs they bought."""
    [(customer_id, public_id)] = _query(e2e_crm, (
        select(Customer.id, Customer.public_id)
        .join(SalesOrder, SalesOrder.customer_id == Customer.id)
        .group_by(Customer.id, Customer.public_id)
        .order_by(func.count(SalesOrder.id).desc(), Customer.id).limit(1)))
    bought = _query(e2e_crm, (
        select(Product.name, Product.sku).join(OrderLine, OrderLine.product_id == Product.id)
        .join(SalesOrder, SalesOrder.id == OrderLine.order_id)
        .where(SalesOrder.customer_id == customer_id, OrderLine.quantity > 0)))
    return public_id, {product_name(n) for n, _ in bought}, {s for _, s in bought}


def _bullets(text: str) -> list[str]:
    return [line[2:] for line in text.splitlines() if line.startswith("• ")]


async def test_a_verified_customer_gets_picks_from_their_own_history(
    seeded: ActionContext, regular: tuple[str, set[str], set[str]]
) -> None:
    public_id, names, skus = regular
    state = tracker("what would you recommend?", "ask_recommendation",
                    slots=verified_slots(public_id))
    events, messages = await run(ActionRecommendProducts(), state)

    assert events == []
    [message] = messages
    text = message["text"]
    assert text.startswith(PERSONAL_INTRO)
    picks = _bullets(text)
    assert len(picks) == 5
    # the strongest signal is what they buy again: their own products lead the list
    assert any(pick.startswith(name) for pick in picks[:2] for name in names)
    assert "you have bought this before" in text
    # no internal ids: neither the customer number nor product codes
    assert public_id not in text
    assert not any(sku in text for sku in skus)


async def test_without_verification_best_sellers_and_how_to_get_personal_ones(
    seeded: ActionContext, regular: tuple[str, set[str], set[str]]
) -> None:
    _, messages = await run(ActionRecommendProducts(),
                            tracker("any recommendations?", "ask_recommendation"))

    first, hint = messages
    assert first["text"].startswith(BEST_SELLERS_INTRO)
    assert len(_bullets(first["text"])) == 5
    assert hint["text"] == BEST_SELLERS_HINT


async def test_a_verified_customer_without_orders_gets_best_sellers(
    seeded: ActionContext,
) -> None:
    personal_for_nobody = tracker("what should I buy?", "ask_recommendation",
                                  slots=verified_slots("C9999999"))
    _, messages = await run(ActionRecommendProducts(), personal_for_nobody)
    assert messages[0]["text"].startswith(BEST_SELLERS_INTRO)


async def test_an_empty_shop_says_so_kindly(context: ActionContext, artifacts: Path) -> None:
    _, messages = await run(ActionRecommendProducts(),
                            tracker("recommend something", "ask_recommendation"))
    assert texts(messages) == NOTHING_YET


async def test_database_down(down_context: ActionContext, artifacts: Path) -> None:
    _, messages = await run(ActionRecommendProducts(),
                            tracker("recommend something", "ask_recommendation"))
    assert texts(messages) == DB_DOWN
    assert responses(messages) == ["utter_offer_human"]


def _saved_model(folder: Path, customer: str) -> None:
    """A recommender trained elsewhere (``crmbot analytics refresh``) on products the seeded
    CRM does not have, saved where the action looks."""
    start = pd.Timestamp("2026-01-05")
    rows = [{"InvoiceNo": f"9{n:05d}", "StockCode": code, "Description": name, "Quantity": 1,
             "InvoiceDate": start + pd.Timedelta(days=n), "UnitPrice": 2.0,
             "CustomerID": who, "Country": "UK", "IsCreditNote": False}
            for n, (who, code, name) in enumerate(
                [(customer, "ZZ1", "SAVED MODEL TEAPOT")] * 3
                + [("C7777777", f"ZZ{i}", f"OTHER THING {i}") for i in range(2, 9)])]
    save_recommender(PurchaseRecommender().fit(pd.DataFrame(rows)), folder)


async def test_a_saved_recommender_is_loaded_instead_of_fitting_from_the_crm(
    seeded: ActionContext, artifacts: Path, regular: tuple[str, set[str], set[str]]
) -> None:
    public_id, _, _ = regular
    _saved_model(artifacts, public_id)
    _, messages = await run(ActionRecommendProducts(),
                            tracker("what would you recommend?", "ask_recommendation",
                                    slots=verified_slots(public_id)))
    picks = _bullets(messages[0]["text"])
    assert picks[0] == "Saved model teapot (you have bought this before)"


async def test_the_model_is_kept_between_requests(
    seeded: ActionContext, regular: tuple[str, set[str], set[str]]
) -> None:
    public_id, _, _ = regular
    state = tracker("what would you recommend?", "ask_recommendation",
                    slots=verified_slots(public_id))
    _, first = await run(ActionRecommendProducts(), state)
    # the database goes away: the fit made for the first request still answers
    seeded.close()
    seeded.crm = CrmSettings(_env_file=None, database_url=UNREACHABLE_DB)
    _, second = await run(ActionRecommendProducts(), state)
    assert second == first
    assert second[0]["text"].startswith(PERSONAL_INTRO)
