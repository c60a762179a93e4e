"""What the services return (and the small value objects they accept).

Plain frozen dataclasses: no ORM objects, no database ids, nothing bound to a session, so a
caller can keep them after the transaction ended. Customers are named by ``public_id``
("C0000042"), orders by their ``order_number``, refunds by a ``reference`` ("10004217-R1").
Fields holding personal data are left out of ``repr`` so a stray log line does not leak them.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from crm_connector.models.base import (
    ConversationStatus,
    OrderKind,
    OrderStatus,
    RefundStatus,
    ShipmentStatus,
)


ReasonT = TypeVar("ReasonT", bound=enum.StrEnum)


class RefundCode(enum.StrEnum):
    """Why a refund is (or is not) possible. Stable: the action server maps these to replies."""

    ELIGIBLE = "eligible"
    LOST_PARCEL = "lost_parcel"  # eligible: the carrier lost it, a full refund is due
    NOT_DELIVERED = "not_delivered"
    RETURN_WINDOW_CLOSED = "return_window_closed"
    ALREADY_REFUNDED = "already_refunded"
    AMOUNT_EXCEEDS_REFUNDABLE = "amount_exceeds_refundable"
    QUANTITY_EXCEEDS_REFUNDABLE = "quantity_exceeds_refundable"
    ORDER_CANCELLED = "order_cancelled"
    CREDIT_NOTE = "credit_note"
    NOT_PAID = "not_paid"


class NotCancellableReason(enum.StrEnum):
    ALREADY_SHIPPED = "already_shipped"
    DELIVERED = "delivered"
    ALREADY_CANCELLED = "already_cancelled"
    RETURNED = "returned"
    CREDIT_NOTE = "credit_note"


class AddressChangeRefusal(enum.StrEnum):
    ALREADY_SHIPPED = "already_shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURNED = "returned"
    CREDIT_NOTE = "credit_note"


class TokenRejection(enum.StrEnum):
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    WRONG_AUDIENCE = "wrong_audience"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    UNKNOWN_CUSTOMER = "unknown_customer"


class VerificationMethod(enum.StrEnum):
    EMAIL_AND_ORDER = "email_and_order"
    SHOP_TOKEN = "shop_token"


# --- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefundItemRequest:
    """Refund ``quantity`` units of the order's line number ``line_no`` (1-based, as listed
    in ``OrderStatusView.lines``)."""

    line_no: int
    quantity: int


@dataclass(frozen=True, slots=True)
class NewAddress:
    """A delivery address as typed by the customer; validated by ``change_delivery_address``."""

    line1: str = field(repr=False)
    city: str
    postal_code: str = field(repr=False)
    country: str
    line2: str | None = field(default=None, repr=False)


# --- outputs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerView:
    public_id: str
    display_name: str = field(repr=False)
    first_name: str | None = field(repr=False)
    last_name: str | None = field(repr=False)
    email: str | None = field(repr=False)
    phone: str | None = field(repr=False)
    country: str | None
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    """A customer whose identity was proven, how, and until when a shop token is valid."""

    customer: CustomerView
    method: VerificationMethod
    expires_at: dt.datetime | None = None

    @property
    def customer_public_id(self) -> str:
        return self.customer.public_id


@dataclass(frozen=True, slots=True)
class AddressView:
    line1: str = field(repr=False)
    line2: str | None = field(repr=False)
    city: str
    postal_code: str = field(repr=False)
    country: str

    def one_line(self) -> str:
        parts = [self.line1, self.line2, f"{self.postal_code} {self.city}", self.country]
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True, slots=True)
class OrderLineView:
    line_no: int
    sku: str
    product_name: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int


@dataclass(frozen=True, slots=True)
class ShipmentEventView:
    occurred_at: dt.datetime
    status: ShipmentStatus
    location: str | None
    description: str


@dataclass(frozen=True, slots=True)
class OrderSummary:
    order_number: str
    kind: OrderKind
    status: OrderStatus
    placed_at: dt.datetime
    currency: str
    total_cents: int
    item_count: int


@dataclass(frozen=True, slots=True)
class OrderStatusView:
    """Everything "where is my order?" needs. Shipment fields describe the latest shipment;
    ``timeline`` holds the tracking events of all shipments, oldest first."""

    order_number: str
    kind: OrderKind
    status: OrderStatus
    placed_at: dt.datetime
    currency: str
    total_cents: int
    lines: tuple[OrderLineView, ...]
    carrier: str | None
    tracking_number: str | None
    shipment_status: ShipmentStatus | None
    shipped_at: dt.datetime | None
    expected_delivery_date: dt.date | None
    delivered_at: dt.datetime | None
    timeline: tuple[ShipmentEventView, ...]
    is_delayed: bool
    is_lost: bool
    #: One or two sentences for the customer, e.g. why the parcel is late and what happens next.
    explanation: str


@dataclass(frozen=True, slots=True)
class RefundEligibility:
    order_number: str
    eligible: bool
    code: RefundCode
    #: Customer-readable; says what to do instead when not eligible.
    message: str
    currency: str
    paid_cents: int
    refunded_cents: int
    #: What can still be refunded: ``paid_cents - refunded_cents``; 0 when the order cannot be
    #: refunded at all (not delivered, window closed, cancelled, credit note).
    refundable_cents: int
    #: What the checked request would refund (the full refundable amount when none was given).
    requested_cents: int | None
    return_window_closes_at: dt.datetime | None
    #: True when the order has not shipped: cancelling it is the better way to get the money back.
    suggest_cancellation: bool = False


@dataclass(frozen=True, slots=True)
class RefundItemView:
    line_no: int
    sku: str
    quantity: int
    amount_cents: int


@dataclass(frozen=True, slots=True)
class RefundView:
    #: Customer-facing reference: order number and the refund's position on that order.
    reference: str
    order_number: str
    amount_cents: int
    currency: str
    status: RefundStatus
    requested_by: str
    created_at: dt.datetime
    idempotency_key: str
    items: tuple[RefundItemView, ...]
    #: False when the call found the refund created earlier under the same idempotency key.
    created: bool = field(default=True, compare=False)


@dataclass(frozen=True, slots=True)
class CancellationView:
    order_number: str
    cancelled_at: dt.datetime
    requested_by: str
    #: The full refund recorded with the cancellation of a paid order, else None.
    refund: RefundView | None


@dataclass(frozen=True, slots=True)
class AddressChangeView:
    order_number: str
    address: AddressView
    #: False when the order already went to exactly this address (nothing was written).
    changed: bool


@dataclass(frozen=True, slots=True)
class RefusalView(Generic[ReasonT]):
    """Why a change to an order would be refused now: the ``reason`` code and the
    customer-readable ``message`` of the error the change itself raises."""

    order_number: str
    reason: ReasonT
    message: str


class CancellationRefusalView(RefusalView[NotCancellableReason]):
    """What ``cancel_order`` would raise as ``OrderNotCancellable``."""

    __slots__ = ()


class AddressChangeRefusalView(RefusalView[AddressChangeRefusal]):
    """What ``change_delivery_address`` would raise as ``AddressChangeNotAllowed``."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class QueuedConversation:
    """A conversation handed to the agents. ``sender_id`` as stored (hashed when too long)."""

    sender_id: str
    status: ConversationStatus
    queued_at: dt.datetime | None
    #: The reason of this handoff (an agent who already has the conversation keeps theirs).
    handoff_reason: str | None
    #: False when the conversation was already queued or with an agent.
    newly_queued: bool


@dataclass(frozen=True, slots=True)
class AuditEntryView:
    occurred_at: dt.datetime
    actor: str
    action: str
    entity_type: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
