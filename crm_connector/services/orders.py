"""Order status ("where is my order?") and a customer's recent orders.

Callers pass the customer number of an already verified customer; an order of anybody else is
reported exactly like a nonexistent one (``OrderNotFound``).

Delays and losses, judged on the latest shipment at the given ``now``:

* **lost**: the shipment's status is LOST; the customer is told a full refund is possible.
* **delayed**: not yet delivered (nor lost or returned) and either the estimated delivery day
  has passed (compared by UTC calendar day: "expected on the 20th" is late from the 21st) or
  the carrier reported a DELAYED scan / status.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crm_connector.db import db_boundary
from crm_connector.errors import InvalidInput
from crm_connector.models import (
    OrderKind,
    OrderLine,
    OrderStatus,
    SalesOrder,
    Shipment,
    ShipmentStatus,
)
from crm_connector.services.repository import get_customer_order, get_customer_row
from crm_connector.services.validation import require_aware
from crm_connector.services.views import (
    OrderLineView,
    OrderStatusView,
    OrderSummary,
    ShipmentEventView,
)
from crm_connector.services.wording import day

MAX_RECENT_ORDERS = 50


@db_boundary
def get_order_status(
    session: Session, customer_public_id: str, order_number: str, now: dt.datetime
) -> OrderStatusView:
    """Status, tracking timeline, expected delivery and delay/loss flags of one order."""
    require_aware(now)
    order = get_customer_order(session, customer_public_id, order_number)
    return order_status_view(order, now)


@db_boundary
def list_recent_orders(
    session: Session, customer_public_id: str, limit: int = 5
) -> tuple[OrderSummary, ...]:
    """The customer's newest orders (and credit notes), newest first."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RECENT_ORDERS:
        raise InvalidInput(f"limit must be between 1 and {MAX_RECENT_ORDERS}.")
    customer = get_customer_row(session, customer_public_id)
    orders = session.scalars(
        select(SalesOrder)
        .where(SalesOrder.customer_id == customer.id)
        .options(selectinload(SalesOrder.lines))
        .order_by(SalesOrder.placed_at.desc(), SalesOrder.id.desc())
        .limit(limit)
    )
    return tuple(
        OrderSummary(
            order_number=o.number,
            kind=o.kind,
            status=o.status,
            placed_at=o.placed_at,
            currency=o.currency,
            total_cents=o.total_cents,
            item_count=sum(abs(line.quantity) for line in o.lines),
        )
        for o in orders
    )


def order_status_view(order: SalesOrder, now: dt.datetime) -> OrderStatusView:
    shipment = order.shipments[-1] if order.shipments else None
    events = sorted(
        (event for s in order.shipments for event in s.events), key=lambda e: (e.occurred_at, e.id)
    )
    lost = shipment is not None and shipment.status == ShipmentStatus.LOST
    delayed = shipment is not None and _is_delayed(order, shipment, now)
    estimated = shipment.estimated_delivery_at if shipment else None
    return OrderStatusView(
        order_number=order.number,
        kind=order.kind,
        status=order.status,
        placed_at=order.placed_at,
        currency=order.currency,
        total_cents=order.total_cents,
        lines=tuple(_line_view(no, line) for no, line in enumerate(order.lines, start=1)),
        carrier=shipment.carrier if shipment else None,
        tracking_number=shipment.tracking_number if shipment else None,
        shipment_status=shipment.status if shipment else None,
        shipped_at=shipment.shipped_at if shipment else None,
        expected_delivery_date=estimated.astimezone(dt.UTC).date() if estimated else None,
        delivered_at=shipment.delivered_at if shipment else None,
        timeline=tuple(
            ShipmentEventView(
                occurred_at=e.occurred_at,
                status=e.status,
                location=e.location,
                description=e.description,
            )
            for e in events
        ),
        is_delayed=delayed,
        is_lost=lost,
        explanation=_explain(order, shipment, lost=lost, delayed=delayed, now=now),
    )


def _line_view(line_no: int, line: OrderLine) -> OrderLineView:
    return OrderLineView(
        line_no=line_no,
        sku=line.product.sku,
        product_name=line.product.name,
        quantity=line.quantity,
        unit_price_cents=line.unit_price_cents,
        line_total_cents=line.line_total_cents,
    )


_FINISHED = (ShipmentStatus.DELIVERED, ShipmentStatus.LOST, ShipmentStatus.RETURNED)


def _estimate_passed(shipment: Shipment, now: dt.datetime) -> bool:
    estimated = shipment.estimated_delivery_at
    if estimated is None:
        return False
    return now.astimezone(dt.UTC).date() > estimated.astimezone(dt.UTC).date()


def _is_delayed(order: SalesOrder, shipment: Shipment, now: dt.datetime) -> bool:
    if shipment.status in _FINISHED or shipment.delivered_at is not None:
        return False
    if order.status in (OrderStatus.DELIVERED, OrderStatus.CANCELLED, OrderStatus.RETURNED):
        return False
    carrier_says_delayed = shipment.status == ShipmentStatus.DELAYED or any(
        e.status == ShipmentStatus.DELAYED for e in shipment.events
    )
    return carrier_says_delayed or _estimate_passed(shipment, now)


def _explain(
    order: SalesOrder, shipment: Shipment | None, *, lost: bool, delayed: bool, now: dt.datetime
) -> str:
    n = order.number
    if order.kind == OrderKind.CREDIT_NOTE:
        return f"{n} is a credit note (the cancellation of an earlier invoice), not a delivery."
    if order.status == OrderStatus.CANCELLED:
        return f"Order {n} was cancelled."
    if order.status == OrderStatus.RETURNED:
        return f"Order {n} was returned to us."
    if order.status == OrderStatus.PLACED:
        return (
            f"Order {n} is waiting for payment; it will be prepared for shipping "
            "once the payment arrives."
        )
    if shipment is None:
        if order.status == OrderStatus.PAID:
            return (
                f"Order {n} is paid and being prepared for shipping. "
                "You can still cancel it or change the delivery address."
            )
        if order.status == OrderStatus.DELIVERED:
            return f"Order {n} was delivered."
        return f"Order {n} has been shipped; there is no tracking information for it."
    carrier, tracking = shipment.carrier, shipment.tracking_number
    if lost:
        return (
            f"We are sorry: {carrier} reports the parcel of order {n} (tracking {tracking}) "
            "as lost. "
            "You are entitled to a full refund, or an agent can arrange a replacement."
        )
    if shipment.status == ShipmentStatus.DELIVERED or order.status == OrderStatus.DELIVERED:
        when = f" on {day(shipment.delivered_at)}" if shipment.delivered_at else ""
        return f"Order {n} was delivered{when} by {carrier} (tracking {tracking})."
    if delayed:
        return _explain_delay(order, shipment, now)
    if shipment.status == ShipmentStatus.PENDING and shipment.shipped_at is None:
        return (
            f"Order {n} is packed and waiting to be picked up by {carrier} (tracking {tracking}). "
            "You can still cancel it or change the delivery address."
        )
    text = f"Order {n} is on its way with {carrier} (tracking {tracking})."
    if shipment.status == ShipmentStatus.OUT_FOR_DELIVERY:
        return text + " It is out for delivery today."
    if shipment.estimated_delivery_at:
        text += f" Expected delivery: {day(shipment.estimated_delivery_at)}."
    return text


def _explain_delay(order: SalesOrder, shipment: Shipment, now: dt.datetime) -> str:
    n, carrier = order.number, shipment.carrier
    if _estimate_passed(shipment, now) and shipment.estimated_delivery_at is not None:
        text = (
            f"Order {n} is late: {carrier} expected to deliver it on "
            f"{day(shipment.estimated_delivery_at)} and it has not arrived yet."
        )
    else:
        text = f"Order {n} is delayed with {carrier} (tracking {shipment.tracking_number})."
        if shipment.estimated_delivery_at:
            text += f" The expected delivery date is {day(shipment.estimated_delivery_at)}."
    if shipment.events:
        last = max(shipment.events, key=lambda e: (e.occurred_at, e.id))
        where = f", {last.location}" if last.location else ""
        text += f" Latest update ({day(last.occurred_at)}{where}): {last.description.rstrip('. ')}."
    return text + (
        " If it still has not arrived in a few days, an agent can open an investigation "
        "with the carrier."
    )
