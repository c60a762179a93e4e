"""``crmbot analytics``: refresh the conversation analytics and customer models; write a report."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
from tqdm import tqdm

from analytics import AnalyticsError, AnalyticsSettings
from analytics.refresh import PIPELINE_STEP, TRAINING_STEPS, refresh
from analytics.schema import upgrade_analytics
from crm_connector import read_transaction
from crmbot.context import CliContext


@click.group()
def analytics() -> None:
    """Conversation KPIs, unanswered questions, sales and customer models."""


def _bar(total: int) -> tqdm:  # type: ignore[type-arg]
    return tqdm(total=total, desc="analytics refresh", unit=" step", file=sys.stderr,
                dynamic_ncols=True)


@analytics.command("refresh")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run the steps on this Dask scheduler  [default: ANALYTICS_SCHEDULER, "
              "else in this process]")
@click.option("--only", "only", multiple=True,
              type=click.Choice([PIPELINE_STEP, *TRAINING_STEPS]),
              help="Run only these steps (repeatable).")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bar on stderr.")
def refresh_command(scheduler: str | None, only: tuple[str, ...], progress: bool) -> None:
    """Load new conversation events (incremental) and retrain the customer models."""
    if scheduler is not None and not scheduler.startswith(("tcp://", "tls://", "inproc://")):
        raise click.BadParameter("give the scheduler as tcp://HOST:PORT", param_hint="--scheduler")
    ctx = CliContext.from_env()
    settings = AnalyticsSettings()
    try:
        upgrade_analytics(ctx.engine)
        result = refresh(ctx.crm, settings, scheduler=scheduler, only=list(only) or None,
                         progress=_bar if progress else None)
    except AnalyticsError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"analytics refresh ({result.where}):")
    for step in result.steps:
        detail = ", ".join(f"{k} {v}" for k, v in step.detail.items()
                           if isinstance(v, int | float | str))
        click.echo(f"  {step.name:<16} {step.status:<8} {step.seconds:>7.1f} s  "
                   f"{detail or step.message}")
    if any(step.status == "failed" for step in result.steps):
        raise click.ClickException("some steps failed (see above)")


@analytics.command("report")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("report.html"), show_default=True, help="The HTML file to write.")
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Only the last N days  [default: everything]")
@click.option("--gaps/--no-gaps", default=True, show_default=True,
              help="Mine unanswered questions (loads the sentence-embedding model).")
def report_command(out: Path, days: int | None, gaps: bool) -> None:
    """Write one self-contained HTML report with charts (no internet needed to view it)."""
    from analytics.gaps import load_embedder
    from analytics.report import collect_report, render_report, write_report

    ctx = CliContext.from_env()
    settings = AnalyticsSettings()
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days) if days else None
    try:
        upgrade_analytics(ctx.engine)
        embedder = load_embedder() if gaps else None
        with read_transaction(ctx.sessions) as session:
            data = collect_report(session, settings, since=since, embedder=embedder)
        path = write_report(out, render_report(data))
    except AnalyticsError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"report written to {path} ({data.kpis.conversations:,} conversations, "
               f"{data.sales.orders:,} orders)")
