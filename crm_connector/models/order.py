"""Orders, their lines, payments, shipments and tracking events.

Money is integer minor units (cents) in the order's currency; never a float.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_connector.models.base import (
    Base,
    OrderKind,
    OrderStatus,
    PaymentStatus,
    ShipmentStatus,
    utcnow,
)
from crm_connector.models.catalog import Product
from crm_connector.models.customer import Address, Customer


class SalesOrder(Base):
    """An order ("order" is an SQL keyword, hence the table name)."""

    __tablename__ = "sales_order"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The order number customers see and type ("10004217"; imported invoices keep theirs).
    number: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[OrderKind] = mapped_column(default=OrderKind.ORDER)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    shipping_address_id: Mapped[int | None] = mapped_column(ForeignKey("address.id"))
    status: Mapped[OrderStatus] = mapped_column(default=OrderStatus.PLACED, index=True)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    subtotal_cents: Mapped[int] = mapped_column(default=0)
    shipping_cents: Mapped[int] = mapped_column(default=0)
    total_cents: Mapped[int] = mapped_column(default=0)
    country: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32), default="shop")  # shop | demo | import
    placed_at: Mapped[dt.datetime] = mapped_column(index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer | None] = relationship()
    shipping_address: Mapped[Address | None] = relationship()
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id", cascade="all, delete-orphan"
    )
    payments: Mapped[list[Payment]] = relationship(back_populates="order", order_by="Payment.id")
    shipments: Mapped[list[Shipment]] = relationship(back_populates="order", order_by="Shipment.id")


class OrderLine(Base):
    __tablename__ = "order_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    #: Negative on credit notes (imported cancellation invoices).
    quantity: Mapped[int]
    unit_price_cents: Mapped[int] = mapped_column(CheckConstraint("unit_price_cents >= 0", name="unit_price"))
    line_total_cents: Mapped[int]

    order: Mapped[SalesOrder] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()


class Payment(Base):
    __tablename__ = "payment"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(20))  # card | paypal | invoice | bank_transfer
    status: Mapped[PaymentStatus]
    amount_cents: Mapped[int]
    card_last4: Mapped[str | None] = mapped_column(String(4))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    order: Mapped[SalesOrder] = relationship(back_populates="payments")


class Shipment(Base):
    __tablename__ = "shipment"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id", ondelete="CASCADE"), index=True)
    carrier: Mapped[str] = mapped_column(String(40))
    tracking_number: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[ShipmentStatus] = mapped_column(index=True)
    shipped_at: Mapped[dt.datetime | None]
    estimated_delivery_at: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]

    order: Mapped[SalesOrder] = relationship(back_populates="shipments")
    events: Mapped[list[ShipmentEvent]] = relationship(
        back_populates="shipment", order_by="ShipmentEvent.occurred_at", cascade="all, delete-orphan"
    )


class ShipmentEvent(Base):
    """One tracking scan of a parcel."""

    __tablename__ = "shipment_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipment.id", ondelete="CASCADE"), index=True)
    occurred_at: Mapped[dt.datetime]
    status: Mapped[ShipmentStatus]
    location: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(255))

    shipment: Mapped[Shipment] = relationship(back_populates="events")
