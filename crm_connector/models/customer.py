"""Customers and their addresses."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_connector.models.base import Base, utcnow


class Customer(Base):
    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Customer number shown to people ("C0001234"); never the database id.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    #: Id in the system the customer came from (e.g. Online Retail ``CustomerID``).
    external_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320), unique=True)  # stored lower-case
    phone: Mapped[str | None] = mapped_column(String(32), index=True)  # E.164, "+4915112345678"
    country: Mapped[str | None] = mapped_column(String(64))
    marketing_consent: Mapped[bool] = mapped_column(default=False)
    data_processing_consent: Mapped[bool] = mapped_column(default=True)
    consent_updated_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    addresses: Mapped[list[Address]] = relationship(back_populates="customer", order_by="Address.id")

    @property
    def display_name(self) -> str:
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        return name or self.public_id


class Address(Base):
    __tablename__ = "address"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    line1: Mapped[str] = mapped_column(String(200))
    line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    postal_code: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(64))
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="addresses")

    def one_line(self) -> str:
        parts = [self.line1, self.line2, f"{self.postal_code} {self.city}", self.country]
        return ", ".join(p for p in parts if p)
