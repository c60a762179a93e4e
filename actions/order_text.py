"""Orders as the customer reads them: the status reply, order buttons, and why an order can no
longer be cancelled or redirected (checked before asking for a confirmation or an address).

The pre-checks mirror the documented rule of ``crm_connector`` ("only PLACED or PAID orders
whose parcel the carrier does not have yet"); the service stays the judge when the change is
made, and its refusal is shown if the two ever disagree. (A read-only ``check_cancellable`` /
``check_address_change`` service in ``crm_connector`` would remove this copy; see the report.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from rasa_sdk.executor import CollectingDispatcher

from actions.common import in_transaction
from actions.context import ActionContext
from actions.wording import button, clean_text, day, day_time, humanise, money
from crm_connector import (
    OrderKind,
    OrderStatus,
    OrderStatusView,
    OrderSummary,
    ShipmentStatus,
    list_recent_orders,
)

NO_ORDERS = "I can't find any orders on your account yet."

STATUS_WORDS = {
    OrderStatus.PLACED: "waiting for payment",
    OrderStatus.PAID: "paid and being prepared for shipping",
    OrderStatus.SHIPPED: "on its way",
    OrderStatus.DELIVERED: "delivered",
    OrderStatus.CANCELLED: "cancelled",
    OrderStatus.RETURNED: "returned",
}
_BEFORE_SHIPPING = (OrderStatus.PLACED, OrderStatus.PAID)


def order_button(
    order: OrderSummary, intent: str, *, tz: dt.tzinfo, today: dt.date
) -> dict[str, Any]:
    title = (f"{order.order_number} · {day(order.placed_at, tz=tz, today=today)} · "
             f"{money(order.total_cents, order.currency)}")
    return button(title, intent, order_number=order.order_number)


def order_buttons(
    orders: Sequence[OrderSummary], intent: str, *, tz: dt.tzinfo, today: dt.date
) -> list[dict[str, Any]]:
    return [order_button(o, intent, tz=tz, today=today) for o in orders]


async def offer_recent_orders(
    context: ActionContext, dispatcher: CollectingDispatcher, customer: str, intro: str,
    *, intent: str = "order_status",
) -> None:
    """The customer's latest orders as buttons that name the order for ``intent``."""
    limit = context.settings.recent_orders_shown
    orders = await in_transaction(context, lambda s: list_recent_orders(s, customer, limit))
    if not orders:
        dispatcher.utter_message(text=NO_ORDERS)
        return
    today = context.now().date()
    dispatcher.utter_message(
        text=intro, buttons=order_buttons(orders, intent, tz=context.timezone, today=today)
    )


def describe_status(
    view: OrderStatusView, *, tz: dt.tzinfo, today: dt.date, timeline_events: int
) -> str:
    """Status, the service's explanation, the last tracking events and the expected date."""
    total = money(view.total_cents, view.currency)
    placed = day(view.placed_at, tz=tz, today=today)
    if view.kind == OrderKind.CREDIT_NOTE:
        head = f"{view.order_number} is a credit note from {placed} ({total})."
    else:
        state = "lost by the carrier" if view.is_lost else STATUS_WORDS[view.status]
        if view.is_delayed:
            state = "delayed"
        head = f"Order {view.order_number}, placed {placed} ({total}): {state}."
    parts = [head, humanise(view.explanation, today=today)]
    if view.timeline:
        recent = view.timeline[-timeline_events:]
        lines = []
        for event in recent:
            where = f", {clean_text(event.location, max_chars=80)}" if event.location else ""
            what = clean_text(event.description, max_chars=200)
            lines.append(f"• {day_time(event.occurred_at, tz=tz, today=today)}{where}: {what}")
        parts.append("Tracking:\n" + "\n".join(lines))
    finished = view.is_lost or view.delivered_at is not None or view.status in (
        OrderStatus.DELIVERED, OrderStatus.CANCELLED, OrderStatus.RETURNED)
    if view.expected_delivery_date and not finished:
        note = " (that day has passed)" if view.expected_delivery_date < today else ""
        parts.append(f"Expected delivery: {day(view.expected_delivery_date, today=today)}{note}.")
    return "\n\n".join(parts)


def _dispatched(view: OrderStatusView) -> bool:
    return view.shipment_status is not None and (
        view.shipped_at is not None or view.shipment_status != ShipmentStatus.PENDING
    )


def _shipped_phrase(view: OrderStatusView, today: dt.date) -> str:
    if not _dispatched(view):
        return "already shipped"
    when = f" on {day(view.shipped_at, today=today)}" if view.shipped_at else ""
    return f"already shipped with {view.carrier}{when} (tracking {view.tracking_number})"


def _final_state_refusal(view: OrderStatusView, today: dt.date, what: str) -> str | None:
    n = view.order_number
    if view.kind == OrderKind.CREDIT_NOTE:
        return (f"{n} is a credit note (the cancellation of an earlier invoice); "
                f"it cannot be {what}.")
    if view.status == OrderStatus.CANCELLED:
        return f"Order {n} is already cancelled."
    if view.status == OrderStatus.RETURNED:
        return f"Order {n} was returned to us, so it can no longer be {what}."
    if view.status == OrderStatus.DELIVERED:
        when = f" on {day(view.delivered_at, today=today)}" if view.delivered_at else ""
        return f"Order {n} was already delivered{when}, so it can no longer be {what}."
    return None


def cancel_refusal(view: OrderStatusView, today: dt.date) -> str | None:
    """Why ``view`` cannot be cancelled any more, or ``None`` if it can."""
    refusal = _final_state_refusal(view, today, "cancelled")
    if refusal is not None:
        if view.status == OrderStatus.DELIVERED:
            refusal += " You can ask for a refund instead."
        return refusal
    if view.status not in _BEFORE_SHIPPING or _dispatched(view):
        return (f"Order {view.order_number} has {_shipped_phrase(view, today)}, so it can no "
                "longer be cancelled. Once it arrives you can return it for a refund.")
    return None


def address_change_refusal(view: OrderStatusView, today: dt.date) -> str | None:
    """Why the delivery address of ``view`` cannot change any more, or ``None`` if it can."""
    refusal = _final_state_refusal(view, today, "redirected")
    if refusal is not None:
        return refusal
    if view.status not in _BEFORE_SHIPPING or _dispatched(view):
        return (f"Order {view.order_number} has {_shipped_phrase(view, today)}, so its delivery "
                "address can no longer be changed here. The carrier's tracking page may offer "
                "a redirection.")
    return None
