"""Cancelling orders before they ship."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from factories import (
    NOW,
    Sessions,
    days_ago,
    delivered_order,
    make_customer,
    make_order,
    make_shipment,
)
from sqlalchemy import func, select

from crm_connector import (
    CancellationView,
    CrmError,
    NotCancellableReason,
    OrderNotCancellable,
    OrderNotFound,
    RefundStatus,
    agent_actor,
    audit_trail_for_order,
    cancel_order,
    read_transaction,
    write_transaction,
)
from crm_connector.models import (
    AuditLog,
    Cancellation,
    Customer,
    OrderKind,
    OrderStatus,
    Refund,
    SalesOrder,
    ShipmentStatus,
)

ANNA = "C0000001"


def _cancel(sessions: Sessions, number: str, actor: str = "bot") -> CancellationView:
    with write_transaction(sessions) as session:
        return cancel_order(
            session, ANNA, number, actor=actor, reason="Ordered the wrong size", now=NOW
        )


def _count(sessions: Sessions, model: type) -> int:
    with read_transaction(sessions) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def anna(sessions: Sessions) -> Sessions:
    with sessions.begin() as session:
        make_customer(session, ANNA)
    return sessions


def _add_order(sessions: Sessions, number: str, **kwargs: Any) -> None:
    with sessions.begin() as session:
        owner = session.scalars(select(Customer).where(Customer.public_id == ANNA)).one()
        make_order(session, owner, number, **kwargs)


def test_cancelling_a_paid_order_refunds_it_in_full(anna: Sessions) -> None:
    _add_order(anna, "10000001", status=OrderStatus.PAID, placed_at=days_ago(1), shipping_cents=495)
    result = _cancel(anna, "10000001", actor=agent_actor(7))
    assert result.order_number == "10000001" and result.cancelled_at == NOW
    assert result.refund is not None
    assert (result.refund.amount_cents, result.refund.reference) == (10495, "10000001-R1")
    assert result.refund.idempotency_key == "cancel:10000001"
    assert result.refund.status == RefundStatus.REQUESTED
    with read_transaction(anna) as session:
        order = session.scalars(select(SalesOrder)).one()
        cancellation = session.scalars(select(Cancellation)).one()
        audit = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert order.status == OrderStatus.CANCELLED
    assert (cancellation.requested_by, cancellation.reason) == ("agent:7", "Ordered the wrong size")
    assert [(a.action, a.entity_type, a.actor) for a in audit] == [
        ("order.cancelled", "sales_order", "agent:7"), ("refund.requested", "refund", "agent:7")]
    assert (audit[0].before, audit[0].after) == ({"status": "paid"}, {"status": "cancelled"})
    assert audit[0].entity_id == order.id


def test_cancelling_an_unpaid_order_creates_no_refund(anna: Sessions) -> None:
    _add_order(anna, "10000002", status=OrderStatus.PLACED, paid=False)
    assert _cancel(anna, "10000002").refund is None
    assert _count(anna, Refund) == 0 and _count(anna, AuditLog) == 1


def test_cancelling_twice_is_refused_and_refunds_once(anna: Sessions) -> None:
    _add_order(anna, "10000001", status=OrderStatus.PAID)
    _cancel(anna, "10000001")
    with pytest.raises(OrderNotCancellable) as caught:
        _cancel(anna, "10000001")
    assert caught.value.reason == NotCancellableReason.ALREADY_CANCELLED
    assert "already cancelled on 2026-11-22" in str(caught.value)
    assert _count(anna, Refund) == 1 and _count(anna, Cancellation) == 1
    assert _count(anna, AuditLog) == 2


def test_shipped_order_names_carrier_date_and_tracking(anna: Sessions) -> None:
    _add_order(anna, "10000003", status=OrderStatus.SHIPPED)
    with anna.begin() as session:
        order = session.scalars(select(SalesOrder)).one()
        make_shipment(session, order, status=ShipmentStatus.IN_TRANSIT, carrier="DPD",
                      tracking_number="DPD0001", shipped_at=days_ago(2))
    with pytest.raises(OrderNotCancellable) as caught:
        _cancel(anna, "10000003")
    assert caught.value.reason == NotCancellableReason.ALREADY_SHIPPED
    assert "already shipped with DPD on 2026-11-20 (tracking DPD0001)" in str(caught.value)


def test_paid_order_whose_parcel_the_carrier_already_has_is_not_cancellable(anna: Sessions) -> None:
    _add_order(anna, "10000004", status=OrderStatus.PAID)
    with anna.begin() as session:
        order = session.scalars(select(SalesOrder)).one()
        make_shipment(session, order, status=ShipmentStatus.IN_TRANSIT,
                      shipped_at=days_ago(1))
    with pytest.raises(OrderNotCancellable) as caught:
        _cancel(anna, "10000004")
    assert caught.value.reason == NotCancellableReason.ALREADY_SHIPPED


def test_label_waiting_for_pickup_still_allows_cancelling(anna: Sessions) -> None:
    _add_order(anna, "10000005", status=OrderStatus.PAID)
    with anna.begin() as session:
        order = session.scalars(select(SalesOrder)).one()
        make_shipment(session, order, status=ShipmentStatus.PENDING)
    assert _cancel(anna, "10000005").refund is not None


@pytest.mark.parametrize(
    ("kwargs", "reason", "phrase"),
    [
        ({"status": OrderStatus.RETURNED}, NotCancellableReason.RETURNED, "returned"),
        ({"kind": OrderKind.CREDIT_NOTE, "paid": False, "lines": [("MUG-1", -1, 2500)]},
         NotCancellableReason.CREDIT_NOTE, "credit note"),
    ],
)
def test_other_refusals(anna: Sessions, kwargs: dict[str, Any], reason: str, phrase: str) -> None:
    _add_order(anna, "10000006", **kwargs)
    with pytest.raises(OrderNotCancellable, match=phrase) as caught:
        _cancel(anna, "10000006")
    assert caught.value.reason == reason
    assert _count(anna, AuditLog) == 0


def test_delivered_order_is_not_cancellable(anna: Sessions) -> None:
    with anna.begin() as session:
        owner = session.scalars(select(Customer)).one()
        delivered_order(session, owner, "10000007", delivered_at=days_ago(3))
    with pytest.raises(OrderNotCancellable) as caught:
        _cancel(anna, "10000007")
    assert caught.value.reason == NotCancellableReason.DELIVERED
    assert "delivered on 2026-11-19" in str(caught.value) and "refund instead" in str(caught.value)


def test_another_customers_order_cannot_be_cancelled(anna: Sessions) -> None:
    with anna.begin() as session:
        ben = make_customer(session, "C0000002", email="ben@example.org", phone=None)
        make_order(session, ben, "20000001", status=OrderStatus.PAID)
    with pytest.raises(OrderNotFound):
        _cancel(anna, "20000001")
    assert _count(anna, Cancellation) == 0


def test_audit_trail_shows_the_cancellation_and_its_refund(anna: Sessions) -> None:
    _add_order(anna, "10000001", status=OrderStatus.PAID)
    _cancel(anna, "10000001", actor="customer:C0000001")
    with read_transaction(anna) as session:
        trail = audit_trail_for_order(session, "10000001")
    assert [(e.action, e.actor) for e in trail] == [
        ("order.cancelled", "customer:C0000001"), ("refund.requested", "customer:C0000001")]
    assert trail[1].after is not None and trail[1].after["amount_cents"] == 10000


@pytest.mark.slow
def test_concurrent_cancellations_cancel_and_refund_once(anna: Sessions) -> None:
    _add_order(anna, "10000001", status=OrderStatus.PAID)
    barrier = threading.Barrier(10)

    def attempt(_: int) -> Any:
        barrier.wait()
        try:
            return _cancel(anna, "10000001")
        except CrmError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(attempt, range(10)))
    done = [r for r in results if isinstance(r, CancellationView)]
    refused = [r for r in results if isinstance(r, OrderNotCancellable)]
    assert len(done) == 1 and len(refused) == 9
    assert {r.reason for r in refused} == {NotCancellableReason.ALREADY_CANCELLED}
    assert _count(anna, Cancellation) == 1 and _count(anna, Refund) == 1
    assert _count(anna, AuditLog) == 2
