"""Bulk writes of the demo rows, the emptiness check, clearing CRM rows and PostgreSQL sequences."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import delete, func, insert, literal, select, text, update
from sqlalchemy.orm import Session

from crm_connector.models import (
    Address,
    AgentUser,
    AuditLog,
    Base,
    Cancellation,
    Category,
    Customer,
    OrderLine,
    Payment,
    Product,
    Refund,
    RefundItem,
    SalesOrder,
    Shipment,
    ShipmentEvent,
)

log = logging.getLogger(__name__)

CHUNK_ROWS = 5000

#: Insert order (parents first) and the write phases shown as progress bars.
PHASES: tuple[tuple[str, tuple[type[Base], ...]], ...] = (
    ("catalog", (Category, Product)),
    ("customers", (Customer, Address)),
    ("orders", (SalesOrder, OrderLine, Payment)),
    ("shipments", (Shipment, ShipmentEvent)),
    ("refunds", (Cancellation, Refund, RefundItem, AuditLog)),
)
SEEDED_MODELS: tuple[type[Base], ...] = tuple(m for _, models in PHASES for m in models)
#: Tables ``clear_crm_data`` leaves alone: staff accounts are not CRM data.
KEPT_TABLES = frozenset({AgentUser.__tablename__})


class ProgressBar(Protocol):
    def update(self, n: int = 1) -> object: ...

    def close(self) -> None: ...


#: Called with a phase name and its number of steps; ``tqdm`` fits.
ProgressFactory = Callable[[str, int], ProgressBar]


class _NoProgress:
    def update(self, n: int = 1) -> object:
        return None

    def close(self) -> None:
        return None


def no_progress(_phase: str, _total: int) -> ProgressBar:
    return _NoProgress()


def tables_with_rows(session: Session) -> list[str]:
    """Names of the tables the seed fills that already hold rows."""
    return [
        model.__tablename__
        for model in SEEDED_MODELS
        if session.scalar(select(literal(1)).select_from(model).limit(1)) is not None
    ]


def count_customers(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Customer)) or 0


def clear_crm_data(session: Session) -> int:
    """Delete every CRM row (customers, orders, refunds, tickets, audit log, imports).

    Children go first; agent accounts stay. Returns the number of deleted rows.
    """
    deleted = 0
    for table in reversed(Base.metadata.sorted_tables):
        if table.name in KEPT_TABLES:
            continue
        before = session.scalar(select(func.count()).select_from(table)) or 0
        if before:
            if table.name == Category.__tablename__:
                session.execute(update(Category).values(parent_id=None))
            session.execute(delete(table))
            deleted += before
    log.info("cleared CRM tables: %s rows", deleted)
    return deleted


def write_rows(
    session: Session, tables: dict[str, Sequence[dict[str, Any]]], progress: ProgressFactory
) -> None:
    """Insert ``tables`` (table name -> rows with explicit ids) phase by phase, in chunks."""
    for phase, models in PHASES:
        total = sum(len(tables[m.__tablename__]) for m in models)
        bar = progress(f"writing {phase}", total)
        try:
            for model in models:
                rows = tables[model.__tablename__]
                for start in range(0, len(rows), CHUNK_ROWS):
                    chunk = rows[start : start + CHUNK_ROWS]
                    session.execute(insert(model), list(chunk))
                    bar.update(len(chunk))
        finally:
            bar.close()


def reset_sequences(session: Session) -> None:
    """After explicit ids on PostgreSQL, move each id sequence past the highest id."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for model in SEEDED_MODELS:
        name = model.__tablename__
        session.execute(
            text(
                "SELECT setval(pg_get_serial_sequence(:table, 'id'), "
                f'COALESCE((SELECT MAX(id) FROM "{name}"), 0) + 1, false)'
            ),
            {"table": f'"{name}"'},
        )
