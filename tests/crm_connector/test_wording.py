"""Money and handoff reasons as people read them: one formatter for the inbox's JSON, the
manager's pages (``analytics.report.money``) and the services' sentences."""

from __future__ import annotations

import pytest

from crm_connector import handoff_reason_label, money


@pytest.mark.parametrize(("cents", "currency", "text"), [
    (0, "EUR", "0.00 EUR"), (5, "EUR", "0.05 EUR"), (4599, "EUR", "45.99 EUR"),
    (123_450, "EUR", "1,234.50 EUR"), (-123_450, "GBP", "-1,234.50 GBP"),
    (10**17 + 1, "EUR", "1,000,000,000,000,000.01 EUR"),  # integers: no float rounding
])
def test_money_in_whole_cents(cents: int, currency: str, text: str) -> None:
    assert money(cents, currency) == text


def test_an_intent_reason_reads_as_the_intent() -> None:
    assert handoff_reason_label("cancel_order") == "while on: cancel order"
