"""Money and dates as customers read them (locale-neutral; the bot may reformat), and why a
conversation was handed to a person as agents and managers read it."""

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


#: What the handoff reason codes (``actions.handoff.handoff_reason``, the gateway's
#: ``bot_unavailable``) mean to people; any other code is the intent the customer was on.
HANDOFF_REASON_LABELS = {
    "human_handoff": "asked for a person",
    "fallback": "bot did not understand",
    "complaint": "complaint",
    "verification_locked": "identity check failed",
    "bot_unavailable": "bot unavailable",
    "unknown": "not recorded",  # conversation_kpis' name for a handoff without a reason
}


def handoff_reason_label(code: str) -> str:
    """``"human_handoff"`` -> ``"asked for a person"``, ``"request_refund"`` -> ``"while on:
    request refund"``."""
    return HANDOFF_REASON_LABELS.get(code) or f"while on: {code.replace('_', ' ')}"
