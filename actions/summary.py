"""The short summary an agent reads when a conversation is handed over.

Built from the tracker: why the bot handed over (in words: "asked for a person"), whether the
customer is verified, the order and amount in question, the open form, the recent intents and
the last customer messages.
Email addresses and phone-like numbers (also IBANs, card numbers) are masked; no slot holding
personal data (email, address, refund reason) is quoted.
"""

from __future__ import annotations

import re

from rasa_sdk import Tracker

from actions.common import normalise_order_number, user_intents, verified_customer
from actions.wording import clean_text
from crm_connector import handoff_reason_label

_EMAIL = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+\.[^\s@<>()\[\],;:\"']+")
_LONG_NUMBER = re.compile(r"(?<!\w)(?:\+|00)?\d[\d \-./()]{5,}\d(?!\w)")
_ORDER_NUMBER = re.compile(r"10\d{6}|C?\d{6}")
_SEPARATORS = re.compile(r"[ \-./()+]+")
_AMOUNT = re.compile(r"\d{1,7}\.\d{2}")
MESSAGE_CHARS = 160


def redact(text: str) -> str:
    """Mask email addresses and long digit runs that are not order numbers."""
    text = _EMAIL.sub("[email]", text)

    def number(match: re.Match[str]) -> str:
        tokens = [t for t in _SEPARATORS.split(match[0]) if t]
        if all(_ORDER_NUMBER.fullmatch(t) for t in tokens):
            return match[0]
        digits = sum(ch.isdigit() for ch in match[0])
        international = match[0].startswith(("+", "00"))
        return "[number]" if digits >= 9 or (international and digits >= 7) else match[0]

    return _LONG_NUMBER.sub(number, text)


def _customer_messages(tracker: Tracker, last: int) -> list[str]:
    found: list[str] = []
    for event in reversed(tracker.events or []):
        if event.get("event") != "user":
            continue
        text = clean_text(event.get("text"), max_chars=2000)
        if text and not text.startswith("/"):  # button payloads carry no words
            clipped = text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "\u2026"
            found.append(redact(clipped))
        if len(found) >= last:
            break
    return found[::-1]


def build_summary(tracker: Tracker, reason: str, *, max_chars: int, max_messages: int) -> str:
    head = [f"Handoff reason: {handoff_reason_label(reason)}.",
            "Customer verified." if verified_customer(tracker) else "Customer not verified."]
    order = normalise_order_number(tracker.get_slot("order_number"))
    if order:
        head.append(f"Order: {order}.")
    amount = tracker.get_slot("refund_amount")
    if amount == "full" or (isinstance(amount, str) and _AMOUNT.fullmatch(amount)):
        head.append("Refund asked: everything refundable." if amount == "full"
                    else f"Refund asked: {amount} EUR.")
    form = (tracker.active_loop or {}).get("name")
    if isinstance(form, str) and form:
        head.append(f"Open form: {clean_text(form, max_chars=64)}.")
    intents = user_intents(tracker, 6)
    if intents:
        shown = " > ".join(clean_text(i, max_chars=64) for i in intents)
        head.append(f"Recent intents: {shown}.")
    messages = _customer_messages(tracker, max_messages)
    while True:
        lines = head + (["Last messages:"] + [f'- "{m}"' for m in messages] if messages else [])
        text = "\n".join(lines)
        if len(text) <= max_chars or not messages:
            break
        messages = messages[1:]  # drop the oldest quote first
    return text if len(text) <= max_chars else text[: max_chars - 1] + "\u2026"
