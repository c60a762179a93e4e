"""Money and dates as customers read them (locale-neutral; the bot may reformat)."""

from __future__ import annotations

import datetime as dt


def money(cents: int, currency: str) -> str:
    """``4599, "EUR"`` -> ``"45.99 EUR"`` (integer arithmetic, never a float)."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{rest:02d} {currency}"


def day(value: dt.datetime | dt.date) -> str:
    """``2026-11-20`` (the UTC calendar day of a datetime)."""
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC).date()
    return value.isoformat()
