"""Shared by every flow: reading the tracker defensively, the verification gate, database
calls off the event loop (``in_transaction``, from ``actions.context``), the order-number
check of the order forms, and turning every failure into a reply.

A customer never sees a traceback, a database id or an internal code: ``CrmError`` messages
(written by the services for people to read) are shown, ``DatabaseUnavailable`` offers a
person, anything else is logged (exception type and code location, the conversation id, no
message text: it may hold personal data) and answered with a short apology.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import traceback
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Generic, TypeVar

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.context import ActionContext, get_context, in_transaction
from actions.order_text import offer_recent_orders
from actions.wording import clean_text, humanise
from crm_connector import CrmError, DatabaseUnavailable, IdempotencyConflict, OrderNotFound
from knowledge import KnowledgeError

log = logging.getLogger(__name__)

T = TypeVar("T")

REQUESTED_SLOT = "requested_slot"

#: Order numbers as the contract defines them: shop orders (8 digits starting with 10) and
#: imported invoices (6 digits, credit notes with a leading C).
_ORDER_NUMBER = re.compile(r"10\d{6}|C?\d{6}")
_PUBLIC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")

DB_DOWN = "I can't reach our order system right now."
SORRY = "Sorry, something went wrong on my side. Please try again in a moment."
NOT_VERIFIED = (
    "For your security I can only look at your orders once I've checked it's you: "
    "I'll need your email address and one of your order numbers."
)
BAD_ORDER_NUMBER = (
    "That doesn't look like one of our order numbers. They have 8 digits and start with 10, "
    "for example 10004217; you'll find yours in the order confirmation email."
)
#: Shown for a ``CrmError`` whose message is not meant for customers.
_GENERIC_REFUSAL = "Sorry, I can't do that here. A colleague can help you with it."
#: Codes whose service messages are written for customers.
_CUSTOMER_READABLE = frozenset({
    "invalid_input", "customer_not_found", "ambiguous_customer", "order_not_found",
    "verification_failed", "shop_token_invalid", "not_eligible_for_refund",
    "order_not_cancellable", "address_change_not_allowed",
})


# -- replies -------------------------------------------------------------------------------
def offer_person(dispatcher: CollectingDispatcher, text: str) -> None:
    """Say ``text``, then offer a person with the domain's ``utter_offer_human`` (its buttons
    are ``/human_handoff`` and ``/deny``)."""
    dispatcher.utter_message(text=text)
    dispatcher.utter_message(response="utter_offer_human")


def reply_to_crm_error(
    dispatcher: CollectingDispatcher, exc: CrmError, context: ActionContext | None
) -> None:
    """The explanation a customer gets for a refusal or failure of the CRM."""
    if isinstance(exc, DatabaseUnavailable):
        offer_person(dispatcher, DB_DOWN)
    elif isinstance(exc, IdempotencyConflict):
        offer_person(dispatcher, "A different refund for this order was already requested "
                                 "in this conversation.")
    elif getattr(exc, "code", None) in _CUSTOMER_READABLE and str(exc):
        today = context.now().date() if context is not None else None
        dispatcher.utter_message(text=humanise(str(exc), today=today))
    else:
        dispatcher.utter_message(text=_GENERIC_REFUSAL)


def conversation_label(tracker: Tracker) -> str:
    """The conversation id as it may appear in a log line (bounded, printable)."""
    raw = tracker.sender_id if isinstance(tracker.sender_id, str) else repr(tracker.sender_id)
    return "".join(ch if ch.isprintable() else "?" for ch in raw[:80])


def log_failure(action_name: str, tracker: Tracker, exc: BaseException) -> None:
    """Log an unexpected exception: its type and where it happened, never its message."""
    frames = traceback.extract_tb(exc.__traceback__)[-4:]
    where = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
    log.error("%s failed in conversation %s: %s at %s",
              action_name, conversation_label(tracker), type(exc).__name__, where or "?")


# -- reading the tracker -------------------------------------------------------------------
def normalise_order_number(value: object) -> str | None:
    """``" #10004217 "`` -> ``"10004217"``; ``None`` unless it is an order number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and float(value).is_integer():
        value = str(int(value))
    if not isinstance(value, str) or len(value) > 40:
        return None
    text = value.strip().lstrip("#").strip().upper().replace(" ", "")
    return text if _ORDER_NUMBER.fullmatch(text) else None


def verified_customer(tracker: Tracker) -> str | None:
    """The verified customer's number, or ``None`` when the conversation is not verified."""
    if tracker.get_slot("verified") is not True:
        return None
    customer = tracker.get_slot("customer_id")
    if isinstance(customer, str) and _PUBLIC_ID.fullmatch(customer.strip()):
        return customer.strip()
    return None


def slot_text(tracker: Tracker, name: str) -> str | None:
    value = tracker.get_slot(name)
    return value if isinstance(value, str) and value.strip() else None


def slot_number(tracker: Tracker, name: str) -> float:
    value = tracker.get_slot(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


def latest_text(tracker: Tracker, max_chars: int) -> str:
    return clean_text((tracker.latest_message or {}).get("text"), max_chars=max_chars)


def latest_intent(tracker: Tracker) -> str | None:
    intent = (tracker.latest_message or {}).get("intent")
    name = intent.get("name") if isinstance(intent, dict) else None
    return name if isinstance(name, str) and name else None


#: Actions that run between a user message and the bot's answer without answering.
_SILENT_ACTIONS = frozenset({"action_listen", "action_extract_slots", "action_session_start"})


def previous_bot_action(tracker: Tracker) -> str | None:
    """The action that answered the customer's previous message (before the latest one)."""
    events = tracker.events or []
    latest_user = next((i for i in range(len(events) - 1, -1, -1)
                        if events[i].get("event") == "user"), None)
    if latest_user is None:
        return None
    for event in reversed(events[:latest_user]):
        kind = event.get("event")
        if kind == "user":
            return None
        name = event.get("name")
        if kind == "action" and isinstance(name, str) and name not in _SILENT_ACTIONS:
            return name
    return None


def last_bot_response(tracker: Tracker) -> str | None:
    """The response (``utter_*``) of the bot's latest message, if it came from the domain."""
    for event in reversed(tracker.events or []):
        if event.get("event") == "bot":
            metadata = event.get("metadata")
            name = metadata.get("utter_action") if isinstance(metadata, dict) else None
            return name if isinstance(name, str) else None
    return None


def user_intents(tracker: Tracker, last: int) -> list[str]:
    """Intents of the customer's last ``last`` messages, oldest first."""
    found: list[str] = []
    for event in reversed(tracker.events or []):
        if event.get("event") != "user":
            continue
        intent = (event.get("parse_data") or {}).get("intent") or {}
        name = intent.get("name") if isinstance(intent, dict) else None
        if isinstance(name, str) and name:
            found.append(name)
        if len(found) >= last:
            break
    return found[::-1]


# -- base classes --------------------------------------------------------------------------
class GuardedAction(Action, ABC):
    """An action whose failures become replies; subclasses implement ``act``."""

    #: Customer-data actions refuse to run for conversations that are not verified.
    needs_verification = False

    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    async def act(
        self, context: ActionContext, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict, customer: str | None,
    ) -> list[EventType]: ...

    #: Slots reset when the action fails (e.g. a form's answers, so they are asked afresh).
    slots_reset_on_failure: tuple[str, ...] = ()

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        customer = verified_customer(tracker)
        if self.needs_verification and customer is None:
            dispatcher.utter_message(text=NOT_VERIFIED)
            return []
        context: ActionContext | None = None
        try:
            context = get_context()
            return await self.act(context, dispatcher, tracker, domain, customer)
        except CrmError as exc:
            reply_to_crm_error(dispatcher, exc, context)
        except KnowledgeError as exc:
            log.error("%s: FAQ retrieval unavailable (%s)", self.name(), exc.code)
            offer_person(dispatcher, "I can't search our help pages right now.")
        except Exception as exc:  # noqa: BLE001 - the customer gets an apology, we get a log
            log_failure(self.name(), tracker, exc)
            dispatcher.utter_message(text=SORRY)
        return self.failure_events(tracker)

    def failure_events(self, tracker: Tracker) -> list[EventType]:
        """What the action returns after it answered a failure."""
        return [SlotSet(name, None) for name in self.slots_reset_on_failure]


class GuardedFormValidation(FormValidationAction, ABC):
    """A form validator whose failures become replies.

    On a failure the slot candidates of this turn are rejected (``SlotSet(slot, None)``), so
    nothing half-checked stays in the form; when the database is down the form ends.
    ``after_validation`` runs once the per-slot ``validate_<slot>`` methods are done.
    """

    #: The form's required slots per the contract, used when the domain does not list them.
    default_required_slots: tuple[str, ...] = ()

    @abstractmethod
    def name(self) -> str: ...

    def domain_slots(self, domain: DomainDict) -> list[str]:
        return super().domain_slots(domain) or list(self.default_required_slots)

    @property
    def context(self) -> ActionContext:
        return get_context()

    async def after_validation(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        return []

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        own = set(self.domain_slots(domain))
        rejected = [SlotSet(s, None) for s in tracker.slots_to_validate() if s in own]
        try:
            events = await super().run(dispatcher, tracker, domain)
            return events + await self.after_validation(dispatcher, tracker, domain)
        except DatabaseUnavailable:
            offer_person(dispatcher, DB_DOWN)
            return [*rejected, SlotSet(REQUESTED_SLOT, None)]
        except CrmError as exc:
            reply_to_crm_error(dispatcher, exc, self.context)
        except Exception as exc:  # noqa: BLE001 - the customer gets an apology, we get a log
            log_failure(self.name(), tracker, exc)
            dispatcher.utter_message(text=SORRY)
        return rejected

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Validate this turn's candidates in the form's slot order (the order number before
        the amount that depends on it); once a check ends the form, the remaining candidates
        are rejected instead of validated."""
        required = self.domain_slots(domain)
        candidates = tracker.slots_to_validate()
        validated: dict[str, Any] = {}
        for slot in required:
            if slot not in candidates or slot in validated:
                continue
            method = getattr(self, f"validate_{slot}", None)
            output = ({slot: candidates[slot]} if method is None
                      else await method(candidates[slot], dispatcher, tracker, domain))
            validated.update(output)
            tracker.slots.update(output)
            if REQUESTED_SLOT in output and output[REQUESTED_SLOT] is None:
                rest = [s for s in required if s in candidates and s not in validated]
                validated.update(dict.fromkeys(rest))
                break
        return [SlotSet(name, value) for name, value in validated.items()]

    def require_customer(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> str | None:
        customer = verified_customer(tracker)
        if customer is None:
            dispatcher.utter_message(text=NOT_VERIFIED)
        return customer


class OrderFormValidation(GuardedFormValidation, Generic[T], ABC):
    """A form whose ``order_number`` must be an order of the verified customer (refund,
    cancellation, address change); each form adds its own check of that order.

    ``validate_order_number``: without verification the form ends; a malformed number is asked
    again; an order that is not the customer's gets the CRM's explanation, the customer's
    latest orders as buttons (``which_order`` introduces them) and is asked again. Otherwise
    ``check_order`` runs in one read transaction and ``accept_order`` turns its result into
    the slots (the number, or a refusal that ends the form).
    """

    #: Introduces the customer's latest orders when the number named none of theirs.
    which_order = "Which order is it? Here are your latest orders:"

    @abstractmethod
    def check_order(self, session: Session, customer: str, number: str, now: dt.datetime) -> T:
        """What the form needs to know about the order (``OrderNotFound`` when it is not
        the customer's)."""

    @abstractmethod
    def accept_order(
        self, found: T, number: str, dispatcher: CollectingDispatcher, now: dt.datetime
    ) -> dict[str, Any]:
        """The slots for this order: ``{"order_number": number}`` or a refusal."""

    async def validate_order_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        customer = self.require_customer(dispatcher, tracker)
        if customer is None:
            return {"order_number": None, REQUESTED_SLOT: None}
        number = normalise_order_number(value)
        if number is None:
            dispatcher.utter_message(text=BAD_ORDER_NUMBER)
            return {"order_number": None}
        context = self.context
        now = context.now()
        try:
            found = await in_transaction(
                context, lambda s: self.check_order(s, customer, number, now))
        except OrderNotFound as exc:
            dispatcher.utter_message(text=humanise(str(exc)))
            await offer_recent_orders(context, dispatcher, customer, self.which_order,
                                      intent="inform")
            return {"order_number": None}
        return self.accept_order(found, number, dispatcher, now)
