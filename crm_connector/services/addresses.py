"""Changing the delivery address of an order that has not shipped.

The new address is validated (line 1, city, postal code and country required; lengths within
the columns; no control characters), stored as a new ``Address`` of the customer, and the order
points at it. The audit entry stores the old and new address ids, not the address text. If the
order already goes to exactly this address nothing is written (``changed=False``), so a retried
request does not pile up copies.

Refused with ``AddressChangeNotAllowed`` (``AddressChangeRefusal``) once the parcel is with the
carrier, delivered, returned, or the order is cancelled or a credit note.
``address_change_refusal`` reports the same refusal without changing anything, and
``validate_address`` checks an address on its own, so a caller can check both before the change.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from sqlalchemy.orm import Session

from crm_connector.db import db_boundary
from crm_connector.errors import AddressChangeNotAllowed, InvalidInput
from crm_connector.models import Address, OrderKind, OrderStatus, SalesOrder
from crm_connector.services.audit import ENTITY_ORDER, record_audit, require_actor
from crm_connector.services.order_state import has_shipped, shipped_phrase
from crm_connector.services.repository import address_view, get_customer_order
from crm_connector.services.validation import clean_text, optional_text, require_aware
from crm_connector.services.views import (
    AddressChangeRefusal,
    AddressChangeRefusalView,
    AddressChangeView,
    NewAddress,
)

log = logging.getLogger(__name__)

_POSTAL_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]*")
_COUNTRY = re.compile(r"[^\W\d_][^\W\d_ .'-]*(?:[ .'-]+[^\W\d_]+)*\.?")


def validate_address(address: NewAddress) -> dict[str, str | None]:
    """The cleaned fields of ``address``; ``InvalidInput`` naming the first bad field."""
    if not isinstance(address, NewAddress):
        raise InvalidInput("The new address must be a NewAddress.")
    fields = {
        "line1": clean_text(address.line1, "street address", min_len=3, max_len=200),
        "line2": optional_text(address.line2, "second address line", max_len=200),
        "city": clean_text(address.city, "city", min_len=2, max_len=100),
        "postal_code": clean_text(address.postal_code, "postal code", min_len=2, max_len=20)
        .upper(),
        "country": clean_text(address.country, "country", min_len=2, max_len=64),
    }
    if not _POSTAL_CODE.fullmatch(fields["postal_code"] or ""):
        raise InvalidInput("The postal code may only contain letters, digits, spaces and dashes.")
    if not _COUNTRY.fullmatch(fields["country"] or ""):
        raise InvalidInput("The country must be a country name or code (letters only).")
    return fields


@db_boundary
def change_delivery_address(
    session: Session,
    customer_public_id: str,
    order_number: str,
    new_address: NewAddress,
    *,
    actor: str,
    now: dt.datetime,
) -> AddressChangeView:
    """Send an order that has not shipped yet to ``new_address``."""
    actor = require_actor(actor)
    require_aware(now)
    fields = validate_address(new_address)
    order = get_customer_order(session, customer_public_id, order_number, for_update=True)
    refusal = _refusal(order)
    if refusal is not None:
        raise AddressChangeNotAllowed(refusal.message, reason=refusal.reason)

    current = order.shipping_address
    if current is not None and _same(current, fields):
        return AddressChangeView(
            order_number=order.number, address=address_view(current), changed=False
        )

    address = Address(customer_id=order.customer_id, is_default=False, created_at=now, **fields)
    session.add(address)
    session.flush()
    previous_id = order.shipping_address_id
    order.shipping_address = address
    order.updated_at = now
    record_audit(
        session, actor=actor, action="order.delivery_address_changed", entity_type=ENTITY_ORDER,
        entity_id=order.id, before={"shipping_address_id": previous_id},
        after={"shipping_address_id": address.id}, now=now,
    )
    session.flush()
    log.info("delivery address of order %s changed (address %s -> %s)",
             order.number, previous_id, address.id)
    return AddressChangeView(order_number=order.number, address=address_view(address), changed=True)


@db_boundary
def address_change_refusal(
    session: Session, customer_public_id: str, order_number: str
) -> AddressChangeRefusalView | None:
    """Why ``change_delivery_address`` would refuse this order now, or ``None`` if it would
    accept a valid address.

    Read-only, for checking before asking the customer for the new address;
    ``change_delivery_address`` applies the same rule again when it runs. ``OrderNotFound``
    for an order of anybody else.
    """
    order = get_customer_order(session, customer_public_id, order_number)
    return _refusal(order)


def _same(current: Address, fields: dict[str, str | None]) -> bool:
    return all(
        (getattr(current, name) or "").casefold() == (value or "").casefold()
        for name, value in fields.items()
    )


def _refusal(order: SalesOrder) -> AddressChangeRefusalView | None:
    """The one address-change rule: why ``order`` cannot be redirected, or ``None``."""
    n = order.number
    if order.kind == OrderKind.CREDIT_NOTE:
        return AddressChangeRefusalView(
            n, AddressChangeRefusal.CREDIT_NOTE, f"{n} is a credit note; it has no delivery."
        )
    if order.status == OrderStatus.CANCELLED:
        return AddressChangeRefusalView(
            n, AddressChangeRefusal.CANCELLED,
            f"Order {n} was cancelled, so there is nothing to deliver.",
        )
    if order.status == OrderStatus.DELIVERED:
        return AddressChangeRefusalView(
            n, AddressChangeRefusal.DELIVERED, f"Order {n} was already delivered."
        )
    if order.status == OrderStatus.RETURNED:
        return AddressChangeRefusalView(
            n, AddressChangeRefusal.RETURNED, f"Order {n} was returned to us."
        )
    if has_shipped(order):
        return AddressChangeRefusalView(
            n, AddressChangeRefusal.ALREADY_SHIPPED,
            f"Order {n} has {shipped_phrase(order)}, so its delivery address can no longer be "
            "changed here. The carrier's tracking page may offer a redirection.",
        )
    return None
