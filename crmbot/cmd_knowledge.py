"""``crmbot knowledge``: the FAQ corpus and its semantic index."""

from __future__ import annotations

import click


@click.group()
def knowledge() -> None:
    """Build and query the FAQ index."""
