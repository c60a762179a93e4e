"""Money, dates and buttons as the customer reads them.

Dates: "Tue 3 Nov" (with the year when it is not this year's); money: "€20.50". The CRM
services write ISO dates and "20.50 EUR" in their messages (locale-neutral on purpose);
``humanise`` rewrites those for the chat.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}

_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_SERVICE_MONEY = re.compile(r"(-?\d{1,3}(?:,\d{3})*\.\d{2}) ([A-Z]{3})\b")


def day(
    value: dt.date | dt.datetime, *, tz: dt.tzinfo = dt.UTC, today: dt.date | None = None
) -> str:
    """``Tue 3 Nov`` (``Tue 3 Nov 2025`` when ``today`` is in another year)."""
    if isinstance(value, dt.datetime):
        value = value.astimezone(tz).date()
    text = f"{_WEEKDAYS[value.weekday()]} {value.day} {_MONTHS[value.month - 1]}"
    if today is not None and value.year != today.year:
        text += f" {value.year}"
    return text


def day_time(value: dt.datetime, *, tz: dt.tzinfo = dt.UTC, today: dt.date | None = None) -> str:
    """``Tue 3 Nov, 14:05`` in the display time zone."""
    local = value.astimezone(tz)
    return f"{day(local.date(), today=today)}, {local:%H:%M}"


def money(cents: int, currency: str = "EUR") -> str:
    """``2050, "EUR"`` -> ``€20.50``; other currencies without a symbol: ``20.50 CHF``."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(int(cents)), 100)
    amount = f"{whole:,}.{rest:02d}"
    symbol = _SYMBOLS.get(currency.upper())
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency}"


def humanise(text: str, *, today: dt.date | None = None) -> str:
    """Rewrite the services' ISO dates and "20.50 EUR" amounts in a sentence."""

    def _day(match: re.Match[str]) -> str:
        try:
            value = dt.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return match[0]
        return day(value, today=today)

    def _money(match: re.Match[str]) -> str:
        whole, _, rest = match[1].replace(",", "").partition(".")
        sign = -1 if whole.startswith("-") else 1
        cents = sign * (abs(int(whole)) * 100 + int(rest))
        return money(cents, match[2])

    return _SERVICE_MONEY.sub(_money, _ISO_DAY.sub(_day, text))


def clean_text(value: object, *, max_chars: int) -> str:
    """Customer text made safe to handle: a string, control characters removed, whitespace
    collapsed, cut at ``max_chars``. Anything that is not text becomes ``""``."""
    if not isinstance(value, str):
        return ""
    value = value[: max_chars * 4]  # bound the work before normalising
    kept = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in value)
    return " ".join(kept.split())[:max_chars].strip()


def payload(intent: str, **entities: str) -> str:
    """A button payload that Rasa parses as ``intent`` with ``entities``."""
    return f"/{intent}{json.dumps(entities, separators=(',', ':'))}" if entities else f"/{intent}"


def button(title: str, intent: str, **entities: str) -> dict[str, Any]:
    return {"title": title, "payload": payload(intent, **entities)}


def bullet_lines(lines: Iterable[str]) -> str:
    return "\n".join(f"• {line}" for line in lines)
