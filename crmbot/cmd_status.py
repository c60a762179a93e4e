"""``crmbot status``: what runs where, and what the database holds."""

from __future__ import annotations

import click
from sqlalchemy import func, select

from crm_connector.migrate import current_revision, head_revision
from crm_connector.models import Customer, Product, Refund, SalesOrder, Shipment
from crmbot.context import CliContext


@click.command()
def status() -> None:
    """Show the configured database, its migration state and what it holds."""
    ctx = CliContext.from_env()
    url = ctx.engine.url.render_as_string(hide_password=True)
    current, head = current_revision(ctx.engine), head_revision(ctx.engine)
    click.echo(f"database     {url}")
    click.echo(f"schema       revision {current or 'none'} (newest {head})"
               + ("" if current == head else "  -> run `crmbot db upgrade`"))
    if current is None:
        return
    with ctx.sessions() as session:
        for label, model in (("customers", Customer), ("products", Product), ("orders", SalesOrder),
                             ("shipments", Shipment), ("refunds", Refund)):
            count = session.scalar(select(func.count()).select_from(model))
            click.echo(f"{label:<12} {count:,}")
