"""``crmbot bench``: run the production code paths on public benchmark data."""

from __future__ import annotations

import click


@click.group()
def bench() -> None:
    """Measure quality on public data; results go to benchmarks/README.md."""
