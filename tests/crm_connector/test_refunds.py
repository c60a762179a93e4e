"""Refund eligibility, refund requests, idempotency and concurrency."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
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
    make_refund,
    make_shipment,
)
from sqlalchemy import func, select

from crm_connector import (
    CrmError,
    IdempotencyConflict,
    InvalidInput,
    NotEligibleForRefund,
    OrderNotFound,
    RefundCode,
    RefundItemRequest,
    RefundView,
    check_refund_eligibility,
    customer_actor,
    read_transaction,
    request_refund,
    write_transaction,
)
from crm_connector.models import (
    AuditLog,
    OrderKind,
    OrderStatus,
    Refund,
    RefundItem,
    RefundStatus,
    SalesOrder,
    ShipmentStatus,
)

WINDOW = 30
ANNA = "C0000001"


@pytest.fixture
def shop(sessions: Sessions) -> Sessions:
    """Anna's delivered order 10000001: 2 x MUG-1 at 25.00 + 1 x TEA-7 at 50.00 = 100.00 EUR."""
    with sessions.begin() as session:
        anna = make_customer(session, ANNA)
        delivered_order(session, anna, "10000001", delivered_at=days_ago(5))
        ben = make_customer(session, "C0000002", email="ben@example.org", phone=None)
        delivered_order(session, ben, "20000001")
    return sessions


def _check(sessions: Sessions, number: str = "10000001", **kwargs: Any):
    with read_transaction(sessions) as session:
        return check_refund_eligibility(
            session, ANNA, number, now=NOW, return_window_days=WINDOW, **kwargs
        )


def _request(sessions: Sessions, key: str, number: str = "10000001", **kwargs: Any) -> RefundView:
    kwargs.setdefault("now", NOW)
    with write_transaction(sessions) as session:
        return request_refund(
            session, ANNA, number, idempotency_key=key, actor=customer_actor(ANNA),
            reason="Mug arrived broken", return_window_days=WINDOW, **kwargs,
        )


def _count(sessions: Sessions, model: type) -> int:
    with read_transaction(sessions) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _refused(sessions: Sessions, code: RefundCode, number: str = "10000001", **kwargs: Any):
    what = {k: v for k, v in kwargs.items() if k in ("amount_cents", "items")}
    verdict = _check(sessions, number, **what)
    assert not verdict.eligible and verdict.code == code
    with pytest.raises(NotEligibleForRefund) as caught:
        _request(sessions, f"refused-{code}", number, **kwargs)
    assert caught.value.reason == code and str(caught.value) == verdict.message
    return verdict, caught.value


# --- eligible ---------------------------------------------------------------------------------


def test_full_refund_of_a_delivered_order(shop: Sessions) -> None:
    verdict = _check(shop)
    assert verdict.eligible and verdict.code == RefundCode.ELIGIBLE
    assert verdict.paid_cents == 10000 and verdict.refunded_cents == 0
    assert verdict.refundable_cents == 10000
    assert verdict.return_window_closes_at == days_ago(5) + dt.timedelta(days=WINDOW)

    refund = _request(shop, "chat-42:refund:1")
    assert refund.created and refund.reference == "10000001-R1"
    assert (refund.amount_cents, refund.currency) == (10000, "EUR")
    assert refund.status == RefundStatus.REQUESTED
    assert refund.requested_by == "customer:C0000001" and refund.items == ()
    assert _check(shop).code == RefundCode.ALREADY_REFUNDED


def test_partial_amounts_leave_the_rest_refundable(shop: Sessions) -> None:
    _request(shop, "k1", amount_cents=3000)
    verdict = _check(shop)
    assert (verdict.refunded_cents, verdict.refundable_cents) == (3000, 7000)
    second = _request(shop, "k2", amount_cents=7000)
    assert second.reference == "10000001-R2"
    _refused(shop, RefundCode.ALREADY_REFUNDED, amount_cents=100)


def test_amount_above_what_is_left_is_refused_with_the_maximum(shop: Sessions) -> None:
    _request(shop, "k1", amount_cents=3000)
    verdict, error = _refused(shop, RefundCode.AMOUNT_EXCEEDS_REFUNDABLE, amount_cents=8000)
    assert error.refundable_cents == 7000 and verdict.refundable_cents == 7000
    assert "80.00 EUR" in str(error) and "at most 70.00 EUR" in str(error)


def test_rejected_refunds_do_not_count(shop: Sessions) -> None:
    with shop.begin() as session:
        target = session.scalars(select(SalesOrder).where(SalesOrder.number == "10000001")).one()
        make_refund(session, target, 10000, key="old-rejected", status=RefundStatus.REJECTED)
    assert _check(shop).refundable_cents == 10000


def test_items_refund_prices_the_units_and_tracks_quantities(shop: Sessions) -> None:
    one_mug = _request(shop, "mug-1", items=[RefundItemRequest(line_no=1, quantity=1)])
    assert one_mug.amount_cents == 2500
    items = [(i.line_no, i.sku, i.quantity, i.amount_cents) for i in one_mug.items]
    assert items == [(1, "MUG-1", 1, 2500)]
    assert _count(shop, RefundItem) == 1

    verdict, error = _refused(shop, RefundCode.QUANTITY_EXCEEDS_REFUNDABLE,
                              items=[RefundItemRequest(line_no=1, quantity=2)])
    assert "only 1 can still be refunded" in verdict.message
    both = _request(shop, "rest", items=[RefundItemRequest(1, 1), RefundItemRequest(2, 1)])
    assert both.amount_cents == 7500 and _check(shop).code == RefundCode.ALREADY_REFUNDED


def test_lost_parcel_is_eligible_for_a_full_refund_without_delivery(sessions: Sessions) -> None:
    with sessions.begin() as session:
        anna = make_customer(session, ANNA)
        order = make_order(session, anna, "10000009", status=OrderStatus.SHIPPED,
                           placed_at=days_ago(90))
        make_shipment(session, order, status=ShipmentStatus.LOST, shipped_at=days_ago(88))
    verdict = _check(sessions, "10000009")
    assert verdict.eligible and verdict.code == RefundCode.LOST_PARCEL
    assert "full refund of 100.00 EUR" in verdict.message
    assert _request(sessions, "lost", "10000009").amount_cents == 10000


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "suggest_cancel"),
    [(OrderStatus.PAID, True), (OrderStatus.PLACED, True), (OrderStatus.SHIPPED, False)],
)
def test_not_delivered_yet(sessions: Sessions, status: OrderStatus, suggest_cancel: bool) -> None:
    with sessions.begin() as session:
        make_order(session, make_customer(session, ANNA), "10000002", status=status,
                   paid=status != OrderStatus.PLACED)
    verdict, _ = _refused(sessions, RefundCode.NOT_DELIVERED, "10000002")
    assert verdict.suggest_cancellation is suggest_cancel
    assert ("cancel it instead" in verdict.message) is suggest_cancel
    assert _count(sessions, Refund) == 0 and _count(sessions, AuditLog) == 0


def test_return_window_closed_names_the_date(sessions: Sessions) -> None:
    with sessions.begin() as session:
        anna = make_customer(session, ANNA)
        delivered_order(session, anna, "10000003", delivered_at=days_ago(31))
    verdict, _ = _refused(sessions, RefundCode.RETURN_WINDOW_CLOSED, "10000003")
    assert "30-day return window" in verdict.message and "closed on 2026-11-21" in verdict.message
    assert verdict.refundable_cents == 0


def test_last_day_of_the_window_is_still_open(sessions: Sessions) -> None:
    with sessions.begin() as session:
        anna = make_customer(session, ANNA)
        delivered_order(session, anna, "10000003", delivered_at=days_ago(30))
    assert _check(sessions, "10000003").eligible


def test_already_fully_refunded(shop: Sessions) -> None:
    _request(shop, "all")
    verdict, _ = _refused(shop, RefundCode.ALREADY_REFUNDED)
    assert "already been fully refunded (100.00 EUR)" in verdict.message


def test_cancelled_order(sessions: Sessions) -> None:
    with sessions.begin() as session:
        make_order(session, make_customer(session, ANNA), "10000004", status=OrderStatus.CANCELLED)
    verdict, _ = _refused(sessions, RefundCode.ORDER_CANCELLED, "10000004")
    assert "was cancelled" in verdict.message


def test_credit_note(sessions: Sessions) -> None:
    with sessions.begin() as session:
        make_order(session, make_customer(session, ANNA), "C536379", kind=OrderKind.CREDIT_NOTE,
                   lines=[("MUG-1", -1, 2500)], paid=False)
    verdict, _ = _refused(sessions, RefundCode.CREDIT_NOTE, "c536379")
    assert "credit note" in verdict.message


def test_nothing_paid(sessions: Sessions) -> None:
    with sessions.begin() as session:
        delivered_order(session, make_customer(session, ANNA), "10000005", paid=False)
    _refused(sessions, RefundCode.NOT_PAID, "10000005")


def test_malformed_requests_are_invalid_input(shop: Sessions) -> None:
    bad_calls: list[dict[str, Any]] = [
        {"amount_cents": 0},
        {"amount_cents": -5},
        {"amount_cents": 10.5},
        {"amount_cents": 100, "items": [RefundItemRequest(1, 1)]},
        {"items": []},
        {"items": [RefundItemRequest(line_no=3, quantity=1)]},
        {"items": [RefundItemRequest(1, 1), RefundItemRequest(1, 1)]},
        {"items": [RefundItemRequest(1, 0)]},
        {"now": NOW.replace(tzinfo=None)},
    ]
    for kwargs in bad_calls:
        with pytest.raises(InvalidInput):
            _request(shop, "bad", **kwargs)
    with pytest.raises(InvalidInput, match="idempotency key"):
        _request(shop, "has spaces")
    assert _count(shop, Refund) == 0


def test_another_customers_order_cannot_be_refunded(shop: Sessions) -> None:
    with pytest.raises(OrderNotFound):
        _check(shop, "20000001")
    with pytest.raises(OrderNotFound):
        _request(shop, "steal", "20000001")
    assert _count(shop, Refund) == 0


# --- idempotency and audit ---------------------------------------------------------------------


def test_same_key_returns_the_same_refund(shop: Sessions) -> None:
    first = _request(shop, "chat-7:refund", amount_cents=4000)
    again = _request(shop, "chat-7:refund", amount_cents=4000, now=NOW + dt.timedelta(minutes=5))
    assert again == first and again.created is False and first.created is True
    assert _count(shop, Refund) == 1 and _count(shop, AuditLog) == 1


def test_same_key_for_a_full_refund_is_replayed_although_nothing_is_left(shop: Sessions) -> None:
    first = _request(shop, "full")
    assert _request(shop, "full") == first


def test_reusing_a_key_for_a_different_request_is_a_conflict(shop: Sessions) -> None:
    _request(shop, "k", amount_cents=4000)
    with pytest.raises(IdempotencyConflict):
        _request(shop, "k", amount_cents=5000)
    with pytest.raises(IdempotencyConflict):
        _request(shop, "k", items=[RefundItemRequest(1, 1)])
    with write_transaction(shop) as session, pytest.raises(IdempotencyConflict):
        # Anna's key used by Ben on his own order: refused, and Anna's refund is not revealed.
        request_refund(session, "C0000002", "20000001", idempotency_key="k", actor="bot",
                       reason="x", now=NOW, return_window_days=WINDOW, amount_cents=4000)
    assert _count(shop, Refund) == 1


def test_refund_writes_an_audit_row_without_personal_data(shop: Sessions) -> None:
    _request(shop, "audited", items=[RefundItemRequest(2, 1)])
    with read_transaction(shop) as session:
        row = session.scalars(select(AuditLog)).one()
        refund_id = session.scalars(select(Refund.id)).one()
    assert (row.actor, row.action, row.entity_type, row.entity_id) == (
        "customer:C0000001", "refund.requested", "refund", refund_id)
    assert row.occurred_at == NOW and row.before is None
    assert row.after == {
        "order_number": "10000001", "reference": "10000001-R1", "amount_cents": 5000,
        "currency": "EUR",
        "status": "requested",
        "items": [{"line_no": 2, "sku": "TEA-7", "quantity": 1, "amount_cents": 5000}],
    }
    assert "anna" not in str(row.after).lower() and "broken" not in str(row.after)


# --- concurrency -------------------------------------------------------------------------------


def _in_parallel(count: int, call: Callable[[int], Any]) -> list[Any]:
    """Run ``call(i)`` in ``count`` threads released together; exceptions are returned."""
    barrier = threading.Barrier(count)

    def run(i: int) -> Any:
        barrier.wait()
        try:
            return call(i)
        except CrmError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


@pytest.mark.slow
def test_50_concurrent_identical_requests_create_one_refund(shop: Sessions) -> None:
    results = _in_parallel(50, lambda _: _request(shop, "double-click", amount_cents=2500))
    failures = [r for r in results if not isinstance(r, RefundView)]
    assert failures == []
    assert len(set(results)) == 1 and sum(r.created for r in results) == 1
    assert _count(shop, Refund) == 1 and _count(shop, AuditLog) == 1
    assert _check(shop).refundable_cents == 7500


@pytest.mark.slow
def test_20_concurrent_partial_refunds_never_exceed_the_order_total(shop: Sessions) -> None:
    results = _in_parallel(20, lambda i: _request(shop, f"partial-{i}", amount_cents=1500))
    granted = [r for r in results if isinstance(r, RefundView)]
    refused = [r for r in results if isinstance(r, NotEligibleForRefund)]
    assert len(granted) == 6 and len(refused) == 14  # 6 x 15.00 = 90.00 of 100.00
    assert {r.reason for r in refused} == {RefundCode.AMOUNT_EXCEEDS_REFUNDABLE}
    assert all(r.refundable_cents == 1000 for r in refused)
    with read_transaction(shop) as session:
        total = session.scalar(select(func.sum(Refund.amount_cents)))
    assert total == 9000 <= 10000
    assert sorted(r.reference for r in granted) == [f"10000001-R{i}" for i in range(1, 7)]
