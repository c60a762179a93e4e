"""Refund eligibility and refund requests.

The policy itself lives in ``refund_rules`` (see there for every refusal reason).

Exactly once, even under concurrency
------------------------------------
``request_refund`` must run inside ``crm_connector.write_transaction(sessions)``:

1. The order row is locked first: ``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite
   ``write_transaction`` began with ``BEGIN IMMEDIATE``, so the database write lock is already
   held. Concurrent requests for the same order therefore run one after the other, and each
   sees the refunds the previous ones committed (READ COMMITTED takes a new snapshot per
   statement; SQLite's lock holder reads the newest data). Different keys can never refund more
   than was paid, because the remaining amount is computed under the lock.
2. The idempotency key is looked up *before* the policy: a repeated request returns the refund
   it created the first time (``created=False``), even if that refund emptied the order; a key
   reused for another order, amount or set of items raises ``IdempotencyConflict``.
3. The insert runs in a savepoint. Keys are unique in the schema, so if a concurrent request
   for a *different* order used the same key (the order lock does not cover that), the insert
   fails with an IntegrityError, the savepoint is rolled back and the winner's refund is read
   back and compared as in step 2.

With a plain ``sessions.begin()`` on SQLite the result is still never wrong, but concurrent
writers may fail with ``DatabaseUnavailable`` (a read snapshot cannot be upgraded to a write
after another writer committed).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_connector.db import db_boundary
from crm_connector.errors import IdempotencyConflict, NotEligibleForRefund
from crm_connector.models import Refund, RefundItem, RefundStatus, SalesOrder
from crm_connector.services.audit import ENTITY_REFUND, record_audit, require_actor
from crm_connector.services.refund_rules import ResolvedItem, decide, validate_request
from crm_connector.services.repository import (
    active_refunds,
    get_customer_order,
    refund_by_key,
    refund_view,
)
from crm_connector.services.validation import (
    clean_text,
    require_aware,
    require_idempotency_key,
    require_positive_int,
)
from crm_connector.services.views import RefundEligibility, RefundItemRequest, RefundView

log = logging.getLogger(__name__)

MAX_REASON_LENGTH = 500
KEY_CONFLICT = (
    "This request key was already used for a different refund request. "
    "A new refund request needs a new key."
)


@db_boundary
def check_refund_eligibility(
    session: Session,
    customer_public_id: str,
    order_number: str,
    *,
    now: dt.datetime,
    return_window_days: int,
    amount_cents: int | None = None,
    items: Sequence[RefundItemRequest] | None = None,
) -> RefundEligibility:
    """Could this order be refunded now (for this amount or these items, or in full)?"""
    require_aware(now)
    window = require_positive_int(return_window_days, "return window (days)")
    order = get_customer_order(session, customer_public_id, order_number)
    decision = decide(order, active_refunds(session, order), now=now, return_window_days=window,
                      amount_cents=amount_cents, items=items)
    return decision.eligibility


@db_boundary
def request_refund(
    session: Session,
    customer_public_id: str,
    order_number: str,
    *,
    idempotency_key: str,
    actor: str,
    reason: str,
    now: dt.datetime,
    return_window_days: int,
    amount_cents: int | None = None,
    items: Sequence[RefundItemRequest] | None = None,
) -> RefundView:
    """Create a refund (status REQUESTED) once per ``idempotency_key``; see the module docstring.

    Neither ``amount_cents`` nor ``items``: everything still refundable. Raises
    ``NotEligibleForRefund`` (with ``reason`` and, for too-high requests, ``refundable_cents``).
    """
    key = require_idempotency_key(idempotency_key)
    actor = require_actor(actor)
    reason_text = clean_text(reason, "refund reason", max_len=MAX_REASON_LENGTH)
    require_aware(now)
    window = require_positive_int(return_window_days, "return window (days)")

    order = get_customer_order(session, customer_public_id, order_number, for_update=True)
    amount, wanted = validate_request(order, amount_cents, items)
    wanted_lines = None if wanted is None else {(line.id, qty) for line, _, qty in wanted}

    existing = refund_by_key(session, key)
    if existing is not None:
        return _replay(session, existing, order, amount, wanted_lines)

    decision = decide(order, active_refunds(session, order), now=now, return_window_days=window,
                      amount_cents=amount_cents, items=items)
    verdict = decision.eligibility
    if not verdict.eligible or verdict.requested_cents is None:
        log.info("refund refused on order %s: %s", order.number, verdict.code.value)
        raise NotEligibleForRefund(
            verdict.message, reason=verdict.code, refundable_cents=verdict.refundable_cents or None
        )
    refund, created = insert_refund(
        session, order, amount_cents=verdict.requested_cents, items=decision.items,
        idempotency_key=key, actor=actor, reason=reason_text, now=now,
    )
    if not created:
        return _replay(session, refund, order, amount, wanted_lines)
    return refund_view(session, refund, order, created=True)


def insert_refund(
    session: Session,
    order: SalesOrder,
    *,
    amount_cents: int,
    items: Sequence[ResolvedItem],
    idempotency_key: str,
    actor: str,
    reason: str,
    now: dt.datetime,
) -> tuple[Refund, bool]:
    """Insert a refund in a savepoint; ``(refund, True)``, or ``(existing, False)`` when a
    concurrent transaction already used the key. Writes the audit row for a new refund."""
    refund = Refund(
        order_id=order.id,
        amount_cents=amount_cents,
        currency=order.currency,
        status=RefundStatus.REQUESTED,
        reason=reason,
        idempotency_key=idempotency_key,
        requested_by=actor,
        created_at=now,
        items=[
            RefundItem(order_line_id=i.line.id, quantity=i.quantity, amount_cents=i.amount_cents)
            for i in items
        ],
    )
    try:
        with session.begin_nested():
            session.add(refund)
    except IntegrityError:
        existing = refund_by_key(session, idempotency_key)
        if existing is None:
            raise
        log.info("refund key collision on order %s resolved to the existing refund", order.number)
        return existing, False
    view = refund_view(session, refund, order, created=True)
    record_audit(
        session,
        actor=actor,
        action="refund.requested",
        entity_type=ENTITY_REFUND,
        entity_id=refund.id,
        before=None,
        after={
            "order_number": order.number,
            "reference": view.reference,
            "amount_cents": refund.amount_cents,
            "currency": refund.currency,
            "status": refund.status,
            "items": [
                {
                    "line_no": i.line_no,
                    "sku": i.sku,
                    "quantity": i.quantity,
                    "amount_cents": i.amount_cents,
                }
                for i in view.items
            ],
        },
        now=now,
    )
    log.info("refund %s created (%s cents)", view.reference, refund.amount_cents)
    return refund, True


def _replay(
    session: Session,
    existing: Refund,
    order: SalesOrder,
    amount_cents: int | None,
    wanted_lines: set[tuple[int, int]] | None,
) -> RefundView:
    if not _same_request(existing, order, amount_cents, wanted_lines):
        log.warning("idempotency key reused for a different refund request")
        raise IdempotencyConflict(KEY_CONFLICT)
    return refund_view(session, existing, order, created=False)


def _same_request(
    existing: Refund,
    order: SalesOrder,
    amount_cents: int | None,
    wanted_lines: set[tuple[int, int]] | None,
) -> bool:
    if existing.order_id != order.id:
        return False
    existing_lines = {(i.order_line_id, i.quantity) for i in existing.items}
    if wanted_lines is not None:
        return existing_lines == wanted_lines
    if existing_lines:
        return False
    return amount_cents is None or existing.amount_cents == amount_cents

