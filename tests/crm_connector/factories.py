"""Plain functions that put CRM rows into a session, with explicit timestamps.

Every test uses the fixed clock ``NOW``; times are given relative to it (``days_ago(3)``).
The functions only ``add`` and ``flush``; the test owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_connector.models import (
    Address,
    Customer,
    OrderKind,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentStatus,
    Product,
    Refund,
    RefundStatus,
    SalesOrder,
    Shipment,
    ShipmentEvent,
    ShipmentStatus,
)

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)

#: The ``sessions`` fixture's type.
Sessions = sessionmaker[Session]

#: (sku, quantity, unit price in cents)
LineSpec = tuple[str, int, int]
#: (when, status, location, description)
EventSpec = tuple[dt.datetime, ShipmentStatus, str | None, str]


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def days_ahead(days: float) -> dt.datetime:
    return NOW + dt.timedelta(days=days)


def make_customer(
    session: Session,
    public_id: str = "C0000001",
    *,
    email: str | None = "anna.schmidt@example.com",
    phone: str | None = "+4915112345678",
    first_name: str | None = "Anna",
    last_name: str | None = "Schmidt",
    country: str | None = "Germany",
) -> Customer:
    customer = Customer(
        public_id=public_id,
        email=email,
        phone=phone,
        first_name=first_name,
        last_name=last_name,
        country=country,
        created_at=days_ago(400),
    )
    session.add(customer)
    session.flush()
    return customer


def make_address(
    session: Session,
    customer: Customer,
    *,
    line1: str = "Hauptstrasse 1",
    city: str = "Berlin",
    postal_code: str = "10115",
    country: str = "DE",
    line2: str | None = None,
) -> Address:
    address = Address(
        customer_id=customer.id, line1=line1, line2=line2, city=city, postal_code=postal_code,
        country=country, is_default=True, created_at=days_ago(400),
    )
    session.add(address)
    session.flush()
    return address


def make_product(
    session: Session, sku: str, *, price_cents: int = 1000, name: str | None = None
) -> Product:
    product = session.scalars(select(Product).where(Product.sku == sku)).one_or_none()
    if product is None:
        product = Product(
            sku=sku, name=name or f"Product {sku}", price_cents=price_cents,
            created_at=days_ago(500),
        )
        session.add(product)
        session.flush()
    return product


def make_order(
    session: Session,
    customer: Customer,
    number: str,
    *,
    status: OrderStatus = OrderStatus.DELIVERED,
    placed_at: dt.datetime | None = None,
    lines: Sequence[LineSpec] = (("MUG-1", 2, 2500), ("TEA-7", 1, 5000)),
    shipping_cents: int = 0,
    paid: bool = True,
    kind: OrderKind = OrderKind.ORDER,
    address: Address | None = None,
) -> SalesOrder:
    """An order whose total is the sum of its lines plus shipping; ``paid`` adds a captured
    payment of the full total."""
    placed_at = placed_at or days_ago(10)
    subtotal = sum(qty * unit for _, qty, unit in lines)
    order = SalesOrder(
        number=number, kind=kind, customer_id=customer.id,
        shipping_address_id=address.id if address else None, status=status, currency="EUR",
        subtotal_cents=subtotal, shipping_cents=shipping_cents,
        total_cents=subtotal + shipping_cents,
        country="Germany", source="shop", placed_at=placed_at, updated_at=placed_at,
    )
    for sku, qty, unit in lines:
        product = make_product(session, sku, price_cents=unit)
        order.lines.append(
            OrderLine(
                product_id=product.id, quantity=qty, unit_price_cents=unit,
                line_total_cents=qty * unit,
            )
        )
    session.add(order)
    session.flush()
    if paid:
        session.add(
            Payment(order_id=order.id, method="card", status=PaymentStatus.CAPTURED,
                    amount_cents=order.total_cents, card_last4="4242", created_at=placed_at)
        )
        session.flush()
    return order


def make_shipment(
    session: Session,
    order: SalesOrder,
    *,
    status: ShipmentStatus,
    carrier: str = "DHL",
    tracking_number: str | None = None,
    shipped_at: dt.datetime | None = None,
    estimated_delivery_at: dt.datetime | None = None,
    delivered_at: dt.datetime | None = None,
    events: Sequence[EventSpec] = (),
) -> Shipment:
    shipment = Shipment(
        order_id=order.id, carrier=carrier, tracking_number=tracking_number or f"TRK{order.number}",
        status=status, shipped_at=shipped_at, estimated_delivery_at=estimated_delivery_at,
        delivered_at=delivered_at,
    )
    for occurred_at, event_status, location, description in events:
        shipment.events.append(
            ShipmentEvent(
                occurred_at=occurred_at, status=event_status, location=location,
                description=description,
            )
        )
    session.add(shipment)
    session.flush()
    return shipment


def delivered_order(
    session: Session,
    customer: Customer,
    number: str,
    *,
    delivered_at: dt.datetime | None = None,
    lines: Sequence[LineSpec] = (("MUG-1", 2, 2500), ("TEA-7", 1, 5000)),
    paid: bool = True,
) -> SalesOrder:
    """An order delivered (by default 5 days before ``NOW``) with a two-scan timeline."""
    delivered_at = delivered_at or days_ago(5)
    placed_at = delivered_at - dt.timedelta(days=3)
    order = make_order(session, customer, number, placed_at=placed_at, lines=lines, paid=paid)
    make_shipment(
        session, order, status=ShipmentStatus.DELIVERED,
        shipped_at=delivered_at - dt.timedelta(days=2),
        estimated_delivery_at=delivered_at,
        delivered_at=delivered_at,
        events=[
            (delivered_at - dt.timedelta(days=2), ShipmentStatus.IN_TRANSIT, "Leipzig",
             "Parcel handed to DHL"),
            (delivered_at, ShipmentStatus.DELIVERED, "Berlin", "Delivered"),
        ],
    )
    return order


def make_refund(
    session: Session,
    order: SalesOrder,
    amount_cents: int,
    *,
    key: str,
    status: RefundStatus = RefundStatus.COMPLETED,
    created_at: dt.datetime | None = None,
) -> Refund:
    refund = Refund(
        order_id=order.id, amount_cents=amount_cents, currency=order.currency, status=status,
        reason="earlier refund", idempotency_key=key, requested_by="agent:1",
        created_at=created_at or days_ago(1),
    )
    session.add(refund)
    session.flush()
    return refund
