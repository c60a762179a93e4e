"""Personal data is redacted from stored conversation text (spaCy rules, no model download)."""

from __future__ import annotations

import pytest

from analytics.errors import InvalidInputData
from analytics.redact import CARD, EMAIL, NUMBER, PHONE, Redactor, luhn_valid


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor("test-key", max_chars=500)


@pytest.mark.parametrize("email", [
    "alex.morgan@example.com", "ALEX@Example.ORG", "o'brien+orders@mail.co.uk",
    "sam_taylor-2@sub.example.de",
])
def test_emails(redactor: Redactor, email: str) -> None:
    out = redactor.redact(f"my email is {email}, thanks!")
    assert out == f"my email is {EMAIL}, thanks!"


@pytest.mark.parametrize("phone", [
    "+49 151 1234 5678", "+4915112345678", "0151-12345678", "(030) 123-4567",
    "0049 30 1234567", "+1 (555) 123-4567", "030/1234567", "555.123.4567",
])
def test_phone_numbers(redactor: Redactor, phone: str) -> None:
    out = redactor.redact(f"call me on {phone} please")
    assert out == f"call me on {PHONE} please", phone


@pytest.mark.parametrize("card", [
    "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "5500 0000 0000 0004",
    "3782 822463 10005", "6011 0009 9013 9424",
])
def test_card_numbers_by_luhn(redactor: Redactor, card: str) -> None:
    assert redactor.redact(f"my card {card} was charged twice") == \
        f"my card {CARD} was charged twice"


def test_a_long_number_failing_luhn_is_still_hidden_but_not_called_a_card(redactor: Redactor) -> None:
    assert not luhn_valid("4111111111111112")
    assert redactor.redact("card 4111 1111 1111 1112") == f"card {NUMBER}"


@pytest.mark.parametrize("text", [
    "where is my order 10000104?", "order #10000104 is late", "Order no. 10000104 please",
    "10000104", "is 10000104 shipped",
])
def test_order_numbers_become_the_same_stable_hash(redactor: Redactor, text: str) -> None:
    token = redactor.order_token("10000104")
    out = redactor.redact(text)
    assert "10000104" not in out and token in out
    assert Redactor("test-key").order_token("#10000104") == token  # stable across instances
    assert Redactor("another-key").order_token("10000104") != token  # keyed


def test_imported_invoice_numbers_next_to_an_order_word(redactor: Redactor) -> None:
    out = redactor.redact("invoice C536365 and order 536365")
    assert "536365" not in out
    assert redactor.order_token("C536365") in out and redactor.order_token("536365") in out


def test_two_order_numbers_in_a_row_stay_two(redactor: Redactor) -> None:
    out = redactor.redact("orders 10000101 10000102")
    assert out == f"orders {redactor.order_token('10000101')} {redactor.order_token('10000102')}"


@pytest.mark.parametrize("text", [
    "delivered on 2026-11-22 at 12:30", "it cost 12.50 for 3 items", "22.11.2026",
    "10 days ago", "size 42, 2 pairs", "",
])
def test_harmless_numbers_stay(redactor: Redactor, text: str) -> None:
    assert redactor.redact(text) == text


def test_everything_in_one_message_with_counts(redactor: Redactor) -> None:
    result = redactor.redact_detailed(
        "Hi, I'm anna@example.com (+49 151 1234 5678), card 4111 1111 1111 1111, "
        "order 10000101 and #10000102")
    assert "anna" not in result.text and "4111" not in result.text and "1234" not in result.text
    assert (result.emails, result.phones, result.cards, result.orders) == (1, 1, 1, 2)


def test_odd_input(redactor: Redactor) -> None:
    assert redactor.redact(None) == ""
    assert len(redactor.redact("x" * 100_000)) == 500
    assert redactor.redact("a\x00b") == "ab"
    assert redactor.redact("<b>Где мой заказ 10000101?</b> 😀") == \
        f"<b>Где мой заказ {redactor.order_token('10000101')}?</b> 😀"
    assert list(redactor.redact_many(["mail a@b.de", None, "ok"])) == [f"mail {EMAIL}", "", "ok"]
    with pytest.raises(InvalidInputData):
        redactor.redact(12345)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputData):
        Redactor("")
