"""Finding customers by email, phone or customer number.

Email: trimmed and lower-cased, then compared case-insensitively.

Phone numbers are normalised to E.164 (``+`` and 8 to 15 digits), the form ``customer.phone``
is stored in:

1. Spaces, tabs, ``-``, ``.``, ``/`` and brackets are separators and are dropped; a ``(0)``
   after an international prefix is the national trunk prefix and is dropped too
   (``+49 (0)151 ...`` -> ``+49151...``).
2. ``+49...`` and ``0049...`` are international: the country code follows.
3. ``0151...`` is national: its leading ``0`` is replaced by ``default_country_code``
   (e.g. ``"49"``; entry points pass ``CrmSettings.default_phone_country_code``); without one,
   it is refused ("include the country code").
4. Anything else (letters, an extension, too few or too many digits, a number without any
   prefix) is ``InvalidInput``.

Examples: ``"+49 151 1234-5678"``, ``"0049 151 12345678"``, ``"+49 (0)151/1234 5678"`` and
(with ``default_country_code="49"``) ``"0151 12345678"`` all become ``"+4915112345678"``.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_connector.db import db_boundary
from crm_connector.errors import AmbiguousCustomer, CustomerNotFound, InvalidInput
from crm_connector.models import Customer
from crm_connector.services.repository import customer_view, get_customer_row
from crm_connector.services.views import CustomerView

_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_SEPARATORS = re.compile(r"[\s\-./()]")
_COUNTRY_CODE = re.compile(r"[1-9][0-9]{0,2}")
_MAX_EMAIL = 320
_MAX_PHONE_INPUT = 40

NOT_FOUND_BY_EMAIL = "No customer with that email address."
NOT_FOUND_BY_PHONE = "No customer with that phone number."
_NEEDS_COUNTRY_CODE = "Please give the phone number with its country code, e.g. +49 151 ..."


def normalise_email(raw: object) -> str:
    """Trimmed and lower-cased; ``InvalidInput`` unless it looks like ``name@domain.tld``."""
    if not isinstance(raw, str):
        raise InvalidInput("The email address is missing.")
    value = raw.strip().lower()
    if len(value) > _MAX_EMAIL or not _EMAIL.fullmatch(value):
        raise InvalidInput("That does not look like an email address.")
    return value


def normalise_phone(raw: object, *, default_country_code: str | None = None) -> str:
    """The E.164 form (``"+4915112345678"``) of a phone number; see the module docstring."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("The phone number is missing.")
    if len(raw) > _MAX_PHONE_INPUT:
        raise InvalidInput("That phone number is too long.")
    value = raw.strip()
    international = value.startswith(("+", "00"))
    if international:
        value = value.replace("(0)", "")
    value = _SEPARATORS.sub("", value)
    if value.startswith("+"):
        digits = value[1:]
    elif value.startswith("00"):
        digits = value[2:]
    elif value.startswith("0"):
        if default_country_code is None:
            raise InvalidInput(_NEEDS_COUNTRY_CODE)
        if not _COUNTRY_CODE.fullmatch(default_country_code):
            raise InvalidInput("The default country code must be 1 to 3 digits, e.g. 49.")
        digits = default_country_code + value[1:]
    else:
        raise InvalidInput(_NEEDS_COUNTRY_CODE)
    if not digits.isascii() or not digits.isdigit():
        raise InvalidInput(
            "A phone number may only contain digits, spaces, dashes and a leading +."
        )
    if digits.startswith("0") or not 8 <= len(digits) <= 15:
        raise InvalidInput("That does not look like a complete phone number.")
    return "+" + digits


@db_boundary
def find_customer_by_email(session: Session, email: str) -> CustomerView:
    """The customer with this email address (case-insensitive, surrounding spaces ignored)."""
    value = normalise_email(email)
    rows = session.scalars(
        select(Customer).where(func.lower(Customer.email) == value).order_by(Customer.id).limit(2)
    ).all()
    if not rows:
        raise CustomerNotFound(NOT_FOUND_BY_EMAIL)
    if len(rows) > 1:
        raise AmbiguousCustomer(
            "Several customer records share this email address; an agent must pick one."
        )
    return customer_view(rows[0])


@db_boundary
def find_customer_by_phone(
    session: Session, phone: str, *, default_country_code: str | None = None
) -> CustomerView:
    """The customer with this phone number, in any of the spellings ``normalise_phone`` accepts."""
    value = normalise_phone(phone, default_country_code=default_country_code)
    rows = session.scalars(
        select(Customer).where(Customer.phone == value).order_by(Customer.id).limit(2)
    ).all()
    if not rows:
        raise CustomerNotFound(NOT_FOUND_BY_PHONE)
    if len(rows) > 1:
        raise AmbiguousCustomer(
            "Several customers share this phone number; please ask for the email address instead."
        )
    return customer_view(rows[0])


@db_boundary
def get_customer(session: Session, customer_public_id: str) -> CustomerView:
    """The customer with this customer number ("C0000042")."""
    return customer_view(get_customer_row(session, customer_public_id))
