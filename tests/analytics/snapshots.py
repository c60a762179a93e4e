"""Test helpers: every row of every analytics table (to prove a run changed nothing); emptying them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, delete, inspect, select
from sqlalchemy.orm import Session

from analytics.pipeline import TRACKER_EVENTS
from analytics.schema import ANALYTICS_TABLES, Watermark


def analytics_snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row, except the time of the last run that each watermark keeps (a run sets it)."""
    snapshot = {}
    for table in ANALYTICS_TABLES:
        columns = [c for c in table.columns
                   if not (table.name == Watermark.__tablename__ and c.key == "updated_at")]
        rows = session.execute(select(*columns).order_by(*table.primary_key.columns)).all()
        snapshot[table.name] = [tuple(row) for row in rows]
    return snapshot


def clear_analytics(engine: Engine) -> None:
    """Empty the analytics tables and Rasa's ``events`` table (the CRM fixtures empty theirs)."""
    with engine.begin() as conn:
        for table in reversed(ANALYTICS_TABLES):
            conn.execute(delete(table))
        if inspect(conn).has_table("events"):
            conn.execute(delete(TRACKER_EVENTS))
