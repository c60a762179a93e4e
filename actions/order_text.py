"""Orders as the customer reads them: the status reply and order buttons.

Why an order can no longer be cancelled or redirected is not judged here: the forms ask
``crm_connector.cancellation_refusal`` / ``address_change_refusal``, which apply the rule of
``cancel_order`` / ``change_delivery_address``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from rasa_sdk.executor import CollectingDispatcher

from actions.context import ActionContext, in_transaction
from actions.wording import button, clean_text, day, day_time, humanise, money
from crm_connector import (
    OrderKind,
    OrderStatus,
    OrderStatusView,
    OrderSummary,
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
