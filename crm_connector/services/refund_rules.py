"""The refund policy as a pure function of an order, its earlier refunds and ``now``.

Checked in this order, the first that applies decides:

1. a credit note (imported cancellation invoice) -> ``credit_note``;
2. a cancelled order -> ``order_cancelled`` (its refund came with the cancellation);
3. a parcel the carrier lost -> eligible (``lost_parcel``) for a full refund, no return window;
4. a returned order -> eligible, no return window (the goods are back with us);
5. not delivered yet -> ``not_delivered`` (PLACED/PAID: ``suggest_cancellation``);
6. delivered more than ``return_window_days`` ago -> ``return_window_closed`` with the date;
   the delivery date is the latest shipment ``delivered_at``, or the order date for orders
   without tracking (imported history);
7. nothing paid -> ``not_paid``; everything paid already refunded -> ``already_refunded``;
8. the request: items (order line + quantity; at most the units not refunded yet, priced at the
   line's unit price) or an amount or, when neither is given, everything still refundable.
   More than ``paid - refunded`` -> ``amount_exceeds_refundable`` stating the maximum.

``paid`` is the sum of captured payments (CAPTURED, PARTIALLY_REFUNDED, REFUNDED); ``refunded``
the sum of refunds that are not REJECTED.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from crm_connector.errors import InvalidInput
from crm_connector.models import (
    OrderKind,
    OrderLine,
    OrderStatus,
    PaymentStatus,
    Refund,
    SalesOrder,
    ShipmentStatus,
)
from crm_connector.services.repository import refund_items_by_line
from crm_connector.services.validation import require_positive_int
from crm_connector.services.views import RefundCode, RefundEligibility, RefundItemRequest
from crm_connector.services.wording import day, money

PAID_STATES = (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)


@dataclass(frozen=True, slots=True)
class ResolvedItem:
    line: OrderLine
    line_no: int
    quantity: int
    amount_cents: int


@dataclass(frozen=True, slots=True)
class RefundDecision:
    eligibility: RefundEligibility
    #: What a refund created now would cover (empty for an amount-only refund).
    items: tuple[ResolvedItem, ...]


def paid_cents(order: SalesOrder) -> int:
    return sum(p.amount_cents for p in order.payments if p.status in PAID_STATES)


def validate_request(
    order: SalesOrder, amount_cents: int | None, items: Sequence[RefundItemRequest] | None
) -> tuple[int | None, tuple[tuple[OrderLine, int, int], ...] | None]:
    """``InvalidInput`` for requests that make no sense; (amount, ((line, line_no, qty), ...))."""
    if amount_cents is not None and items is not None:
        raise InvalidInput("Ask for either an amount or order items, not both.")
    if amount_cents is not None:
        return require_positive_int(amount_cents, "refund amount (in cents)"), None
    if items is None:
        return None, None
    if not items:
        raise InvalidInput("Name at least one order line to refund.")
    seen: set[int] = set()
    resolved = []
    for item in items:
        if not isinstance(item, RefundItemRequest):
            raise InvalidInput("Refund items must be RefundItemRequest(line_no, quantity).")
        line_no = require_positive_int(item.line_no, "order line number")
        quantity = require_positive_int(item.quantity, "quantity")
        if line_no > len(order.lines):
            raise InvalidInput(f"Order {order.number} has no line {line_no}.")
        if line_no in seen:
            raise InvalidInput(f"Line {line_no} is listed twice.")
        seen.add(line_no)
        resolved.append((order.lines[line_no - 1], line_no, quantity))
    return None, tuple(resolved)


def decide(
    order: SalesOrder,
    refunds: Sequence[Refund],
    *,
    now: dt.datetime,
    return_window_days: int,
    amount_cents: int | None = None,
    items: Sequence[RefundItemRequest] | None = None,
) -> RefundDecision:
    """Apply the policy; ``refunds`` are the order's refunds that are not REJECTED."""
    amount, wanted = validate_request(order, amount_cents, items)
    facts = _Facts.of(order, refunds, return_window_days)

    def verdict(code: RefundCode, message: str, *, left: int = 0, requested: int | None = None,
                suggest_cancellation: bool = False) -> RefundEligibility:
        return RefundEligibility(
            order_number=order.number, eligible=code in _ELIGIBLE, code=code, message=message,
            currency=order.currency, paid_cents=facts.paid, refunded_cents=facts.refunded,
            refundable_cents=left, requested_cents=requested,
            return_window_closes_at=facts.window_closes, suggest_cancellation=suggest_cancellation,
        )

    refusal = _order_refusal(order, facts, now, return_window_days)
    if refusal is not None:
        flagged = verdict(refusal.code, refusal.message,
                          suggest_cancellation=refusal.suggest_cancellation)
        return RefundDecision(flagged, ())
    refundable = facts.refundable

    resolved: tuple[ResolvedItem, ...] = ()
    if wanted is not None:
        done = refund_items_by_line(list(refunds))
        built = []
        for line, line_no, quantity in wanted:
            left_units = max(line.quantity - done.get(line.id, 0), 0)
            if quantity > left_units:
                what = (f"only {left_units} can still be refunded" if left_units
                        else "it has already been refunded in full")
                message = (f"Line {line_no} of order {order.number}: you asked to refund "
                           f"{quantity} but {what}.")
                return RefundDecision(
                    verdict(RefundCode.QUANTITY_EXCEEDS_REFUNDABLE, message, left=refundable), ()
                )
            built.append(ResolvedItem(line, line_no, quantity, quantity * line.unit_price_cents))
        resolved = tuple(built)
        requested = sum(i.amount_cents for i in resolved)
    else:
        requested = amount if amount is not None else refundable

    cur = order.currency
    if requested > refundable:
        message = (f"You asked for {money(requested, cur)}, but at most {money(refundable, cur)} "
                   f"can still be refunded for order {order.number}.")
        too_much = verdict(RefundCode.AMOUNT_EXCEEDS_REFUNDABLE, message, left=refundable,
                           requested=requested)
        return RefundDecision(too_much, ())
    if facts.lost:
        code = RefundCode.LOST_PARCEL
        message = (f"The carrier lost the parcel of order {order.number}, so you can get a full "
                   f"refund of {money(refundable, cur)}.")
    else:
        code = RefundCode.ELIGIBLE
        message = f"Order {order.number} can be refunded: {money(requested, cur)}"
        if requested < refundable:
            message += f" (up to {money(refundable, cur)} in total)"
        message += "."
    return RefundDecision(verdict(code, message, left=refundable, requested=requested), resolved)


_ELIGIBLE = (RefundCode.ELIGIBLE, RefundCode.LOST_PARCEL)


class _Refusal(NamedTuple):
    code: RefundCode
    message: str
    suggest_cancellation: bool = False


@dataclass(frozen=True, slots=True)
class _Facts:
    paid: int
    refunded: int
    window_closes: dt.datetime | None
    lost: bool

    @property
    def refundable(self) -> int:
        return max(self.paid - self.refunded, 0)

    @classmethod
    def of(cls, order: SalesOrder, refunds: Sequence[Refund], window_days: int) -> _Facts:
        delivered_at = _delivered_at(order)
        return cls(
            paid=paid_cents(order),
            refunded=sum(r.amount_cents for r in refunds),
            window_closes=delivered_at + dt.timedelta(days=window_days) if delivered_at else None,
            lost=any(s.status == ShipmentStatus.LOST for s in order.shipments),
        )


def _order_refusal(
    order: SalesOrder, facts: _Facts, now: dt.datetime, window_days: int
) -> _Refusal | None:
    """Steps 1-7 of the policy: why this order cannot be refunded at all, if it cannot."""
    n, cur = order.number, order.currency
    if order.kind == OrderKind.CREDIT_NOTE:
        return _Refusal(
            RefundCode.CREDIT_NOTE,
            f"{n} is a credit note (the cancellation of an earlier invoice); "
            "there is nothing to refund on it.",
        )
    if order.status == OrderStatus.CANCELLED:
        if facts.refunded:
            return _Refusal(
                RefundCode.ORDER_CANCELLED,
                f"Order {n} was cancelled and its refund of {money(facts.refunded, cur)} "
                "was recorded then.",
            )
        return _Refusal(
            RefundCode.ORDER_CANCELLED,
            f"Order {n} was cancelled, so it cannot be refunded; if you were charged for it, "
            "an agent will look into it.",
        )
    if not facts.lost and order.status != OrderStatus.RETURNED:
        if order.status in (OrderStatus.PLACED, OrderStatus.PAID):
            tail = ", and the full amount will be refunded" if facts.paid else ""
            return _Refusal(
                RefundCode.NOT_DELIVERED,
                f"Order {n} has not shipped yet, so there is nothing to return. "
                f"You can cancel it instead{tail}.",
                suggest_cancellation=True,
            )
        if order.status != OrderStatus.DELIVERED:
            return _Refusal(
                RefundCode.NOT_DELIVERED,
                f"Order {n} is still on its way. Once it has been delivered you can ask "
                f"for a refund within {window_days} days.",
            )
        if facts.window_closes is not None and now > facts.window_closes:
            return _Refusal(
                RefundCode.RETURN_WINDOW_CLOSED,
                f"The {window_days}-day return window for order {n} closed on "
                f"{day(facts.window_closes)}, so it can no longer be refunded.",
            )
    if facts.paid == 0:
        return _Refusal(
            RefundCode.NOT_PAID,
            f"No payment has been received for order {n}, so there is nothing to refund.",
        )
    if facts.refundable == 0:
        return _Refusal(
            RefundCode.ALREADY_REFUNDED,
            f"Order {n} has already been fully refunded ({money(facts.refunded, cur)}).",
        )
    return None


def _delivered_at(order: SalesOrder) -> dt.datetime | None:
    delivered = [s.delivered_at for s in order.shipments if s.delivered_at is not None]
    if delivered:
        return max(delivered)
    if order.status == OrderStatus.DELIVERED:
        return order.placed_at
    return None
