"""``crmbot import``: bring data from other systems into the CRM."""

from __future__ import annotations

import click


@click.group(name="import")
def import_group() -> None:
    """Import data files into the CRM database."""
