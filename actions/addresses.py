"""Sending an order that has not shipped to another address: ``validate_address_form`` and
``action_change_address``.

The address is typed in one line: "12 Main Street, 10115 Berlin, Germany" (street and number,
postal code and city, country; an extra line such as "Flat 2" may follow the street). The
postal code may also follow the city ("Berlin 10115") or stand alone ("10115, Berlin").
"""

from __future__ import annotations

import datetime as dt
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
    normalise_order_number,
)
from actions.context import ActionContext
from actions.wording import clean_text, humanise
from crm_connector import (
    AddressChangeRefusalView,
    InvalidInput,
    NewAddress,
    address_change_refusal,
    change_delivery_address,
    customer_actor,
    validate_address,
)

MAX_ADDRESS_CHARS = 500
UNREADABLE = (
    "I couldn't read that as an address. Please write it in one line: street and house number, "
    "postal code and city, country. For example: 12 Main Street, 10115 Berlin, Germany"
)
NO_COUNTRY = "Please add the country at the end, for example: 12 Main Street, 10115 Berlin, Germany"
WHICH_ORDER = "Which order should go to a new address? Here are your latest orders:"

# Postal codes of the countries the shop delivers to (EU), plus the UK form: 10115, 1010,
# 00-950, 1012 AB, 114 55, L-1234 / D-10115.
_POSTAL = (r"(?:[A-Z]{1,2}-)?(?:\d{2}-\d{3}|\d{4}\s?[A-Z]{2}(?=\s|$)|\d{3}\s\d{2}(?=\s|$)"
           r"|\d{4,5}|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2})")
_POSTAL_ONLY = re.compile(_POSTAL, re.IGNORECASE)
_POSTAL_CITY = re.compile(rf"(?P<postal>{_POSTAL})\s+(?P<city>[^\d,]{{2,100}})", re.IGNORECASE)
_CITY_POSTAL = re.compile(rf"(?P<city>[^\d,]{{2,100}}?)\s+(?P<postal>{_POSTAL})", re.IGNORECASE)
_CITY = re.compile(r"[^\W\d_][^\d]{1,99}")
_MARKUP = re.compile(r"[<>{}\[\]\\]")


class AddressUnreadable(ValueError):
    """The text is not an address we can read; the message says how to write it."""


def parse_address(raw: object) -> NewAddress:
    """One-line address -> ``NewAddress`` that ``crm_connector.validate_address`` accepts;
    ``AddressUnreadable`` with a customer message."""
    text = raw if isinstance(raw, str) else ""
    if _MARKUP.search(text):
        raise AddressUnreadable(UNREADABLE)
    text = re.sub(r"[\r\n;]+", ",", text[: MAX_ADDRESS_CHARS * 2])
    text = clean_text(text, max_chars=MAX_ADDRESS_CHARS)
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) < 2:
        raise AddressUnreadable(UNREADABLE)
    if len(parts) == 2 and _postal_city(parts[1]) is not None:
        raise AddressUnreadable(NO_COUNTRY)
    country = parts[-1]
    if len(parts) >= 4 and _POSTAL_ONLY.fullmatch(parts[-3]) and _CITY.fullmatch(parts[-2]):
        postal, city, street = parts[-3], parts[-2], parts[:-3]
    else:
        found = _postal_city(parts[-2]) if len(parts) >= 3 else None
        if found is None:
            raise AddressUnreadable(UNREADABLE)
        (postal, city), street = found, parts[:-2]
    if not 1 <= len(street) <= 2 or not any(ch.isalpha() for ch in street[0]):
        raise AddressUnreadable(UNREADABLE)
    address = NewAddress(line1=street[0], line2=street[1] if len(street) == 2 else None,
                         city=city.strip(), postal_code=" ".join(postal.upper().split()),
                         country=country)
    try:
        validate_address(address)  # the CRM's own rules: lengths, characters, country
    except InvalidInput:
        raise AddressUnreadable(UNREADABLE) from None
    return address


def _postal_city(part: str) -> tuple[str, str] | None:
    for pattern in (_POSTAL_CITY, _CITY_POSTAL):
        match = pattern.fullmatch(part)
        if match and _CITY.fullmatch(match["city"].strip()):
            return match["postal"], match["city"].strip()
    return None


def one_line(address: NewAddress) -> str:
    parts = [address.line1, address.line2, f"{address.postal_code} {address.city}", address.country]
    return ", ".join(p for p in parts if p)


class ValidateAddressForm(OrderFormValidation[AddressChangeRefusalView | None]):
    default_required_slots = ("order_number", "new_address")
    which_order = WHICH_ORDER

    def name(self) -> str:
        return "validate_address_form"

    def check_order(
        self, session: Session, customer: str, number: str, now: dt.datetime
    ) -> AddressChangeRefusalView | None:
        return address_change_refusal(session, customer, number)

    def accept_order(
        self, found: AddressChangeRefusalView | None, number: str, dispatcher: CollectingDispatcher,
        now: dt.datetime,
    ) -> dict[str, Any]:
        if found is not None:
            dispatcher.utter_message(text=humanise(found.message, today=now.date()))
            return {"order_number": None, "new_address": None, REQUESTED_SLOT: None}
        return {"order_number": number}

    async def validate_new_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        try:
            address = parse_address(value)
        except AddressUnreadable as exc:
            dispatcher.utter_message(text=str(exc))
            return {"new_address": None}
        return {"new_address": one_line(address)}


class ActionChangeAddress(GuardedAction):
    needs_verification = True
    slots_reset_on_failure = ("new_address",)

    def name(self) -> str:
        return "action_change_address"

    async def act(
        self, context: ActionContext, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict, customer: str | None,
    ) -> list[EventType]:
        number = normalise_order_number(tracker.get_slot("order_number"))
        raw = tracker.get_slot("new_address")
        if customer is None or number is None or raw is None:
            return []  # the form ended early and has already said why
        try:
            address = parse_address(raw)
        except AddressUnreadable as exc:
            dispatcher.utter_message(text=str(exc))
            return [SlotSet("new_address", None)]
        now = context.now()
        change = await in_transaction(context, lambda s: change_delivery_address(
            s, customer, number, address, actor=customer_actor(customer), now=now,
        ), write=True)
        if change.changed:
            text = (f"Done: order {change.order_number} will be delivered to "
                    f"{change.address.one_line()}.")
        else:
            text = f"Order {change.order_number} already goes to {change.address.one_line()}."
        dispatcher.utter_message(text=text)
        return [SlotSet("new_address", None)]
