"""Changing the delivery address before the order ships."""

from __future__ import annotations

import json
from typing import Any

import pytest
from factories import (
    NOW,
    Sessions,
    days_ago,
    delivered_order,
    make_address,
    make_customer,
    make_order,
    make_shipment,
)
from sqlalchemy import func, select

from crm_connector import (
    AddressChangeNotAllowed,
    AddressChangeRefusal,
    AddressChangeView,
    InvalidInput,
    NewAddress,
    OrderNotFound,
    change_delivery_address,
    customer_actor,
    write_transaction,
)
from crm_connector.models import (
    Address,
    AuditLog,
    Customer,
    OrderStatus,
    SalesOrder,
    ShipmentStatus,
)

ANNA = "C0000001"
NEW = NewAddress(
    line1="Gartenweg 5", line2="c/o Becker", city="Hamburg", postal_code="20095", country="DE"
)


@pytest.fixture
def shop(sessions: Sessions) -> Sessions:
    with sessions.begin() as session:
        anna = make_customer(session, ANNA)
        home = make_address(session, anna)
        make_order(session, anna, "10000001", status=OrderStatus.PAID, address=home)
        ben = make_customer(session, "C0000002", email="ben@example.org", phone=None)
        ben_home = make_address(session, ben)
        make_order(session, ben, "20000001", status=OrderStatus.PAID, address=ben_home)
    return sessions


def _change(sessions: Sessions, number: str = "10000001", address: NewAddress = NEW,
            customer: str = ANNA) -> AddressChangeView:
    with write_transaction(sessions) as session:
        return change_delivery_address(
            session, customer, number, address, actor=customer_actor(customer), now=NOW
        )


def _order_address(sessions: Sessions, number: str) -> Address | None:
    with sessions() as session:
        order = session.scalars(select(SalesOrder).where(SalesOrder.number == number)).one()
        return order.shipping_address


def test_paid_order_gets_the_new_address(shop: Sessions) -> None:
    before = _order_address(shop, "10000001")
    assert before is not None
    result = _change(shop)
    assert result.changed and result.order_number == "10000001"
    assert result.address.one_line() == "Gartenweg 5, c/o Becker, 20095 Hamburg, DE"
    after = _order_address(shop, "10000001")
    assert after is not None and after.id != before.id
    assert (after.line1, after.city, after.postal_code) == ("Gartenweg 5", "Hamburg", "20095")
    with shop() as session:
        anna_id = session.scalars(select(Customer.id).where(Customer.public_id == ANNA)).one()
        assert after.customer_id == anna_id
        assert session.get(Address, before.id) is not None  # the old address is kept
        audit = session.scalars(select(AuditLog)).one()
    assert (audit.actor, audit.action, audit.entity_type) == (
        "customer:C0000001", "order.delivery_address_changed",
                                                             "sales_order")
    assert audit.before == {"shipping_address_id": before.id}
    assert audit.after == {"shipping_address_id": after.id}
    assert "Gartenweg" not in json.dumps([audit.before, audit.after])


def test_same_address_again_changes_nothing(shop: Sessions) -> None:
    _change(shop)
    same = NewAddress(line1=" gartenweg  5 ", line2="c/o Becker", city="HAMBURG",
                      postal_code="20095", country="de")
    again = _change(shop, address=same)
    assert not again.changed
    with shop() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog)) == 1
        assert session.scalar(select(func.count()).select_from(Address)) == 3


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"line1": "  "}, "street address is missing"),
        ({"line1": "x" * 201}, "street address is too long"),
        ({"line1": "ab"}, "street address is too short"),
        ({"city": ""}, "city is missing"),
        ({"postal_code": ""}, "postal code is missing"),
        ({"postal_code": "201#95"}, "postal code may only"),
        ({"postal_code": "1" * 21}, "postal code is too long"),
        ({"country": ""}, "country is missing"),
        ({"country": "D3"}, "country must be"),
        ({"line2": "Apt\x004"}, "not allowed"),
    ],
)
def test_invalid_addresses_are_refused(
    shop: Sessions, fields: dict[str, Any], message: str
) -> None:
    values = {"line1": "Gartenweg 5", "city": "Hamburg", "postal_code": "20095", "country": "DE"}
    values.update(fields)
    with pytest.raises(InvalidInput, match=message):
        _change(shop, address=NewAddress(**values))
    with shop() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_shipped_order_keeps_its_address(shop: Sessions) -> None:
    with shop.begin() as session:
        order = session.scalars(select(SalesOrder).where(SalesOrder.number == "10000001")).one()
        order.status = OrderStatus.SHIPPED
        make_shipment(session, order, status=ShipmentStatus.IN_TRANSIT, carrier="GLS",
                      tracking_number="GLS9", shipped_at=days_ago(1))
    with pytest.raises(AddressChangeNotAllowed) as caught:
        _change(shop)
    assert caught.value.reason == AddressChangeRefusal.ALREADY_SHIPPED
    assert "already shipped with GLS on 2026-11-21 (tracking GLS9)" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (OrderStatus.CANCELLED, AddressChangeRefusal.CANCELLED),
        (OrderStatus.RETURNED, AddressChangeRefusal.RETURNED),
    ],
)
def test_cancelled_or_returned_orders_keep_their_address(
    shop: Sessions, status: OrderStatus, reason: AddressChangeRefusal
) -> None:
    with shop.begin() as session:
        order = session.scalars(select(SalesOrder).where(SalesOrder.number == "10000001")).one()
        order.status = status
    with pytest.raises(AddressChangeNotAllowed) as caught:
        _change(shop)
    assert caught.value.reason == reason


def test_delivered_order_keeps_its_address(shop: Sessions) -> None:
    with shop.begin() as session:
        anna = session.scalars(select(Customer).where(Customer.public_id == ANNA)).one()
        delivered_order(session, anna, "10000002")
    with pytest.raises(AddressChangeNotAllowed, match="already delivered") as caught:
        _change(shop, "10000002")
    assert caught.value.reason == AddressChangeRefusal.DELIVERED


def test_another_customers_order_is_invisible(shop: Sessions) -> None:
    with pytest.raises(OrderNotFound):
        _change(shop, "20000001")
    with shop() as session:
        assert session.scalar(select(func.count()).select_from(Address)) == 2
