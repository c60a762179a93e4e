"""The generator's intermediate form: what was ordered, and the full story of each order.

A ``Story`` holds every event an order will ever have (payment, parcel scans, a cancellation,
a refund and its steps), some of which may lie after ``DemoConfig.now``; ``materialise`` cuts it
at ``now`` and derives the row states from what had happened by then, so statuses always agree
with the events that explain them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from crm_connector.models import ShipmentStatus


@dataclass(frozen=True)
class PlannedLine:
    product_id: int
    quantity: int
    unit_price_cents: int

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


@dataclass
class PlannedOrder:
    customer_id: int
    customer_public_id: str
    address_id: int
    country: str
    city: str
    placed_at: dt.datetime
    lines: list[PlannedLine]
    shipping_cents: int
    method: str  # card | paypal | bank_transfer
    card_last4: str | None
    #: Fixed number of a showcase order; generated orders are numbered after sorting.
    number: str | None = None
    scenario: str | None = None

    @property
    def subtotal_cents(self) -> int:
        return sum(line.total_cents for line in self.lines)

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.shipping_cents


@dataclass(frozen=True)
class Scan:
    at: dt.datetime
    status: ShipmentStatus
    location: str | None
    description: str


@dataclass(frozen=True)
class CancelPlan:
    at: dt.datetime
    requested_by: str
    reason: str


@dataclass(frozen=True)
class RefundPlan:
    requested_at: dt.datetime
    requested_by: str
    reason: str
    amount_cents: int
    #: (line index in the order, quantity, amount in cents); empty for an amount-only refund.
    items: tuple[tuple[int, int, int], ...]
    approved_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    rejected_at: dt.datetime | None = None
    #: The refund recorded with the cancellation of a paid order (key ``cancel:<order number>``).
    for_cancellation: bool = False


@dataclass
class Story:
    paid_at: dt.datetime | None
    failed_payment_at: dt.datetime | None = None
    cancel: CancelPlan | None = None
    #: Payment never arrived; the order is cancelled at ``cancel.at`` and the payment fails.
    unpaid: bool = False
    carrier: str | None = None
    tracking_number: str | None = None
    estimated_delivery_at: dt.datetime | None = None
    scans: list[Scan] = field(default_factory=list)
    refund: RefundPlan | None = None
