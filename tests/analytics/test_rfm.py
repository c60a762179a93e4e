"""Purchase and support features per customer, from hand-made CRM rows with known answers
(SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from sqlalchemy.orm import Session, sessionmaker

from analytics import InvalidInputData, NotEnoughData, customer_features
from analytics.rfm import FEATURE_COLUMNS, data_end, transactions
from crm_connector import read_transaction
from crm_connector.models import (
    Customer,
    OrderKind,
    OrderStatus,
    Product,
    Refund,
    RefundStatus,
    SalesOrder,
    SupportConversation,
)

AS_OF = dt.datetime(2026, 3, 15, tzinfo=dt.UTC)


def days_ago(n: float) -> dt.datetime:
    return AS_OF - dt.timedelta(days=n)


def add_order(session: Session, number: str, customer: Customer | None, cents: int,
              when: dt.datetime, *, status: OrderStatus = OrderStatus.DELIVERED,
              kind: OrderKind = OrderKind.ORDER) -> SalesOrder:
    order = SalesOrder(number=number, customer=customer, kind=kind, status=status,
                       subtotal_cents=cents, total_cents=cents, placed_at=when)
    session.add(order)
    return order


@pytest.fixture
def shop(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Ann: two purchases, a cancelled order, an order after as-of, refunds, two conversations.
    Ben: one old purchase and a credit note. Cat: no purchase at all."""
    with sessions.begin() as s:
        s.add(Product(sku="P1", name="Mug", price_cents=1000))
        ann = Customer(public_id="C0000001", first_name="Ann", email="ann@example.com")
        ben = Customer(public_id="C0000002", first_name="Ben", email="ben@example.com")
        cat = Customer(public_id="C0000003", first_name="Cat", email="cat@example.com")
        s.add_all([ann, ben, cat])
        first = add_order(s, "10000001", ann, 5000, days_ago(40))
        add_order(s, "10000002", ann, 10000, days_ago(10))
        add_order(s, "10000003", ann, 99900, days_ago(5), status=OrderStatus.CANCELLED)
        add_order(s, "10000004", ann, 7000, AS_OF + dt.timedelta(hours=1))
        add_order(s, "10000005", ben, 3000, days_ago(200))
        add_order(s, "C10000006", ben, -1000, days_ago(150), kind=OrderKind.CREDIT_NOTE)
        add_order(s, "10000007", None, 4000, days_ago(3))  # guest order: nobody's feature
        s.flush()
        s.add_all([
            Refund(order_id=first.id, amount_cents=2000, status=RefundStatus.COMPLETED,
                   reason="broken", idempotency_key="k1", requested_by="bot",
                   created_at=days_ago(30)),
            Refund(order_id=first.id, amount_cents=500, status=RefundStatus.REJECTED,
                   reason="late", idempotency_key="k2", requested_by="bot",
                   created_at=days_ago(29)),
            SupportConversation(sender_id="s1", customer=ann, handoff_reason="complaint",
                                rating=1, created_at=days_ago(20)),
            SupportConversation(sender_id="s2", customer=ann, rating=5, created_at=days_ago(2)),
            SupportConversation(sender_id="s3", customer=ann, handoff_reason="human_handoff",
                                created_at=AS_OF + dt.timedelta(days=1)),
        ])
    return sessions


def test_features_follow_the_documented_definitions(shop: sessionmaker[Session]) -> None:
    with read_transaction(shop) as session:
        features = customer_features(session, AS_OF)
    assert list(features.columns) == list(FEATURE_COLUMNS)
    assert list(features.index) == ["C0000001", "C0000002"]  # Cat never bought: no row
    ann, ben = features.loc["C0000001"], features.loc["C0000002"]
    assert ann["frequency"] == 2  # the cancelled and the future order do not count
    assert ann["recency_days"] == pytest.approx(10)
    assert ann["tenure_days"] == pytest.approx(40)
    assert ann["monetary"] == pytest.approx(150.0 - 20.0)  # rejected refund ignored
    assert ann["avg_order_value"] == pytest.approx(75.0)
    assert (ann["orders_last_90d"], ann["orders_prev_90d"]) == (2, 0)
    assert (ann["refunds"], ann["refund_amount"]) == (1, pytest.approx(20.0))
    # The conversation after as-of is not known yet.
    support = ("conversations", "handoffs", "complaints", "low_ratings")
    assert tuple(ann[c] for c in support) == (2, 1, 1, 1)
    assert ann["mean_rating"] == pytest.approx(3.0)
    assert ben["frequency"] == 1 and ben["recency_days"] == pytest.approx(200)
    assert ben["monetary"] == pytest.approx(30.0 - 10.0)
    assert (ben["credit_notes"], ben["orders_last_90d"], ben["orders_prev_90d"]) == (1, 0, 0)
    assert (ben["conversations"], ben["handoffs"]) == (0, 0)
    assert math.isnan(ben["mean_rating"])


def test_an_earlier_cutoff_sees_only_the_past(shop: sessionmaker[Session]) -> None:
    with read_transaction(shop) as session:
        features = customer_features(session, days_ago(35))
        purchases = transactions(session, days_ago(35))
    assert features.loc["C0000001", "frequency"] == 1
    assert features.loc["C0000001", "refunds"] == 0
    assert features.loc["C0000001", "conversations"] == 0
    assert sorted(purchases["customer"]) == ["C0000001", "C0000002"]
    assert purchases["amount"].sum() == pytest.approx(80.0)


def test_data_end_is_midnight_after_the_newest_order(shop: sessionmaker[Session]) -> None:
    with read_transaction(shop) as session:
        assert data_end(session) == AS_OF + dt.timedelta(days=1)


def test_bad_input_gets_a_clear_error(sessions: sessionmaker[Session]) -> None:
    with read_transaction(sessions) as session:
        with pytest.raises(InvalidInputData, match="timezone-aware"):
            customer_features(session, dt.datetime(2026, 3, 15))  # naive
        with pytest.raises(NotEnoughData, match="no orders"):
            data_end(session)
        assert customer_features(session, AS_OF).empty
