"""Who is the customer? A shop sign-in token at session start, or email + order number.

* ``action_session_start``: starts the session; if the message metadata carries a
  ``shop_token`` (the web gateway passes it for a customer signed in on the shop), verifies it
  and sets ``verified`` and ``customer_id``.
* ``validate_verify_form``: checks the format of the email and order number, then verifies
  the pair with the CRM. A mismatch clears both, counts ``verification_failures`` and answers
  ``utter_verification_failed``; at the limit (3 by default), or when the form starts already
  locked, it ends the form unverified and says nothing more: the rules answer
  ``utter_verification_locked`` and run ``action_handoff`` (docs/conversation-design.md).

Verification is never carried into a new session (a new session re-reads the shop token);
the failure count is, so waiting for a session to expire does not reset the lock.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    BAD_ORDER_NUMBER,
    REQUESTED_SLOT,
    GuardedFormValidation,
    conversation_label,
    in_transaction,
    log_failure,
    normalise_order_number,
    slot_number,
    slot_text,
)
from actions.context import get_context
from actions.wording import humanise
from crm_connector import (
    CrmError,
    InvalidInput,
    ShopTokenInvalid,
    VerificationFailed,
    normalise_email,
    verify_email_and_order,
    verify_shop_token,
)

log = logging.getLogger(__name__)

SESSION_METADATA_SLOT = "session_started_metadata"
#: Slots a new session never inherits: the identity must be proven again.
_NEVER_CARRIED = frozenset(
    {"verified", "customer_id", "email", REQUESTED_SLOT, SESSION_METADATA_SLOT, "fallback_streak"}
)
#: Slots a new session always inherits, even when the domain does not carry slots over.
_ALWAYS_CARRIED = frozenset({"verification_failures"})

BAD_EMAIL = "That doesn't look like an email address. Please type it like name@example.com."
VERIFIED = "Thank you, I've confirmed it's you."
TOKEN_REJECTED_TAIL = " Meanwhile I can check it's you with your email address and an order number."


def shop_token(tracker: Tracker) -> object | None:
    """``metadata.shop_token`` of the session start, else of the latest user message."""
    sources: list[Any] = [tracker.get_slot(SESSION_METADATA_SLOT),
                          (tracker.latest_message or {}).get("metadata")]
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            sources.append(event.get("metadata"))
            break
    for metadata in sources:
        if isinstance(metadata, dict) and metadata.get("shop_token") is not None:
            return metadata["shop_token"]
    return None


def carried_over_slots(tracker: Tracker, domain: DomainDict) -> list[EventType]:
    config = domain.get("session_config") if isinstance(domain, dict) else None
    carry = bool((config or {}).get("carry_over_slots_to_new_session", True))
    return [
        SlotSet(name, value)
        for name, value in tracker.slots.items()
        if value is not None and name not in _NEVER_CARRIED and (carry or name in _ALWAYS_CARRIED)
    ]


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events: list[EventType] = [SessionStarted(), *carried_over_slots(tracker, domain)]
        token = shop_token(tracker)
        if token is not None:
            events += await self._verify(token, dispatcher, tracker)
        events.append(ActionExecuted("action_listen"))
        return events

    async def _verify(
        self, token: object, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> list[EventType]:
        try:
            context = get_context()
            identity = await in_transaction(
                context, lambda s: verify_shop_token(s, context.crm, token, now=context.now())
            )
        except ShopTokenInvalid as exc:
            log.info("shop token rejected in conversation %s: %s",
                     conversation_label(tracker), exc.reason)
            message = humanise(str(exc), today=context.now().date())
            dispatcher.utter_message(text=message + TOKEN_REJECTED_TAIL)
            return []
        except CrmError as exc:
            # Nothing was asked yet: stay unverified quietly, verify_form asks when needed.
            log.warning("shop token not checked in conversation %s: %s",
                        conversation_label(tracker), exc.code)
            return []
        except Exception as exc:  # noqa: BLE001 - a session must start whatever happens
            log_failure(self.name(), tracker, exc)
            return []
        return [SlotSet("verified", True), SlotSet("customer_id", identity.customer_public_id)]


class ValidateVerifyForm(GuardedFormValidation):
    default_required_slots = ("email", "order_number")

    def name(self) -> str:
        return "validate_verify_form"

    def _locked(self, tracker: Tracker) -> bool:
        limit = self.context.settings.max_verification_failures
        return slot_number(tracker, "verification_failures") >= limit

    async def validate_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if self._locked(tracker):
            return {"email": None}
        try:
            return {"email": normalise_email(value)}
        except InvalidInput:
            dispatcher.utter_message(text=BAD_EMAIL)
            return {"email": None}

    async def validate_order_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if self._locked(tracker):
            return {"order_number": None}
        number = normalise_order_number(value)
        if number is None:
            dispatcher.utter_message(text=BAD_ORDER_NUMBER)
        return {"order_number": number}

    async def after_validation(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.get_slot("verified") is True:
            return []
        if self._locked(tracker):
            return self._lock()
        email = slot_text(tracker, "email")
        number = normalise_order_number(tracker.get_slot("order_number"))
        if email is None or number is None:
            return []
        context = self.context
        try:
            identity = await in_transaction(
                context, lambda s: verify_email_and_order(s, email, number)
            )
        except VerificationFailed:
            failures = slot_number(tracker, "verification_failures") + 1
            log.info("verification failed in conversation %s (%d of %d)",
                     conversation_label(tracker), failures,
                     context.settings.max_verification_failures)
            events = [SlotSet("email", None), SlotSet("order_number", None),
                      SlotSet("verification_failures", failures)]
            if failures >= context.settings.max_verification_failures:
                return events + self._lock()
            dispatcher.utter_message(response="utter_verification_failed")
            return events
        dispatcher.utter_message(text=VERIFIED)
        return [SlotSet("verified", True), SlotSet("customer_id", identity.customer_public_id),
                SlotSet("verification_failures", 0.0)]

    @staticmethod
    def _lock() -> list[EventType]:
        """End the form unverified; the rules say so and hand over."""
        return [SlotSet("email", None), SlotSet("order_number", None),
                SlotSet(REQUESTED_SLOT, None)]
