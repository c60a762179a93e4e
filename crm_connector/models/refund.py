"""Refunds and cancellations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_connector.models.base import Base, RefundStatus, utcnow
from crm_connector.models.order import OrderLine, SalesOrder


class Refund(Base):
    __tablename__ = "refund"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id", ondelete="CASCADE"), index=True)
    amount_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    status: Mapped[RefundStatus] = mapped_column(default=RefundStatus.REQUESTED)
    reason: Mapped[str] = mapped_column(String(500))
    #: The same key always yields the same refund, however often the request is repeated.
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    requested_by: Mapped[str] = mapped_column(String(64))  # "customer:C0000042", "agent:7", "bot"
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[dt.datetime | None]

    order: Mapped[SalesOrder] = relationship()
    items: Mapped[list[RefundItem]] = relationship(back_populates="refund", cascade="all, delete-orphan")


class RefundItem(Base):
    """Which order lines (and how many units) a refund covers; none for an amount-only refund."""

    __tablename__ = "refund_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refund.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_line.id"), index=True)
    quantity: Mapped[int] = mapped_column(CheckConstraint("quantity > 0", name="quantity_positive"))
    amount_cents: Mapped[int]

    refund: Mapped[Refund] = relationship(back_populates="items")
    order_line: Mapped[OrderLine] = relationship()


class Cancellation(Base):
    __tablename__ = "cancellation"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id", ondelete="CASCADE"), unique=True)
    reason: Mapped[str] = mapped_column(String(500))
    requested_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    order: Mapped[SalesOrder] = relationship()
