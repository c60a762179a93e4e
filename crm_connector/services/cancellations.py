"""Cancelling an order before it ships.

Only PLACED or PAID orders whose parcel the carrier does not have yet can be cancelled; the
refusal says why (``NotCancellableReason``): already shipped (with carrier, date and tracking
number), delivered, returned, already cancelled (with the date), or a credit note.
``cancellation_refusal`` reports the same refusal without changing anything, so a caller can
check before asking the customer to confirm.

Cancelling records a ``Cancellation`` (one per order, unique in the schema), sets the order to
CANCELLED and, if money was received, creates a full refund of what is still refundable under
the idempotency key ``"cancel:<order number>"``. Run it in ``write_transaction``: the order row
is locked as in ``refunds``, so two concurrent cancellations yield one cancellation, one
refund, and one ``already_cancelled`` refusal.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_connector.db import db_boundary
from crm_connector.errors import OrderNotCancellable
from crm_connector.models import Cancellation, OrderKind, OrderStatus, SalesOrder
from crm_connector.services.audit import ENTITY_ORDER, record_audit, require_actor
from crm_connector.services.order_state import has_shipped, shipped_phrase
from crm_connector.services.refund_rules import paid_cents
from crm_connector.services.refunds import insert_refund
from crm_connector.services.repository import active_refunds, get_customer_order, refund_view
from crm_connector.services.validation import clean_text, require_aware
from crm_connector.services.views import (
    CancellationRefusalView,
    CancellationView,
    NotCancellableReason,
)
from crm_connector.services.wording import day

log = logging.getLogger(__name__)

MAX_REASON_LENGTH = 500


def cancellation_refund_key(order_number: str) -> str:
    return f"cancel:{order_number}"


@db_boundary
def cancel_order(
    session: Session,
    customer_public_id: str,
    order_number: str,
    *,
    actor: str,
    reason: str,
    now: dt.datetime,
) -> CancellationView:
    """Cancel an order that has not shipped; refund what was paid. ``OrderNotCancellable`` else."""
    actor = require_actor(actor)
    reason_text = clean_text(reason, "cancellation reason", max_len=MAX_REASON_LENGTH)
    require_aware(now)
    order = get_customer_order(session, customer_public_id, order_number, for_update=True)
    refusal = _refusal(session, order)
    if refusal is not None:
        raise _refused(refusal)

    previous = order.status
    try:
        with session.begin_nested():
            session.add(Cancellation(
                order_id=order.id, reason=reason_text, requested_by=actor, created_at=now
            ))
    except IntegrityError:
        raise _refused(_already_cancelled(session, order)) from None
    order.status = OrderStatus.CANCELLED
    order.updated_at = now
    record_audit(
        session, actor=actor, action="order.cancelled", entity_type=ENTITY_ORDER,
        entity_id=order.id, before={"status": previous}, after={"status": OrderStatus.CANCELLED},
        now=now,
    )

    refund_view_ = None
    outstanding = paid_cents(order) - sum(r.amount_cents for r in active_refunds(session, order))
    if outstanding > 0:
        refund, created = insert_refund(
            session, order, amount_cents=outstanding, items=(),
            idempotency_key=cancellation_refund_key(order.number), actor=actor,
            reason=f"Order cancelled before shipping: {reason_text}"[:MAX_REASON_LENGTH], now=now,
        )
        refund_view_ = refund_view(session, refund, order, created=created)
    session.flush()
    log.info("order %s cancelled (was %s)", order.number, previous.value)
    return CancellationView(
        order_number=order.number, cancelled_at=now, requested_by=actor, refund=refund_view_
    )


@db_boundary
def cancellation_refusal(
    session: Session, customer_public_id: str, order_number: str
) -> CancellationRefusalView | None:
    """Why ``cancel_order`` would refuse this order now, or ``None`` if it would cancel it.

    Read-only, for checking before asking the customer to confirm; ``cancel_order`` applies
    the same rule again when it runs. ``OrderNotFound`` for an order of anybody else.
    """
    order = get_customer_order(session, customer_public_id, order_number)
    return _refusal(session, order)


def _refusal(session: Session, order: SalesOrder) -> CancellationRefusalView | None:
    """The one cancellation rule: why ``order`` cannot be cancelled, or ``None``."""
    n = order.number
    if order.kind == OrderKind.CREDIT_NOTE:
        return CancellationRefusalView(
            n, NotCancellableReason.CREDIT_NOTE,
            f"{n} is a credit note (the cancellation of an earlier invoice); "
            "it cannot be cancelled.",
        )
    if order.status == OrderStatus.CANCELLED:
        return _already_cancelled(session, order)
    if order.status == OrderStatus.DELIVERED:
        delivered = [s.delivered_at for s in order.shipments if s.delivered_at]
        when = f" on {day(max(delivered))}" if delivered else ""
        return CancellationRefusalView(
            n, NotCancellableReason.DELIVERED,
            f"Order {n} was already delivered{when}, so it can no longer be cancelled. "
            "You can ask for a refund instead.",
        )
    if order.status == OrderStatus.RETURNED:
        return CancellationRefusalView(
            n, NotCancellableReason.RETURNED,
            f"Order {n} was returned to us, so it can no longer be cancelled.",
        )
    if has_shipped(order):
        return CancellationRefusalView(
            n, NotCancellableReason.ALREADY_SHIPPED,
            f"Order {n} has {shipped_phrase(order)}, so it can no longer be cancelled. "
            "Once it arrives you can return it for a refund.",
        )
    return None


def _already_cancelled(session: Session, order: SalesOrder) -> CancellationRefusalView:
    cancelled_at = session.scalar(
        select(Cancellation.created_at).where(Cancellation.order_id == order.id)
    )
    when = f" on {day(cancelled_at)}" if cancelled_at else ""
    return CancellationRefusalView(
        order.number, NotCancellableReason.ALREADY_CANCELLED,
        f"Order {order.number} was already cancelled{when}.",
    )


def _refused(refusal: CancellationRefusalView) -> OrderNotCancellable:
    return OrderNotCancellable(refusal.message, reason=refusal.reason)
