"""Sales dashboard numbers on a hand-built order book (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest

from analytics.errors import InvalidInputData
from analytics.sales import revenue_over_time, sales_summary
from crm_connector import OrderKind, OrderStatus, read_transaction, write_transaction
from tests.crm_connector.factories import make_customer, make_order

MONDAY = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


def _day(n: int) -> dt.datetime:
    return MONDAY + dt.timedelta(days=n)


@pytest.fixture
def order_book(sessions):  # type: ignore[no-untyped-def]
    with write_transaction(sessions) as s:
        anna = make_customer(s, "C0000001", email="anna@example.com", first_name="Anna",
                             last_name="Schmidt")
        ben = make_customer(s, "C0000002", email="ben@example.com", phone=None,
                            first_name="Ben", last_name="Okafor")
        # Anna: 2 orders in week 1 (60.00 + 30.00 on Monday), 1 in week 2 (10.00).
        make_order(s, anna, "10000001", placed_at=_day(0), lines=[("MUG", 2, 2000), ("TEA", 1, 2000)])
        make_order(s, anna, "10000002", placed_at=_day(0), lines=[("TEA", 3, 1000)])
        make_order(s, anna, "10000003", placed_at=_day(8), lines=[("MUG", 1, 1000)])
        # Ben: one order of 45.00 on Wednesday, a cancelled one that does not count,
        # and a credit note of -5.00 (an imported cancellation invoice) in week 2.
        make_order(s, ben, "10000004", placed_at=_day(2), lines=[("LAMP", 1, 4500)])
        make_order(s, ben, "10000005", placed_at=_day(3), lines=[("LAMP", 9, 4500)],
                   status=OrderStatus.CANCELLED)
        make_order(s, ben, "C10000006", placed_at=_day(9), lines=[("TEA", -1, 500)],
                   kind=OrderKind.CREDIT_NOTE)
    return sessions


def test_summary_matches_the_hand_count(order_book) -> None:  # type: ignore[no-untyped-def]
    with read_transaction(order_book) as s:
        summary = sales_summary(s, top=3)
    assert summary.currency == "EUR"
    assert summary.revenue_cents == 6000 + 3000 + 1000 + 4500 - 500
    assert summary.orders == 4
    assert summary.average_order_cents == round((6000 + 3000 + 1000 + 4500) / 4)
    assert summary.best_day == _day(0).date() and summary.best_day_revenue_cents == 9000
    assert [(p.sku, p.units, p.revenue_cents) for p in summary.top_products] == [
        ("MUG", 3, 5000), ("LAMP", 1, 4500), ("TEA", 3, 4500)]  # a tie goes by SKU
    assert [(c.public_id, c.name, c.orders, c.revenue_cents) for c in summary.top_customers] == [
        ("C0000001", "Anna Schmidt", 3, 10000), ("C0000002", "Ben Okafor", 1, 4000)]


def test_revenue_per_week_and_period_filter(order_book) -> None:  # type: ignore[no-untyped-def]
    with read_transaction(order_book) as s:
        weekly = revenue_over_time(s, freq="week")
        second_week = sales_summary(s, since=_day(7), until=_day(14))
    assert list(weekly["revenue_cents"]) == [13500, 500]
    assert list(weekly["orders"]) == [3, 1]
    assert list(weekly["average_order_cents"]) == [4500, 1000]
    assert second_week.revenue_cents == 500 and second_week.orders == 1


def test_empty_database_and_bad_periods(sessions) -> None:  # type: ignore[no-untyped-def]
    with read_transaction(sessions) as s:
        summary = sales_summary(s)
        assert revenue_over_time(s).empty
        with pytest.raises(InvalidInputData):
            sales_summary(s, since=dt.datetime(2026, 1, 1))  # naive
        with pytest.raises(InvalidInputData):
            revenue_over_time(s, freq="hourly")
    assert (summary.revenue_cents, summary.orders, summary.average_order_cents,
            summary.best_day, summary.top_products) == (0, 0, None, None, [])
