"""Refunds: ``validate_refund_form`` and ``action_submit_refund``.

The form asks for the order, the amount and a reason. The order must be the customer's and
eligible (otherwise the CRM's explanation is shown, the order number is rejected and the form
ends; ``action_submit_refund`` then does nothing, as with any empty slot); the amount ("€20",
"20,50", "all") must not exceed what can still be refunded. The refund is created exactly once
per conversation, order and amount: the idempotency key is derived from those three, so a
retried turn (Rasa re-sending the request, the action running twice) finds the refund made
the first time instead of creating a second.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
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
    verified_customer,
)
from actions.context import ActionContext
from actions.wording import button, clean_text, humanise, money
from crm_connector import (
    OrderNotFound,
    RefundCode,
    RefundEligibility,
    check_refund_eligibility,
    customer_actor,
    request_refund,
)

FULL = "full"
MAX_REFUND_CENTS = 100_000_00
MAX_REASON_CHARS = 500

_FULL_WORDS = re.compile(r"\b(all|full|everything|whole|entire|total|complete)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_AMOUNT = re.compile(r"(\d{1,3}(?:[.,]\d{3})*|\d+)(?:[.,](\d{1,2}))?")

ASK_AMOUNT_AGAIN = (
    "How much would you like back? Please give an amount like €20 or 20,50, "
    "or say \"all\" for everything that can be refunded."
)
ASK_REASON_AGAIN = "Could you tell me in a few words why you'd like a refund?"
WHICH_ORDER = "Which order is it? Here are your latest orders:"


def parse_amount(value: object) -> int | str | None:
    """Cents for an amount ("€20", "20,50", "1.234,56", "20 euros"), ``FULL`` for "all" /
    "full" / "everything", ``None`` for anything else (including two numbers or zero)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = f"{value:.2f}" if isinstance(value, float) else str(value)
    if not isinstance(value, str) or len(value) > 100:
        return None
    text = value.strip()
    if text.lower() == FULL:
        return FULL
    numbers = _NUMBER.findall(text)
    if not numbers:
        return FULL if _FULL_WORDS.search(text) else None
    if len(numbers) != 1:
        return None
    match = _AMOUNT.fullmatch(numbers[0])
    if match is None:
        return None
    cents = int(re.sub(r"[.,]", "", match[1])) * 100 + int((match[2] or "0").ljust(2, "0"))
    return cents if 0 < cents <= MAX_REFUND_CENTS else None


def amount_slot_value(amount: int | str) -> str:
    """What the ``refund_amount`` slot holds: ``"full"`` or euros with two decimals."""
    return FULL if amount == FULL else f"{int(amount) // 100}.{int(amount) % 100:02d}"


def refund_key(sender_id: object, order_number: str, amount: int | str) -> str:
    """The idempotency key of "this conversation asks for this amount back on this order"."""
    material = f"{sender_id}\x1f{order_number}\x1f{amount_slot_value(amount)}"
    return "chat-refund:" + hashlib.sha256(material.encode("utf-8", "replace")).hexdigest()[:40]


class ValidateRefundForm(OrderFormValidation[RefundEligibility]):
    default_required_slots = ("order_number", "refund_amount", "refund_reason")
    which_order = WHICH_ORDER

    def name(self) -> str:
        return "validate_refund_form"

    def check_order(
        self, session: Session, customer: str, number: str, now: dt.datetime,
        amount_cents: int | None = None,
    ) -> RefundEligibility:
        return check_refund_eligibility(
            session, customer, number, now=now,
            return_window_days=self.context.crm.return_window_days, amount_cents=amount_cents,
        )

    def accept_order(
        self, found: RefundEligibility, number: str, dispatcher: CollectingDispatcher,
        now: dt.datetime,
    ) -> dict[str, Any]:
        today = now.date()
        if not found.eligible:
            buttons = ([button("Cancel the order instead", "cancel_order", order_number=number)]
                       if found.suggest_cancellation else [])
            dispatcher.utter_message(text=humanise(found.message, today=today), buttons=buttons)
            return {"order_number": None, "refund_amount": None, "refund_reason": None,
                    REQUESTED_SLOT: None}
        if found.code == RefundCode.LOST_PARCEL:
            text = humanise(found.message, today=today)
        else:
            most = money(found.refundable_cents, found.currency)
            text = f"Order {number} can be refunded: up to {most}."
        dispatcher.utter_message(text=text)
        return {"order_number": number}

    async def validate_refund_amount(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == FULL and last_bot_response(tracker) == "utter_ask_continue":
            return {"refund_amount": None}  # "yes, continue" is not "refund everything"
        amount = parse_amount(value)
        if amount is None:
            dispatcher.utter_message(text=ASK_AMOUNT_AGAIN)
            return {"refund_amount": None}
        customer = verified_customer(tracker)
        number = normalise_order_number(tracker.get_slot("order_number"))
        if amount == FULL or customer is None or number is None:
            return {"refund_amount": amount_slot_value(amount)}
        now = self.context.now()
        try:
            verdict = await in_transaction(
                self.context, lambda s: self.check_order(s, customer, number, now, int(amount)))
        except OrderNotFound:
            return {"refund_amount": amount_slot_value(amount)}  # the order check reports it
        today = now.date()
        if verdict.code == RefundCode.AMOUNT_EXCEEDS_REFUNDABLE:
            most = verdict.refundable_cents
            dispatcher.utter_message(
                text=humanise(verdict.message, today=today) + " How much would you like back?",
                buttons=[button(f"Refund {money(most, verdict.currency)}", "inform",
                                amount=amount_slot_value(most))],
            )
            return {"refund_amount": None}
        if not verdict.eligible:
            dispatcher.utter_message(text=humanise(verdict.message, today=today))
            return {"refund_amount": None, "refund_reason": None, REQUESTED_SLOT: None}
        return {"refund_amount": amount_slot_value(amount)}

    async def validate_refund_reason(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        reason = clean_text(value, max_chars=MAX_REASON_CHARS)
        if len(reason) < 2:
            dispatcher.utter_message(text=ASK_REASON_AGAIN)
            return {"refund_reason": None}
        return {"refund_reason": reason}


class ActionSubmitRefund(GuardedAction):
    needs_verification = True
    slots_reset_on_failure = ("refund_amount", "refund_reason")

    def name(self) -> str:
        return "action_submit_refund"

    async def act(
        self, context: ActionContext, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict, customer: str | None,
    ) -> list[EventType]:
        number = normalise_order_number(tracker.get_slot("order_number"))
        amount = parse_amount(tracker.get_slot("refund_amount"))
        if customer is None or number is None or amount is None:
            return []  # the form ended early and has already said why
        reason = clean_text(tracker.get_slot("refund_reason"), max_chars=MAX_REASON_CHARS)
        key = refund_key(tracker.sender_id, number, amount)
        now = context.now()
        refund = await in_transaction(context, lambda s: request_refund(
            s, customer, number, idempotency_key=key, actor=customer_actor(customer),
            reason=reason or "Requested in the chat", now=now,
            return_window_days=context.crm.return_window_days,
            amount_cents=None if amount == FULL else int(amount),
        ), write=True)
        paid = money(refund.amount_cents, refund.currency)
        if refund.created:
            text = (f"Done: I've requested a refund of {paid} for order {refund.order_number}. "
                    f"Your refund reference is {refund.reference}.")
        else:
            text = (f"A refund of {paid} for order {refund.order_number} was already requested "
                    f"(reference {refund.reference}); I haven't created a second one.")
        dispatcher.utter_message(text=text)
        return [SlotSet("refund_amount", None), SlotSet("refund_reason", None)]
