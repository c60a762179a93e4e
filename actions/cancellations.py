"""Cancelling an order that has not shipped: ``validate_cancel_form`` and ``action_cancel_order``.

The form checks that the order is the customer's and can still be cancelled (otherwise it
explains why, rejects the order number and ends), shows what will be cancelled, and asks for a
confirmation. The action cancels it (the CRM refunds what was paid under its own idempotency
key, so a retried turn finds the order already cancelled instead of refunding twice), or after
a "no" confirms that nothing changed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.common import (
    REQUESTED_SLOT,
    GuardedAction,
    OrderFormValidation,
    in_transaction,
    last_bot_response,
    normalise_order_number,
)
from actions.context import ActionContext
from actions.wording import button, day, humanise, money
from crm_connector import (
    CancellationRefusalView,
    NotCancellableReason,
    OrderStatusView,
    cancel_order,
    cancellation_refusal,
    customer_actor,
    get_order_status,
)

WHICH_ORDER = "Which order would you like to cancel? Here are your latest orders:"
KEPT = "Alright, I haven't cancelled anything; order {number} stays as it is."
#: Refusals after which "where is it now?" is worth a button.
_ON_ITS_WAY = (NotCancellableReason.ALREADY_SHIPPED, NotCancellableReason.DELIVERED)
_YES = {"yes", "y", "true", "affirm", "ok", "sure", "confirm", "1"}
_NO = {"no", "n", "false", "deny", "0"}


def as_confirmation(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and len(value) < 20:
        word = value.strip().lower()
        if word in _YES:
            return True
        if word in _NO:
            return False
    return None


class ValidateCancelForm(
    OrderFormValidation[tuple[CancellationRefusalView | None, OrderStatusView]]
):
    default_required_slots = ("order_number", "cancel_confirmed")
    which_order = WHICH_ORDER

    def name(self) -> str:
        return "validate_cancel_form"

    def check_order(
        self, session: Session, customer: str, number: str, now: dt.datetime
    ) -> tuple[CancellationRefusalView | None, OrderStatusView]:
        return (cancellation_refusal(session, customer, number),
                get_order_status(session, customer, number, now))

    def accept_order(
        self, found: tuple[CancellationRefusalView | None, OrderStatusView], number: str,
        dispatcher: CollectingDispatcher, now: dt.datetime,
    ) -> dict[str, Any]:
        refusal, view = found
        if refusal is not None:
            buttons = []
            if refusal.reason in _ON_ITS_WAY:
                buttons = [button("Where is it now?", "order_status", order_number=number)]
            dispatcher.utter_message(text=humanise(refusal.message, today=now.date()),
                                     buttons=buttons)
            return {"order_number": None, "cancel_confirmed": None, REQUESTED_SLOT: None}
        placed = day(view.placed_at, tz=self.context.timezone, today=now.date())
        items = sum(line.quantity for line in view.lines)
        dispatcher.utter_message(
            text=f"Order {number} from {placed} ({items} item{'s' if items != 1 else ''}, "
                 f"{money(view.total_cents, view.currency)}) can still be cancelled."
        )
        return {"order_number": number}

    async def validate_cancel_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if last_bot_response(tracker) == "utter_ask_continue":
            return {"cancel_confirmed": None}  # "yes, continue" confirms nothing
        confirmed = as_confirmation(value)
        if confirmed is None:
            return {"cancel_confirmed": None}  # the form asks again
        if not confirmed:
            return {"cancel_confirmed": False, REQUESTED_SLOT: None}  # the action says so
        return {"cancel_confirmed": True}


class ActionCancelOrder(GuardedAction):
    needs_verification = True
    slots_reset_on_failure = ("cancel_confirmed",)

    def name(self) -> str:
        return "action_cancel_order"

    async def act(
        self, context: ActionContext, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict, customer: str | None,
    ) -> list[EventType]:
        number = normalise_order_number(tracker.get_slot("order_number"))
        confirmed = tracker.get_slot("cancel_confirmed")
        if customer is None or number is None or confirmed is None:
            return []  # the form ended early and has already said why
        if confirmed is not True:
            dispatcher.utter_message(text=KEPT.format(number=number))
            return [SlotSet("cancel_confirmed", None)]
        now = context.now()
        cancellation = await in_transaction(context, lambda s: cancel_order(
            s, customer, number, actor=customer_actor(customer),
            reason="Requested by the customer in the chat", now=now,
        ), write=True)
        text = f"Order {cancellation.order_number} is cancelled."
        refund = cancellation.refund
        if refund is not None:
            text += (f" The {money(refund.amount_cents, refund.currency)} you paid will be "
                     f"refunded (refund reference {refund.reference}).")
        dispatcher.utter_message(text=text)
        return [SlotSet("cancel_confirmed", None)]
