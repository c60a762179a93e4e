"""Has an order left the warehouse? Shared by cancellations and address changes."""

from __future__ import annotations

from crm_connector.models import OrderStatus, SalesOrder, Shipment, ShipmentStatus
from crm_connector.services.wording import day

#: The statuses in which an order may still be cancelled or redirected.
BEFORE_SHIPPING = (OrderStatus.PLACED, OrderStatus.PAID)


def dispatched_shipment(order: SalesOrder) -> Shipment | None:
    """The latest shipment the carrier has (a label still waiting for pick-up does not count)."""
    for shipment in reversed(order.shipments):
        if shipment.shipped_at is not None or shipment.status != ShipmentStatus.PENDING:
            return shipment
    return None


def has_shipped(order: SalesOrder) -> bool:
    return order.status not in BEFORE_SHIPPING or dispatched_shipment(order) is not None


def shipped_phrase(order: SalesOrder) -> str:
    """``"already shipped with DHL on 2026-11-18 (tracking 0034...)"``, as far as known."""
    shipment = dispatched_shipment(order)
    if shipment is None:
        return "already shipped"
    when = f" on {day(shipment.shipped_at)}" if shipment.shipped_at else ""
    return f"already shipped with {shipment.carrier}{when} (tracking {shipment.tracking_number})"
