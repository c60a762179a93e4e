"""``crmbot db``: schema migrations and demo data."""

from __future__ import annotations

import datetime as dt
import sys
import time

import click
from sqlalchemy.orm import Session
from tqdm import tqdm

from analytics.schema import upgrade_analytics
from crm_connector import upgrade_schema
from crm_connector.demo import (
    DEFAULT_CUSTOMERS,
    DEFAULT_MONTHS,
    DEFAULT_ORDERS,
    DEFAULT_PRODUCTS,
    DEFAULT_SEED,
    MAX_MONTHS,
    MIN_CUSTOMERS,
    MIN_MONTHS,
    MIN_PRODUCTS,
    DemoConfig,
    clear_crm_data,
    count_customers,
    seed_demo_data,
    showcase_lines,
    tables_with_rows,
)
from crmbot.context import CliContext


@click.group()
def db() -> None:
    """Create, migrate and fill the CRM database."""


@db.command()
def upgrade() -> None:
    """Apply every pending schema migration (creates the SQLite file if needed)."""
    ctx = CliContext.from_env()
    upgrade_schema(ctx.engine)
    upgrade_analytics(ctx.engine)  # the analytics tables: own revision chain, same database
    click.echo(f"database at {ctx.engine.url.render_as_string(hide_password=True)} is up to date")


def _tqdm_progress(phase: str, total: int) -> tqdm:  # type: ignore[type-arg]
    return tqdm(
        total=total, desc=phase, unit=" rows", file=sys.stderr, leave=True, dynamic_ncols=True
    )


@db.command()
@click.option(
    "--seed",
    "seed_value",
    type=click.IntRange(min=0),
    default=DEFAULT_SEED,
    show_default=True,
    help="Random seed.",
)
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Date the data ends (YYYY-MM-DD, 00:00 UTC)  [default: today, UTC]",
)
@click.option(
    "--customers",
    type=click.IntRange(min=MIN_CUSTOMERS),
    default=DEFAULT_CUSTOMERS,
    show_default=True,
    help="Customers, showcase customers included.",
)
@click.option(
    "--products",
    type=click.IntRange(min=MIN_PRODUCTS),
    default=DEFAULT_PRODUCTS,
    show_default=True,
    help="Products (in 12 categories).",
)
@click.option(
    "--orders",
    type=click.IntRange(min=1),
    default=DEFAULT_ORDERS,
    show_default=True,
    help="Orders, showcase orders included.",
)
@click.option(
    "--months",
    type=click.IntRange(MIN_MONTHS, MAX_MONTHS),
    default=DEFAULT_MONTHS,
    show_default=True,
    help="Months of order history before as-of.",
)
@click.option("--if-empty", is_flag=True, help="Do nothing if the database already holds CRM data.")
@click.option(
    "--force",
    is_flag=True,
    help="Delete every CRM row first (customers, orders, refunds, tickets, audit log, "
    "imports; agent accounts are kept).",
)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Progress bars on stderr."
)
def seed(
    seed_value: int,
    as_of: dt.datetime | None,
    customers: int,
    products: int,
    orders: int,
    months: int,
    if_empty: bool,
    force: bool,
    progress: bool,
) -> None:
    """Fill the database with deterministic demo data (migrating it first if needed).

    The content is a function of (--seed, --as-of, --customers, --products, --orders, --months)
    only: the same values give the same rows, byte for byte, on SQLite and PostgreSQL. Every
    timestamp is relative to --as-of, so pass it explicitly to reproduce a data set on another day.
    """
    if if_empty and force:
        raise click.UsageError("--if-empty and --force exclude each other.")
    config = DemoConfig(
        as_of=as_of.date() if as_of else dt.datetime.now(dt.UTC).date(),
        seed=seed_value,
        customers=customers,
        products=products,
        orders=orders,
        months=months,
    )
    ctx = CliContext.from_env()
    where = ctx.engine.url.render_as_string(hide_password=True)
    upgrade_schema(ctx.engine)
    started = time.perf_counter()
    with ctx.sessions() as session, session.begin():
        if ctx.engine.dialect.name == "sqlite":
            session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        if not _ready_to_seed(session, where, if_empty=if_empty, force=force):
            return
        summary = seed_demo_data(session, config, progress=_tqdm_progress if progress else None)
    seconds = time.perf_counter() - started

    click.echo(
        f"seeded {where} in {seconds:.1f} s: seed {config.seed}, as of {config.as_of} "
        f"(orders from {config.start_date})"
    )
    for table, count in summary.counts.items():
        click.echo(f"  {table:<16} {count:>9,}")
    click.echo(f"  {'total':<16} {sum(summary.counts.values()):>9,}")
    for line in showcase_lines():
        click.echo(line)


def _ready_to_seed(session: Session, where: str, *, if_empty: bool, force: bool) -> bool:
    """False for --if-empty on a database with data; refuses without --force; clears with it."""
    occupied = tables_with_rows(session)
    if not occupied:
        return True
    held = f"{count_customers(session):,} customers, {len(occupied)} tables with rows"
    if if_empty:
        click.echo(f"database at {where} already holds CRM data ({held}): nothing to do")
        return False
    if not force:
        raise click.ClickException(
            f"database at {where} is not empty ({held}); refusing to seed over it. "
            "Run with --force to delete every CRM row first, or --if-empty to keep the data."
        )
    click.echo(f"--force: deleted {clear_crm_data(session):,} CRM rows", err=True)
    return True
