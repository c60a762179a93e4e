"""Per-customer purchase and support features from the CRM tables, at a point in time.

``customer_features(session, as_of)`` returns one row per customer who had bought anything
before ``as_of`` (index: the customer's ``public_id``, never the database id), computed only from
what had happened before ``as_of`` -- so the same function builds training features at a past
cutoff and scoring features today without leaking the future.

Conventions
-----------
* A purchase is a ``SalesOrder`` of kind ``order`` that was not cancelled; credit notes (imported
  cancellation invoices, negative totals) and refunds (requested, approved or completed; not
  rejected) reduce ``monetary`` and are counted separately.
* Money is in currency units (euros), from integer cents.
* ``recency_days``: days from the last purchase to ``as_of``; ``tenure_days``: days from the first
  purchase to ``as_of``; ``frequency``: number of purchases (orders, not distinct days).
* Support signals come from ``SupportConversation``: conversations, hand-offs to a person
  (``handoff_reason`` set), complaints (reason ``complaint``), low ratings (1 or 2 of 5).

``transactions(session, as_of)`` gives the purchases themselves (customer, time, amount) for the
lifetime-value model.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.errors import InvalidInputData, NotEnoughData
from crm_connector.models import (
    Customer,
    OrderKind,
    OrderStatus,
    Refund,
    RefundStatus,
    SalesOrder,
    SupportConversation,
)

log = logging.getLogger(__name__)

#: Columns of ``customer_features``, in order.
FEATURE_COLUMNS = (
    "recency_days", "frequency", "monetary", "tenure_days", "avg_order_value",
    "orders_last_90d", "orders_prev_90d", "credit_notes", "refunds", "refund_amount",
    "conversations", "handoffs", "complaints", "low_ratings", "mean_rating",
)
#: The three classic RFM columns.
RFM_COLUMNS = ("recency_days", "frequency", "monetary")
LOW_RATING = 2
_DAY = 86400.0


def _check_as_of(as_of: dt.datetime) -> None:
    if not isinstance(as_of, dt.datetime) or as_of.tzinfo is None:
        raise InvalidInputData("as_of must be a timezone-aware datetime (UTC)")


def transactions(session: Session, as_of: dt.datetime) -> pd.DataFrame:
    """Purchases placed before ``as_of``: columns ``customer`` (public id), ``placed_at``
    (UTC, tz-aware), ``amount`` (euros), oldest first. Credit notes and cancelled orders are left
    out; orders without a customer too."""
    _check_as_of(as_of)
    rows = session.execute(
        select(Customer.public_id, SalesOrder.placed_at, SalesOrder.total_cents)
        .join(Customer, SalesOrder.customer_id == Customer.id)
        .where(SalesOrder.kind == OrderKind.ORDER, SalesOrder.status != OrderStatus.CANCELLED,
               SalesOrder.placed_at < as_of)
        .order_by(SalesOrder.placed_at, SalesOrder.id)
    ).all()
    frame = pd.DataFrame(rows, columns=["customer", "placed_at", "total_cents"])
    frame["placed_at"] = pd.to_datetime(frame["placed_at"], utc=True)
    frame["amount"] = frame.pop("total_cents").astype(float) / 100.0
    return frame


def _credit_and_refunds(session: Session, as_of: dt.datetime) -> pd.DataFrame:
    credit = session.execute(
        select(Customer.public_id, SalesOrder.total_cents)
        .join(Customer, SalesOrder.customer_id == Customer.id)
        .where(SalesOrder.kind == OrderKind.CREDIT_NOTE, SalesOrder.placed_at < as_of)
    ).all()
    refunds = session.execute(
        select(Customer.public_id, Refund.amount_cents)
        .join(SalesOrder, Refund.order_id == SalesOrder.id)
        .join(Customer, SalesOrder.customer_id == Customer.id)
        .where(Refund.created_at < as_of, Refund.status != RefundStatus.REJECTED)
    ).all()
    credit_frame = pd.DataFrame(credit, columns=["customer", "cents"])
    refund_frame = pd.DataFrame(refunds, columns=["customer", "cents"])
    out = pd.DataFrame({
        "credit_notes": credit_frame.groupby("customer").size(),
        "credit_amount": credit_frame.groupby("customer")["cents"].sum().abs() / 100.0,
        "refunds": refund_frame.groupby("customer").size(),
        "refund_amount": refund_frame.groupby("customer")["cents"].sum() / 100.0,
    })
    return out


def _support(session: Session, as_of: dt.datetime) -> pd.DataFrame:
    rows = session.execute(
        select(Customer.public_id, SupportConversation.handoff_reason, SupportConversation.rating)
        .join(Customer, SupportConversation.customer_id == Customer.id)
        .where(SupportConversation.created_at < as_of)
    ).all()
    frame = pd.DataFrame(rows, columns=["customer", "reason", "rating"])
    frame["rating"] = pd.to_numeric(frame["rating"], errors="coerce")
    grouped = frame.groupby("customer")
    return pd.DataFrame({
        "conversations": grouped.size(),
        "handoffs": grouped["reason"].count(),
        "complaints": grouped["reason"].agg(lambda s: int((s == "complaint").sum())),
        "low_ratings": grouped["rating"].agg(lambda s: int((s <= LOW_RATING).sum())),
        "mean_rating": grouped["rating"].mean(),
    })


def features_from_transactions(purchases: pd.DataFrame, as_of: dt.datetime) -> pd.DataFrame:
    """The purchase part of the features from a ``transactions``-shaped frame."""
    if purchases.empty:
        return pd.DataFrame(columns=list(FEATURE_COLUMNS[:7]), dtype=float)
    as_of_ts = pd.Timestamp(as_of)
    age = (as_of_ts - purchases["placed_at"]).dt.total_seconds() / _DAY
    frame = purchases.assign(age=age)
    grouped = frame.groupby("customer")
    out = pd.DataFrame({
        "recency_days": grouped["age"].min(),
        "frequency": grouped.size().astype(float),
        "monetary": grouped["amount"].sum(),
        "tenure_days": grouped["age"].max(),
    })
    out["avg_order_value"] = out["monetary"] / out["frequency"]
    out["orders_last_90d"] = frame[frame["age"] <= 90].groupby("customer").size()
    out["orders_prev_90d"] = frame[(frame["age"] > 90) & (frame["age"] <= 180)].groupby(
        "customer").size()
    return out


def customer_features(session: Session, as_of: dt.datetime, *,
                      purchases: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per customer with a purchase before ``as_of`` (index ``customer``: public id),
    columns ``FEATURE_COLUMNS``; see the module docstring for the definitions. ``purchases``:
    ``transactions(session, as_of)`` when the caller has already read them."""
    _check_as_of(as_of)
    if purchases is None:
        purchases = transactions(session, as_of)
    out = features_from_transactions(purchases, as_of)
    if out.empty:
        return pd.DataFrame(columns=list(FEATURE_COLUMNS), dtype=float).rename_axis("customer")
    extra = _credit_and_refunds(session, as_of).join(_support(session, as_of), how="outer")
    out = out.join(extra, how="left")
    out["monetary"] = out["monetary"] - out["credit_amount"].fillna(0.0) - out[
        "refund_amount"].fillna(0.0)
    out = out.drop(columns=["credit_amount"])
    counts = [c for c in FEATURE_COLUMNS if c not in ("mean_rating",)]
    out[counts] = out[counts].fillna(0.0)
    out["mean_rating"] = out["mean_rating"].astype(float)
    out = out[list(FEATURE_COLUMNS)].astype(float).sort_index()
    out.index.name = "customer"
    log.info("customer features: %s customers as of %s", len(out), as_of.date())
    return out


def log_rfm(features: pd.DataFrame) -> np.ndarray:
    """``log1p`` of recency, frequency and (non-negative) monetary: the clustering input."""
    values = features[list(RFM_COLUMNS)].to_numpy(dtype=float)
    return np.log1p(np.clip(values, 0.0, None))


def data_end(session: Session) -> dt.datetime:
    """Midnight (UTC) after the newest order: the default "now" of a model, so that a data set
    that ended in the past (an import, a demo seeded for another day) is scored as of its end."""
    latest = session.execute(
        select(SalesOrder.placed_at).order_by(SalesOrder.placed_at.desc()).limit(1)
    ).scalar_one_or_none()
    if latest is None:
        raise NotEnoughData("the CRM has no orders yet: nothing to learn from")
    day = latest.astimezone(dt.UTC).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def snapshot(features: pd.DataFrame, as_of: dt.datetime) -> dict[str, object]:
    """What a model was trained on, for the artifact sidecar: size, as-of date, a content hash."""
    digest = pd.util.hash_pandas_object(features.fillna(-1.0), index=True).to_numpy()
    return {
        "customers": int(len(features)),
        "as_of": as_of.isoformat(),
        "sha256": hashlib.sha256(digest.tobytes()).hexdigest(),
    }


def customer_names(session: Session, public_ids: Sequence[str]) -> dict[str, str]:
    """Display name per public id (ids the CRM does not know are left out)."""
    customers = session.scalars(select(Customer).where(Customer.public_id.in_(list(public_ids))))
    return {c.public_id: c.display_name for c in customers}
