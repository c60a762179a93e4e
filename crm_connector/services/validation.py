"""Checks of values handed to the services; every failure is an ``InvalidInput``.

Messages name the field, never echo the value (it may be personal data).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from crm_connector.errors import InvalidInput

_ORDER_NUMBER = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")
_PUBLIC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces


def require_aware(value: dt.datetime, name: str = "now") -> dt.datetime:
    """A timezone-aware datetime (the schema stores UTC)."""
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{name} must be a timezone-aware datetime")
    return value


def normalise_order_number(raw: object) -> str:
    """``" #10004217 "`` -> ``"10004217"``; letters are upper-cased (credit notes "C536379")."""
    if not isinstance(raw, str):
        raise InvalidInput("The order number is missing.")
    value = raw.strip().lstrip("#").strip().upper()
    if not _ORDER_NUMBER.fullmatch(value):
        raise InvalidInput("That does not look like an order number (letters and digits only).")
    return value


def normalise_public_id(raw: object) -> str:
    if not isinstance(raw, str) or not _PUBLIC_ID.fullmatch(raw.strip()):
        raise InvalidInput("That does not look like a customer number.")
    return raw.strip()


def require_idempotency_key(raw: object) -> str:
    if not isinstance(raw, str) or not _IDEMPOTENCY_KEY.fullmatch(raw):
        raise InvalidInput(
            "The idempotency key must be 1 to 128 printable ASCII characters without spaces."
        )
    return raw


def clean_text(raw: object, label: str, *, max_len: int, min_len: int = 1) -> str:
    """Trim, collapse inner whitespace, refuse control characters and bad lengths."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise InvalidInput(f"The {label} is missing.")
    if not isinstance(raw, str):
        raise InvalidInput(f"The {label} must be text.")
    value = " ".join(raw.split())
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise InvalidInput(f"The {label} contains characters that are not allowed.")
    if len(value) < min_len:
        raise InvalidInput(f"The {label} is too short (at least {min_len} characters).")
    if len(value) > max_len:
        raise InvalidInput(f"The {label} is too long (at most {max_len} characters).")
    return value


def optional_text(raw: object, label: str, *, max_len: int) -> str | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    return clean_text(raw, label, max_len=max_len)


def require_positive_int(raw: object, label: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
        raise InvalidInput(f"The {label} must be a whole number above zero.")
    return raw
