"""``crmbot import``: bring data from other systems into the CRM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from crm_connector import import_online_retail
from crmbot.context import CliContext

#: Exit code of a command stopped with Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


@click.group(name="import")
def import_group() -> None:
    """Import data files into the CRM database."""


@import_group.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--rejects-out", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write every skipped row (line, reason, detail, row) to this CSV file.")
@click.option("--chunk-invoices", type=click.IntRange(min=1), default=500, show_default=True,
              help="Whole invoices committed per transaction.")
@click.option("--show-rejects", type=click.IntRange(min=0), default=10, show_default=True,
              help="How many skipped rows to list in the summary.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bars on stderr.")
def transactions(file: Path, rejects_out: Path | None, chunk_invoices: int, show_rejects: int,
                 progress: bool) -> None:
    """Import UCI Online Retail transactions from FILE (.csv or .csv.gz).

    Malformed rows are skipped and reported. Interrupted imports resume when the same command
    is run again; re-running a completed import does nothing.
    """
    ctx = CliContext.from_env()
    try:
        summary = import_online_retail(ctx.engine, file, chunk_invoices=chunk_invoices,
                                       rejects_out=rejects_out, progress=progress)
    except KeyboardInterrupt:
        click.echo("\ninterrupted: committed invoices are kept; run the same command again "
                   "to resume", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    for line in summary_lines(summary, show_rejects=show_rejects, rejects_out=rejects_out):
        click.echo(line)


def summary_lines(summary: Any, *, show_rejects: int, rejects_out: Path | None) -> list[str]:
    """The end-of-import report (``summary`` is a ``crm_connector`` ``ImportSummary``)."""
    s = summary
    if s.already_completed:
        lines = [
            f"{s.file_name} was already imported completely (import batch {s.batch_id}): "
            "nothing to do.",
            f"  rows read {s.rows_read:,}, loaded {s.rows_loaded:,}, rejected {s.rows_rejected:,}; "
            f"invoices {s.invoices_loaded:,}",
        ]
        if rejects_out is not None:
            lines.append(f"  no rejects file written to {rejects_out}: nothing was read")
        return lines
    resumed = " (resumed an interrupted import)" if s.resumed else ""
    lines = [
        f"imported {s.file_name} as import batch {s.batch_id}{resumed} in {s.seconds:.1f} s",
        f"  rows read          {s.rows_read:>10,}" + (
            f"  (and {s.blank_lines:,} blank lines skipped)" if s.blank_lines else ""),
        f"  rows loaded        {s.rows_loaded:>10,}",
        f"  rows rejected      {s.rows_rejected:>10,}",
    ]
    lines += [f"    {reason:<34} {count:>8,}" for reason, count in s.rejected_by_reason.items()]
    lines += [
        f"  invoices           {s.orders_created:>10,}",
        f"  credit notes       {s.credit_notes_created:>10,}",
    ]
    if s.invoices_already_present:
        lines.append(f"  already present    {s.invoices_already_present:>10,}  "
                     "(invoices loaded before, skipped)")
    lines += [
        f"  customers created  {s.customers_created:>10,}",
        f"  products created   {s.products_created:>10,}",
        f"  time taken         {s.seconds:>10.1f} s",
    ]
    if s.rejects and show_rejects:
        shown = s.rejects[:show_rejects]
        more = "" if rejects_out is not None else " (all of them with --rejects-out FILE)"
        lines.append(f"first {len(shown)} of {len(s.rejects):,} rejected rows{more}:")
        lines += [f"  line {r.line}: {r.reason}: {r.detail}" for r in shown]
    if rejects_out is not None:
        lines.append(f"all {len(s.rejects):,} rejected rows written to {rejects_out}")
    return lines
