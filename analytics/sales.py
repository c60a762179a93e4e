"""Sales dashboard numbers from the CRM: revenue over time, orders, average order value, top
products, top customers and the best day.

Definitions: an *order* is a ``SalesOrder`` of kind ``order`` that was not cancelled; *net
revenue* is the total of those orders plus credit notes (imported cancellation invoices, whose
totals are negative); refunds are not subtracted. Money stays in integer cents of one currency
(the most common one unless given). The period is by ``placed_at``, ``[since, until)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from analytics.errors import InvalidInputData
from crm_connector.models import Customer, OrderKind, OrderLine, OrderStatus, Product, SalesOrder

#: Weeks run Monday to Sunday and are labelled by their Monday.
FREQUENCIES = {"day": "D", "week": "W-SUN", "month": "M"}


@dataclass(frozen=True)
class ProductSales:
    sku: str
    name: str
    units: int
    revenue_cents: int


@dataclass(frozen=True)
class CustomerSales:
    public_id: str
    name: str
    orders: int
    revenue_cents: int


@dataclass(frozen=True)
class SalesSummary:
    currency: str | None
    since: dt.datetime | None
    until: dt.datetime | None
    revenue_cents: int
    orders: int
    average_order_cents: int | None
    best_day: dt.date | None
    best_day_revenue_cents: int
    top_products: list[ProductSales]
    top_customers: list[CustomerSales]


def _counted(query: Select, since: dt.datetime | None, until: dt.datetime | None,  # type: ignore[type-arg]
             currency: str | None) -> Select:  # type: ignore[type-arg]
    query = query.where(SalesOrder.status != OrderStatus.CANCELLED)
    if currency is not None:
        query = query.where(SalesOrder.currency == currency)
    if since is not None:
        query = query.where(SalesOrder.placed_at >= since)
    if until is not None:
        query = query.where(SalesOrder.placed_at < until)
    return query


def _check(since: dt.datetime | None, until: dt.datetime | None) -> None:
    for value in (since, until):
        if value is not None and value.tzinfo is None:
            raise InvalidInputData("sales periods need timezone-aware datetimes (UTC)")
    if since and until and since >= until:
        raise InvalidInputData("the sales period ends before it starts")


def main_currency(session: Session) -> str | None:
    return session.scalar(select(SalesOrder.currency).group_by(SalesOrder.currency)
                          .order_by(func.count().desc(), SalesOrder.currency).limit(1))


def orders_frame(session: Session, *, since: dt.datetime | None = None,
                 until: dt.datetime | None = None, currency: str | None = None) -> pd.DataFrame:
    """placed_at, total_cents, is_order (False for a credit note), customer_id."""
    _check(since, until)
    currency = currency or main_currency(session)
    rows = session.execute(_counted(
        select(SalesOrder.placed_at, SalesOrder.total_cents, SalesOrder.kind,
               SalesOrder.customer_id), since, until, currency)).all()
    frame = pd.DataFrame(
        [(p, int(t), k == OrderKind.ORDER, c) for p, t, k, c in rows],
        columns=["placed_at", "total_cents", "is_order", "customer_id"])
    frame["placed_at"] = pd.to_datetime(frame["placed_at"], utc=True)
    return frame


def sales_summary(session: Session, *, since: dt.datetime | None = None,
                  until: dt.datetime | None = None, currency: str | None = None,
                  top: int = 10) -> SalesSummary:
    currency = currency or main_currency(session)
    frame = orders_frame(session, since=since, until=until, currency=currency)
    orders = frame[frame["is_order"]]
    revenue = int(frame["total_cents"].sum()) if len(frame) else 0
    best_day, best_revenue = None, 0
    if len(frame):
        daily = frame.groupby(frame["placed_at"].dt.date)["total_cents"].sum()
        daily = daily.sort_index()
        best_day = daily.idxmax()
        best_revenue = int(daily.max())
    return SalesSummary(
        currency=currency, since=since, until=until, revenue_cents=revenue,
        orders=len(orders),
        average_order_cents=round(orders["total_cents"].mean()) if len(orders) else None,
        best_day=best_day, best_day_revenue_cents=best_revenue,
        top_products=top_products(session, since=since, until=until, currency=currency, top=top),
        top_customers=top_customers(session, since=since, until=until, currency=currency,
                                    top=top),
    )


def top_products(session: Session, *, since: dt.datetime | None = None,
                 until: dt.datetime | None = None, currency: str | None = None,
                 top: int = 10) -> list[ProductSales]:
    """Products by net revenue (units: net of credit notes)."""
    _check(since, until)
    revenue = func.sum(OrderLine.line_total_cents)
    query = _counted(
        select(Product.sku, Product.name, func.sum(OrderLine.quantity), revenue)
        .join(OrderLine, OrderLine.product_id == Product.id)
        .join(SalesOrder, SalesOrder.id == OrderLine.order_id)
        .group_by(Product.id, Product.sku, Product.name)
        .order_by(revenue.desc(), Product.sku).limit(top),
        since, until, currency or main_currency(session))
    return [ProductSales(sku, name, int(units or 0), int(cents or 0))
            for sku, name, units, cents in session.execute(query)]


def top_customers(session: Session, *, since: dt.datetime | None = None,
                  until: dt.datetime | None = None, currency: str | None = None,
                  top: int = 10) -> list[CustomerSales]:
    """Customers by net revenue; ``orders`` counts their orders (not credit notes)."""
    _check(since, until)
    revenue = func.sum(SalesOrder.total_cents)
    n_orders = func.sum(case((SalesOrder.kind == OrderKind.ORDER, 1), else_=0))
    query = _counted(
        select(Customer.public_id, Customer.first_name, Customer.last_name, n_orders, revenue)
        .join(SalesOrder, SalesOrder.customer_id == Customer.id)
        .group_by(Customer.id, Customer.public_id, Customer.first_name, Customer.last_name)
        .order_by(revenue.desc(), Customer.public_id).limit(top),
        since, until, currency or main_currency(session))
    out = []
    for public_id, first, last, count, cents in session.execute(query):
        name = " ".join(p for p in (first, last) if p) or public_id
        out.append(CustomerSales(public_id, name, int(count or 0), int(cents or 0)))
    return out


def revenue_over_time(session: Session, *, freq: str = "week", since: dt.datetime | None = None,
                      until: dt.datetime | None = None,
                      currency: str | None = None) -> pd.DataFrame:
    """Per period (index: period start): revenue_cents, orders, average_order_cents."""
    try:
        rule = FREQUENCIES[freq]
    except KeyError:
        raise InvalidInputData(f"freq must be one of {sorted(FREQUENCIES)}, not {freq!r}") from None
    frame = orders_frame(session, since=since, until=until, currency=currency)
    columns = ["revenue_cents", "orders", "average_order_cents"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame["period"] = frame["placed_at"].dt.tz_convert(None).dt.to_period(rule).dt.start_time
    grouped = frame.groupby("period")
    orders_only = frame[frame["is_order"]].groupby("period")["total_cents"]
    table = pd.DataFrame({
        "revenue_cents": grouped["total_cents"].sum(),
        "orders": orders_only.count(),
    }).fillna({"orders": 0})
    table["orders"] = table["orders"].astype(int)
    table["average_order_cents"] = (orders_only.sum() / orders_only.count()).round()
    return table[columns].sort_index()
