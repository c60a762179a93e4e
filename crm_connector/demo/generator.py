"""Build the whole demo data set in memory and write it: ``seed_demo_data``.

The content is a function of ``DemoConfig`` (seed, as-of date, sizes) only: every random draw
comes from streams seeded with the seed, every id is assigned explicitly, every timestamp is
derived from as-of, and iteration is over ordered lists, so two runs write the same rows,
byte for byte, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from crm_connector.demo.catalog import build_catalog
from crm_connector.demo.config import Behaviour, DemoConfig
from crm_connector.demo.errors import DatabaseNotEmpty
from crm_connector.demo.fulfilment import StoryTeller
from crm_connector.demo.materialise import Materialiser
from crm_connector.demo.orders import plan_orders
from crm_connector.demo.people import People, address_rows, build_people, customer_rows
from crm_connector.demo.plans import PlannedOrder, Story
from crm_connector.demo.scans import TrackingNumbers
from crm_connector.demo.showcase import SHOWCASE_ORDER_COUNT
from crm_connector.demo.showcase_orders import showcase_orders, showcase_sign_up
from crm_connector.demo.writer import (
    ProgressFactory,
    no_progress,
    reset_sequences,
    tables_with_rows,
    write_rows,
)

log = logging.getLogger(__name__)

#: Generated orders are numbered upwards from here, oldest first (showcase orders use 100001xx).
FIRST_ORDER_NUMBER = 10_010_000


@dataclass(frozen=True)
class SeedSummary:
    config: DemoConfig
    #: Rows written per table, in insert order.
    counts: dict[str, int] = field(default_factory=dict)


def _sign_up_times(
    config: DemoConfig, people: People, orders: list[PlannedOrder]
) -> dict[int, dt.datetime]:
    rng = random.Random(f"crmbot-demo:{config.seed}:signup")
    first: dict[int, dt.datetime] = {}
    for order in orders:
        if order.customer_id not in first or order.placed_at < first[order.customer_id]:
            first[order.customer_id] = order.placed_at
    fixed = showcase_sign_up(config)
    signed_up = {}
    for person in people.persons:
        if person.public_id in fixed:
            signed_up[person.id] = fixed[person.public_id]
            continue
        quick = person.behaviour in (Behaviour.ONE_OFF, Behaviour.NEW)
        gap = rng.randint(120, 3 * 86400) if quick else rng.randint(86400, 400 * 86400)
        signed_up[person.id] = first[person.id] - dt.timedelta(seconds=gap)
    return signed_up


def build_tables(
    config: DemoConfig, progress: ProgressFactory = no_progress
) -> dict[str, list[dict[str, Any]]]:
    """Every row of the demo data set, per table name, with explicit ids."""
    catalog = build_catalog(config)
    people = build_people(config)
    tracking = TrackingNumbers(random.Random(f"crmbot-demo:{config.seed}:tracking"))
    scripted = showcase_orders(config, people, catalog, tracking)
    generated = plan_orders(config, people, catalog, config.orders - SHOWCASE_ORDER_COUNT)

    everything: list[tuple[PlannedOrder, Story | None]] = [(o, s) for o, s in scripted]
    everything += [(o, None) for o in generated]
    everything.sort(key=lambda pair: (pair[0].placed_at, pair[0].customer_id, pair[0].number or ""))

    teller = StoryTeller(random.Random(f"crmbot-demo:{config.seed}:stories"), tracking)
    numbers = random.Random(f"crmbot-demo:{config.seed}:numbers")
    skus = {product.id: product.sku for product in catalog.products}
    materialiser = Materialiser(config.now, random.Random(f"crmbot-demo:{config.seed}:keys"), skus)
    next_number = FIRST_ORDER_NUMBER
    bar = progress("generating orders", len(everything))
    try:
        for order_id, (order, story) in enumerate(everything, start=1):
            if story is None:
                story = teller.tell(order)
                next_number += numbers.randint(1, 3)
                number = str(next_number)
            else:
                number = order.number or ""
            materialiser.add(order_id, number, order, story)
            bar.update(1)
    finally:
        bar.close()

    signed_up = _sign_up_times(config, people, [o for o, _ in everything])
    tables: dict[str, list[dict[str, Any]]] = {
        "category": catalog.category_rows,
        "product": catalog.product_rows,
        "customer": customer_rows(people, signed_up, config.now),
        "address": address_rows(people, signed_up),
        **materialiser.tables,
    }
    # The audit log reads oldest first.
    audit = sorted(tables["audit_log"], key=lambda row: (row["occurred_at"], row["id"]))
    tables["audit_log"] = [{**row, "id": index} for index, row in enumerate(audit, start=1)]
    return tables


def seed_demo_data(
    session: Session, config: DemoConfig, *, progress: ProgressFactory | None = None
) -> SeedSummary:
    """Fill an empty, migrated CRM database with the demo data set of ``config``.

    The caller owns the transaction. Raises ``DatabaseNotEmpty`` if any table the seed fills
    already has rows (clear them first with ``clear_crm_data``).
    """
    occupied = tables_with_rows(session)
    if occupied:
        raise DatabaseNotEmpty(
            f"The database already holds data ({', '.join(occupied)}); refusing to seed over it.",
            tables=tuple(occupied),
        )
    report = progress or no_progress
    tables = build_tables(config, report)
    write_rows(session, tables, report)
    reset_sequences(session)
    counts = {name: len(rows) for name, rows in tables.items()}
    log.info(
        "seeded demo data: seed=%s as_of=%s rows=%s",
        config.seed,
        config.as_of,
        sum(counts.values()),
    )
    return SeedSummary(config=config, counts=counts)
