"""Turn planned orders and their stories into table rows, cut at ``DemoConfig.now``.

Row states are derived from the events that had happened by then, so they always agree:
an order is PLACED until paid, PAID until the carrier collects the parcel (a label may exist),
SHIPPED while travelling, delayed or lost, DELIVERED, RETURNED when the parcel went back or every
unit was refunded after delivery, CANCELLED when cancelled (never after the parcel left).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

from crm_connector.demo.plans import CancelPlan, PlannedOrder, RefundPlan, Story
from crm_connector.models import OrderKind, OrderStatus, PaymentStatus, RefundStatus, ShipmentStatus

SEED_ACTOR = "system:seed"
#: Reason prefix of the refund recorded with the cancellation of a paid order.
CANCELLED_REASON = "Order cancelled before shipping"

Row = dict[str, Any]


class Materialiser:
    """Collects the rows of every table; orders must be added in id order."""

    def __init__(self, now: dt.datetime, rng: random.Random, skus: dict[int, str]) -> None:
        self.now = now
        self._rng = rng
        self._skus = skus
        self.tables: dict[str, list[Row]] = {
            name: []
            for name in (
                "sales_order",
                "order_line",
                "payment",
                "shipment",
                "shipment_event",
                "cancellation",
                "refund",
                "refund_item",
                "audit_log",
            )
        }

    def _id(self, table: str) -> int:
        return len(self.tables[table]) + 1

    def _happened(self, at: dt.datetime | None) -> bool:
        return at is not None and at < self.now

    def add(self, order_id: int, number: str, order: PlannedOrder, story: Story) -> None:
        line_ids = self._lines(order_id, order)
        refund_status, completed_cents = self._refund(
            order_id, number, order, story.refund, line_ids
        )
        cancel = (
            story.cancel if story.cancel is not None and self._happened(story.cancel.at) else None
        )
        cancelled = cancel is not None
        paid = self._happened(story.paid_at)
        shipment_status = self._shipment(order_id, story)

        fully_returned = (
            refund_status is RefundStatus.COMPLETED
            and story.refund is not None
            and story.refund.items != ()
            and sum(q for _, q, _ in story.refund.items)
            == sum(line.quantity for line in order.lines)
        )
        if cancelled:
            status = OrderStatus.CANCELLED
        elif shipment_status is None or shipment_status is ShipmentStatus.PENDING:
            status = OrderStatus.PAID if paid else OrderStatus.PLACED
        elif shipment_status is ShipmentStatus.RETURNED:
            status = OrderStatus.RETURNED
        elif shipment_status is ShipmentStatus.DELIVERED:
            status = OrderStatus.RETURNED if fully_returned else OrderStatus.DELIVERED
        else:
            status = OrderStatus.SHIPPED
        self._payments(order_id, order, story, paid, cancelled, completed_cents)
        if cancel is not None:
            self._cancellation(order_id, cancel, paid)

        moments = [
            order.placed_at,
            story.paid_at,
            story.failed_payment_at,
            story.cancel.at if story.cancel else None,
        ]
        moments += [scan.at for scan in story.scans]
        if story.refund is not None:
            r = story.refund
            moments += [r.requested_at, r.approved_at, r.completed_at, r.rejected_at]
        updated_at = max(
            m for m in moments if m is not None and (m == order.placed_at or self._happened(m))
        )
        self.tables["sales_order"].append(
            {
                "id": order_id,
                "number": number,
                "kind": OrderKind.ORDER,
                "customer_id": order.customer_id,
                "shipping_address_id": order.address_id,
                "status": status,
                "currency": "EUR",
                "subtotal_cents": order.subtotal_cents,
                "shipping_cents": order.shipping_cents,
                "total_cents": order.total_cents,
                "country": order.country,
                "source": "demo",
                "placed_at": order.placed_at,
                "updated_at": updated_at,
            }
        )

    def _lines(self, order_id: int, order: PlannedOrder) -> list[int]:
        ids = []
        for line in order.lines:
            line_id = self._id("order_line")
            ids.append(line_id)
            self.tables["order_line"].append(
                {
                    "id": line_id,
                    "order_id": order_id,
                    "product_id": line.product_id,
                    "quantity": line.quantity,
                    "unit_price_cents": line.unit_price_cents,
                    "line_total_cents": line.total_cents,
                }
            )
        return ids

    def _payments(
        self,
        order_id: int,
        order: PlannedOrder,
        story: Story,
        paid: bool,
        cancelled: bool,
        refunded_cents: int,
    ) -> None:
        rows = self.tables["payment"]
        if story.failed_payment_at is not None and self._happened(story.failed_payment_at):
            rows.append(
                {
                    "id": self._id("payment"),
                    "order_id": order_id,
                    "method": order.method,
                    "status": PaymentStatus.FAILED,
                    "amount_cents": order.total_cents,
                    "card_last4": order.card_last4,
                    "created_at": story.failed_payment_at,
                }
            )
        if paid and story.paid_at is not None:
            created = (
                story.paid_at
                if order.method != "bank_transfer"
                else order.placed_at + dt.timedelta(seconds=5)
            )
            if refunded_cents >= order.total_cents:
                status = PaymentStatus.REFUNDED
            elif refunded_cents > 0:
                status = PaymentStatus.PARTIALLY_REFUNDED
            else:
                status = PaymentStatus.CAPTURED
        else:
            created = order.placed_at + dt.timedelta(seconds=5)
            status = PaymentStatus.FAILED if cancelled else PaymentStatus.PENDING
        rows.append(
            {
                "id": self._id("payment"),
                "order_id": order_id,
                "method": order.method,
                "status": status,
                "amount_cents": order.total_cents,
                "card_last4": order.card_last4,
                "created_at": created,
            }
        )

    def _shipment(self, order_id: int, story: Story) -> ShipmentStatus | None:
        seen = [scan for scan in story.scans if self._happened(scan.at)]
        if not seen:
            return None
        if story.carrier is None or story.tracking_number is None:
            raise ValueError("a story with tracking scans needs a carrier and a tracking number")
        shipment_id = self._id("shipment")
        picked = [s.at for s in seen if s.status is ShipmentStatus.IN_TRANSIT]
        delivered = [s.at for s in seen if s.status is ShipmentStatus.DELIVERED]
        self.tables["shipment"].append(
            {
                "id": shipment_id,
                "order_id": order_id,
                "carrier": story.carrier,
                "tracking_number": story.tracking_number,
                "status": seen[-1].status,
                "shipped_at": picked[0] if picked else None,
                "estimated_delivery_at": story.estimated_delivery_at,
                "delivered_at": delivered[0] if delivered else None,
            }
        )
        for scan in seen:
            self.tables["shipment_event"].append(
                {
                    "id": self._id("shipment_event"),
                    "shipment_id": shipment_id,
                    "occurred_at": scan.at,
                    "status": scan.status,
                    "location": scan.location,
                    "description": scan.description,
                }
            )
        return seen[-1].status

    def _cancellation(self, order_id: int, cancel: CancelPlan, paid: bool) -> None:
        self.tables["cancellation"].append(
            {
                "id": self._id("cancellation"),
                "order_id": order_id,
                "reason": cancel.reason,
                "requested_by": cancel.requested_by,
                "created_at": cancel.at,
            }
        )
        self._audit(
            cancel.at,
            "order.cancelled",
            "sales_order",
            order_id,
            {"status": (OrderStatus.PAID if paid else OrderStatus.PLACED).value},
            {"status": OrderStatus.CANCELLED.value},
        )

    def _refund(
        self,
        order_id: int,
        number: str,
        order: PlannedOrder,
        plan: RefundPlan | None,
        line_ids: list[int],
    ) -> tuple[RefundStatus | None, int]:
        """Adds the refund (if requested by now); returns its status and the completed amount."""
        if plan is None or not self._happened(plan.requested_at):
            return None, 0
        steps = [
            (plan.approved_at, RefundStatus.APPROVED),
            (plan.completed_at, RefundStatus.COMPLETED),
            (plan.rejected_at, RefundStatus.REJECTED),
        ]
        reached = sorted(
            (at, status) for at, status in steps if at is not None and self._happened(at)
        )
        status = reached[-1][1] if reached else RefundStatus.REQUESTED
        final = status in (RefundStatus.COMPLETED, RefundStatus.REJECTED)
        refund_id = self._id("refund")
        key = (
            f"cancel:{number}"
            if plan.for_cancellation
            else str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        )
        self.tables["refund"].append(
            {
                "id": refund_id,
                "order_id": order_id,
                "amount_cents": plan.amount_cents,
                "currency": "EUR",
                "status": status,
                "reason": plan.reason,
                "idempotency_key": key,
                "requested_by": plan.requested_by,
                "created_at": plan.requested_at,
                "processed_at": reached[-1][0] if final else None,
            }
        )
        audit_items = []
        for index, quantity, amount in plan.items:
            self.tables["refund_item"].append(
                {
                    "id": self._id("refund_item"),
                    "refund_id": refund_id,
                    "order_line_id": line_ids[index],
                    "quantity": quantity,
                    "amount_cents": amount,
                }
            )
            audit_items.append(
                {
                    "line_no": index + 1,
                    "sku": self._skus[order.lines[index].product_id],
                    "quantity": quantity,
                    "amount_cents": amount,
                }
            )
        self._audit(
            plan.requested_at,
            "refund.requested",
            "refund",
            refund_id,
            None,
            {
                "order_number": number,
                "reference": f"{number}-R1",
                "amount_cents": plan.amount_cents,
                "currency": "EUR",
                "status": RefundStatus.REQUESTED.value,
                "items": audit_items,
            },
        )
        previous = RefundStatus.REQUESTED
        for at, step in reached:
            self._audit(
                at,
                f"refund.{step.value}",
                "refund",
                refund_id,
                {"status": previous.value},
                {"status": step.value},
            )
            previous = step
        return status, plan.amount_cents if status is RefundStatus.COMPLETED else 0

    def _audit(
        self,
        at: dt.datetime,
        action: str,
        entity_type: str,
        entity_id: int,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        self.tables["audit_log"].append(
            {
                "id": self._id("audit_log"),
                "occurred_at": at,
                "actor": SEED_ACTOR,
                "action": action,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "before": before,
                "after": after,
            }
        )
