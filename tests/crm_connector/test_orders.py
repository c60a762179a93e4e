"""Order status ("where is my order?") and recent orders."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from factories import (
    NOW,
    Sessions,
    days_ago,
    days_ahead,
    delivered_order,
    make_customer,
    make_order,
    make_shipment,
)

from crm_connector import (
    CustomerNotFound,
    InvalidInput,
    OrderNotFound,
    get_order_status,
    list_recent_orders,
    read_transaction,
)
from crm_connector.models import OrderKind, OrderStatus, ShipmentStatus

IN_TRANSIT, DELAYED = ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELAYED


@pytest.fixture
def shop(sessions: Sessions) -> Sessions:
    with sessions.begin() as session:
        anna = make_customer(session, "C0000001")
        ben = make_customer(session, "C0000002", email="ben@example.org", phone=None)
        on_the_way = make_order(
            session, anna, "10000001", status=OrderStatus.SHIPPED, placed_at=days_ago(3)
        )
        # Events inserted newest first: the timeline must still come out oldest first.
        make_shipment(
            session, on_the_way, status=IN_TRANSIT, carrier="DHL",
            tracking_number="00340434161094042557",
            shipped_at=days_ago(2), estimated_delivery_at=days_ahead(1),
            events=[
                (days_ago(1), IN_TRANSIT, "Leipzig hub", "Arrived at sorting centre"),
                (days_ago(2), IN_TRANSIT, "Hamburg", "Picked up by carrier"),
            ],
        )
        make_order(session, ben, "20000001", status=OrderStatus.SHIPPED)
    return sessions


def _status(sessions: Sessions, number: str, customer: str = "C0000001", now: dt.datetime = NOW):
    with read_transaction(sessions) as session:
        return get_order_status(session, customer, number, now)


def test_shipped_order_shows_carrier_tracking_expected_date_and_timeline(shop: Sessions) -> None:
    view = _status(shop, "10000001")
    assert view.status == OrderStatus.SHIPPED
    assert (view.carrier, view.tracking_number) == ("DHL", "00340434161094042557")
    assert view.expected_delivery_date == dt.date(2026, 11, 23)
    assert [e.location for e in view.timeline] == ["Hamburg", "Leipzig hub"]
    assert view.timeline[0].occurred_at < view.timeline[1].occurred_at
    assert not view.is_delayed and not view.is_lost
    assert "on its way with DHL" in view.explanation and "2026-11-23" in view.explanation
    lines = [(line.line_no, line.sku, line.quantity) for line in view.lines]
    assert lines == [(1, "MUG-1", 2), (2, "TEA-7", 1)]


def test_view_is_plain_data_without_database_ids(shop: Sessions) -> None:
    view = _status(shop, "10000001")
    names = {f.name for f in dataclasses.fields(view)}
    assert not {"id", "customer_id", "shipping_address_id"} & names
    assert view.order_number == "10000001"
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.status = OrderStatus.DELIVERED  # type: ignore[misc]


def test_estimated_day_passed_without_delivery_is_delayed(shop: Sessions) -> None:
    on_the_day = _status(shop, "10000001", now=NOW + dt.timedelta(days=1, hours=10))
    assert not on_the_day.is_delayed  # still the expected day (UTC)
    late = _status(shop, "10000001", now=NOW + dt.timedelta(days=2))
    assert late.is_delayed and not late.is_lost
    assert "late" in late.explanation and "2026-11-23" in late.explanation
    assert "Arrived at sorting centre" in late.explanation


def test_delayed_scan_marks_the_parcel_delayed_before_the_estimate(sessions: Sessions) -> None:
    with sessions.begin() as session:
        anna = make_customer(session)
        order = make_order(session, anna, "10000003", status=OrderStatus.SHIPPED)
        make_shipment(
            session, order, status=DELAYED, carrier="UPS", shipped_at=days_ago(2),
            estimated_delivery_at=days_ahead(2),
            events=[
                (days_ago(2), IN_TRANSIT, "Cologne", "Picked up"),
                (days_ago(1), DELAYED, "Cologne", "Delayed due to severe weather."),
            ],
        )
    view = _status(sessions, "10000003")
    assert view.is_delayed
    assert view.timeline[-1].status == DELAYED
    assert "delayed with UPS" in view.explanation
    assert "Delayed due to severe weather." in view.explanation and ".." not in view.explanation


def test_lost_parcel_is_flagged_with_a_refund_offer(sessions: Sessions) -> None:
    with sessions.begin() as session:
        anna = make_customer(session)
        order = make_order(session, anna, "10000004", status=OrderStatus.SHIPPED)
        make_shipment(session, order, status=ShipmentStatus.LOST, carrier="Hermes",
                      tracking_number="H123", shipped_at=days_ago(20),
                      estimated_delivery_at=days_ago(17),
                      events=[(days_ago(15), ShipmentStatus.LOST, None,
                                "Parcel could not be located")])
    view = _status(sessions, "10000004")
    assert view.is_lost and not view.is_delayed
    assert "Hermes" in view.explanation and "lost" in view.explanation
    assert "full refund" in view.explanation


def test_delivered_order_is_not_delayed_even_after_its_estimate(sessions: Sessions) -> None:
    with sessions.begin() as session:
        delivered_order(session, make_customer(session), "10000005", delivered_at=days_ago(5))
    view = _status(sessions, "10000005")
    assert view.status == OrderStatus.DELIVERED and not view.is_delayed
    assert view.delivered_at == days_ago(5)
    assert "delivered on 2026-11-17" in view.explanation


def test_paid_order_not_shipped_yet(sessions: Sessions) -> None:
    with sessions.begin() as session:
        make_order(session, make_customer(session), "10000006", status=OrderStatus.PAID)
    view = _status(sessions, "10000006")
    assert view.carrier is None and view.timeline == () and view.expected_delivery_date is None
    assert "being prepared for shipping" in view.explanation and "cancel" in view.explanation


def test_another_customers_order_looks_exactly_like_a_missing_one(shop: Sessions) -> None:
    with pytest.raises(OrderNotFound) as foreign:
        _status(shop, "20000001", customer="C0000001")
    with pytest.raises(OrderNotFound) as missing:
        _status(shop, "99999999", customer="C0000001")
    assert str(foreign.value).replace("20000001", "N") == (
        str(missing.value).replace("99999999", "N")
    )
    assert _status(shop, "20000001", customer="C0000002").order_number == "20000001"


def test_recent_orders_newest_first_and_only_the_customers_own(sessions: Sessions) -> None:
    with sessions.begin() as session:
        anna = make_customer(session)
        ben = make_customer(session, "C0000002", email="ben@example.org", phone=None)
        for i in range(7):
            make_order(session, anna, f"1000010{i}", placed_at=days_ago(30 - i))
        make_order(session, anna, "C1000200", kind=OrderKind.CREDIT_NOTE, placed_at=days_ago(1),
                   lines=[("MUG-1", -1, 2500)], paid=False)
        make_order(session, ben, "20000009", placed_at=NOW)
    with read_transaction(sessions) as session:
        recent = list_recent_orders(session, "C0000001", limit=3)
        with pytest.raises(InvalidInput):
            list_recent_orders(session, "C0000001", limit=0)
        with pytest.raises(CustomerNotFound):
            list_recent_orders(session, "C0000404")
    assert [o.order_number for o in recent] == ["C1000200", "10000106", "10000105"]
    assert recent[0].kind == OrderKind.CREDIT_NOTE
    assert recent[1].item_count == 3 and recent[1].total_cents == 10000
