"""``crmbot db``: schema migrations and demo data."""

from __future__ import annotations

import click

from crm_connector import upgrade_schema
from crmbot.context import CliContext


@click.group()
def db() -> None:
    """Create, migrate and fill the CRM database."""


@db.command()
def upgrade() -> None:
    """Apply every pending schema migration (creates the SQLite file if needed)."""
    ctx = CliContext.from_env()
    upgrade_schema(ctx.engine)
    click.echo(f"database at {ctx.engine.url.render_as_string(hide_password=True)} is up to date")
