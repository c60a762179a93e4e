"""Queries the services share, and the ORM -> view conversions. Internal to the package."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from crm_connector.errors import CustomerNotFound, OrderNotFound
from crm_connector.models import (
    Address,
    Customer,
    OrderLine,
    Refund,
    RefundStatus,
    SalesOrder,
    Shipment,
)
from crm_connector.services.validation import normalise_order_number, normalise_public_id
from crm_connector.services.views import AddressView, CustomerView, RefundItemView, RefundView

#: Refunds in these states count against what can still be refunded.
ACTIVE_REFUND_STATUSES = (RefundStatus.REQUESTED, RefundStatus.APPROVED, RefundStatus.COMPLETED)

CUSTOMER_NOT_FOUND = "No customer with that customer number."


def order_not_found_message(order_number: str) -> str:
    # Deliberately the same whether the order does not exist or belongs to another customer.
    return f"We could not find order {order_number} for this customer."


def get_customer_row(session: Session, customer_public_id: str) -> Customer:
    public_id = normalise_public_id(customer_public_id)
    customer = session.scalars(
        select(Customer).where(Customer.public_id == public_id)
    ).one_or_none()
    if customer is None:
        raise CustomerNotFound(CUSTOMER_NOT_FOUND)
    return customer


def get_customer_order(
    session: Session, customer_public_id: str, order_number: str, *, for_update: bool = False
) -> SalesOrder:
    """The customer's order with its lines, payments and shipments loaded.

    ``for_update=True`` locks the order row (``SELECT ... FOR UPDATE`` on PostgreSQL; on
    SQLite the clause is left out and ``write_transaction``'s ``BEGIN IMMEDIATE`` holds the
    database write lock instead) and re-reads it even if the session had it already.
    """
    public_id = normalise_public_id(customer_public_id)
    number = normalise_order_number(order_number)
    stmt = (
        select(SalesOrder)
        .join(Customer, SalesOrder.customer_id == Customer.id)
        .where(SalesOrder.number == number, Customer.public_id == public_id)
        .options(
            selectinload(SalesOrder.lines).selectinload(OrderLine.product),
            selectinload(SalesOrder.payments),
            selectinload(SalesOrder.shipments).selectinload(Shipment.events),
            selectinload(SalesOrder.shipping_address),
        )
    )
    if for_update:
        stmt = stmt.with_for_update(of=SalesOrder).execution_options(populate_existing=True)
    order = session.scalars(stmt).one_or_none()
    if order is None:
        get_customer_row(session, public_id)  # CustomerNotFound beats OrderNotFound
        raise OrderNotFound(order_not_found_message(number))
    return order


def active_refunds(session: Session, order: SalesOrder) -> list[Refund]:
    """Refunds of ``order`` that are not rejected, oldest first, with their items."""
    return list(
        session.scalars(
            select(Refund)
            .where(Refund.order_id == order.id, Refund.status.in_(ACTIVE_REFUND_STATUSES))
            .options(selectinload(Refund.items))
            .order_by(Refund.id)
        )
    )


def refund_by_key(session: Session, idempotency_key: str) -> Refund | None:
    return session.scalars(
        select(Refund)
        .where(Refund.idempotency_key == idempotency_key)
        .options(selectinload(Refund.items))
        .execution_options(populate_existing=True)
    ).one_or_none()


def customer_view(customer: Customer) -> CustomerView:
    return CustomerView(
        public_id=customer.public_id,
        display_name=customer.display_name,
        first_name=customer.first_name,
        last_name=customer.last_name,
        email=customer.email,
        phone=customer.phone,
        country=customer.country,
        created_at=customer.created_at,
    )


def address_view(address: Address) -> AddressView:
    return AddressView(
        line1=address.line1,
        line2=address.line2,
        city=address.city,
        postal_code=address.postal_code,
        country=address.country,
    )


def line_numbers(order: SalesOrder) -> dict[int, int]:
    """Order line database id -> the 1-based line number customers see."""
    return {line.id: no for no, line in enumerate(order.lines, start=1)}


def refund_view(
    session: Session, refund: Refund, order: SalesOrder, *, created: bool
) -> RefundView:
    position = session.scalar(
        select(func.count(Refund.id)).where(Refund.order_id == order.id, Refund.id <= refund.id)
    )
    numbers = line_numbers(order)
    skus = {line.id: line.product.sku for line in order.lines}
    items = tuple(
        RefundItemView(
            line_no=numbers[item.order_line_id],
            sku=skus[item.order_line_id],
            quantity=item.quantity,
            amount_cents=item.amount_cents,
        )
        for item in sorted(refund.items, key=lambda i: numbers[i.order_line_id])
    )
    return RefundView(
        reference=f"{order.number}-R{position}",
        order_number=order.number,
        amount_cents=refund.amount_cents,
        currency=refund.currency,
        status=refund.status,
        requested_by=refund.requested_by,
        created_at=refund.created_at,
        idempotency_key=refund.idempotency_key,
        items=items,
        created=created,
    )


def refund_items_by_line(refunds: list[Refund]) -> dict[int, int]:
    """Order line database id -> units already covered by the given refunds."""
    totals: dict[int, int] = {}
    for refund in refunds:
        for item in refund.items:
            totals[item.order_line_id] = totals.get(item.order_line_id, 0) + item.quantity
    return totals

