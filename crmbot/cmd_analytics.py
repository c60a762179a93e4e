"""``crmbot analytics``: refresh the conversation analytics and customer models; write a report."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from analytics import AnalyticsError, AnalyticsSettings
from analytics.broker import ConsumeResult, consume
from analytics.refresh import (
    PIPELINE_STEP,
    TRAINING_STEPS,
    StepResult,
    Tick,
    refresh,
    refresh_every,
    validation_headline,
)
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
              help="Progress bar on stderr (not with --every).")
@click.option("--every", type=click.IntRange(min=10), default=None, metavar="SECONDS",
              help="Keep running: every SECONDS load new conversation events, and retrain a "
              "customer model when its newest artifact is older than ANALYTICS_RETRAIN_HOURS; "
              "a line per tick; stops on SIGINT/SIGTERM  [default: run once]")
def refresh_command(scheduler: str | None, only: tuple[str, ...], progress: bool,
                    every: int | None) -> None:
    """Load new conversation events (incremental) and retrain the customer models."""
    if scheduler is not None and not scheduler.startswith(("tcp://", "tls://", "inproc://")):
        raise click.BadParameter("give the scheduler as tcp://HOST:PORT", param_hint="--scheduler")
    ctx = CliContext.from_env()
    settings = AnalyticsSettings()
    if every is not None:
        _refresh_loop(ctx, settings, every, scheduler, list(only) or None)
        return
    try:
        upgrade_analytics(ctx.engine)
        result = refresh(ctx.crm, settings, scheduler=scheduler, only=list(only) or None,
                         progress=_bar if progress else None)
    except AnalyticsError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"analytics refresh ({result.where}):")
    for step in result.steps:
        detail = ", ".join([f"{k} {v}" for k, v in step.detail.items()
                            if isinstance(v, int | float | str)]
                           + [h for h in [validation_headline(step)] if h])
        click.echo(f"  {step.name:<16} {step.status:<8} {step.seconds:>7.1f} s  "
                   f"{detail or step.message}")
    if any(step.status == "failed" for step in result.steps):
        raise click.ClickException("some steps failed (see above)")


def _set_from_signal_handler(stop: threading.Event) -> None:
    """Set ``stop`` from a signal handler. Python runs the handler in the main thread between
    two bytecodes, possibly while that thread holds the event's own lock inside
    ``stop.wait()``; ``stop.set()`` there would wait for that lock forever (a refresh loop
    that never stopped on SIGINT). A short thread sets it once the main thread lets go."""
    threading.Thread(target=stop.set, name="stop-on-signal", daemon=True).start()


def _refresh_loop(ctx: CliContext, settings: AnalyticsSettings, every: int,
                  scheduler: str | None, only: list[str] | None) -> None:
    """``refresh --every``: a line per tick on stdout, until SIGINT or SIGTERM (exit code 0).
    A tick that fails is reported and the next one tries again; a second signal during a
    tick stops at once (the step's transaction is rolled back)."""
    if not click.get_current_context().find_root().params.get("verbose"):
        logging.getLogger("analytics").setLevel(logging.WARNING)  # the tick line says it once
    stop = threading.Event()
    previous: dict[int, Any] = {}

    def on_signal(*_: object) -> None:
        _set_from_signal_handler(stop)
        for sig, handler in previous.items():  # a second signal acts at once
            signal.signal(sig, handler)

    def prepare() -> None:
        try:
            upgrade_analytics(ctx.engine)
        finally:
            ctx.engine.dispose()  # each step opens its own connection

    previous.update({sig: signal.signal(sig, on_signal)
                     for sig in (signal.SIGINT, signal.SIGTERM)})
    try:
        ticks = refresh_every(ctx.crm, settings, every=every, stop=stop, only=only,
                              scheduler=scheduler, prepare=prepare,
                              on_tick=lambda tick: click.echo(_tick_line(tick)))
    except AnalyticsError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(f"analytics refresh stopped after {ticks:,} tick{'' if ticks == 1 else 's'}")


def _tick_line(tick: Tick) -> str:
    parts = [f"{s.name} {s.status} {s.seconds:.1f} s ({_step_summary(s)})" for s in tick.steps]
    if tick.not_due:
        parts.append("not due: " + ", ".join(tick.not_due))
    if tick.error is not None:
        parts.append(f"failed: {tick.error}")
    return (f"{tick.started_at:%Y-%m-%d %H:%M:%S} UTC refresh tick {tick.number} "
            f"({tick.seconds:.1f} s): " + "; ".join(parts or ["nothing to run"]))


def _step_summary(step: StepResult) -> str:
    if step.status != "done":
        return step.message
    if step.name == PIPELINE_STEP:
        counts = [f"{k} {v:,}" for k, v in step.detail.items() if isinstance(v, int) and v]
        return ", ".join(counts) or "nothing new"
    artifact = step.detail.get("artifact")
    name = Path(artifact).name if isinstance(artifact, str) else "trained"
    headline = validation_headline(step)
    return f"{name} ({headline})" if headline else name


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


@analytics.command("consume")
@click.option("--until-empty", is_flag=True,
              help="Stop when the queue is empty (for cron and tests)  [default: run until "
              "SIGINT/SIGTERM]")
@click.option("--max-messages", type=click.IntRange(min=1), default=None, metavar="N",
              help="Stop after N messages.")
def consume_command(until_empty: bool, max_messages: int | None) -> None:
    """Store the conversation events the Rasa server publishes to RabbitMQ.

    Reads ANALYTICS_BROKER_QUEUE at ANALYTICS_BROKER_URL (declaring Rasa's fanout exchange
    ANALYTICS_BROKER_EXCHANGE, `rasa-exchange` by default, and the durable queue, bound, if
    they are not there yet) into the table that `crmbot analytics refresh` reads with
    ANALYTICS_EVENTS_FROM=broker. A message is acknowledged only once stored; a redelivered
    one is stored once; one that is not a Rasa event is counted as rejected and logged without
    its content. Without --until-empty or --max-messages it runs until SIGINT or SIGTERM,
    reconnecting when RabbitMQ goes away, with a line per stored batch on stderr.
    """
    ctx = CliContext.from_env()
    settings = AnalyticsSettings()
    if not click.get_current_context().find_root().params.get("verbose"):
        logging.getLogger("pika").setLevel(logging.CRITICAL)  # our own messages say it once
    stop = threading.Event()
    bounded = until_empty or max_messages is not None
    # A counter on a terminal for a bounded run; a service writes a line per batch to its log.
    bar = tqdm(desc="analytics consume", unit=" msg", total=max_messages, file=sys.stderr,
               dynamic_ncols=True, disable=None) if bounded else None

    def progress(result: ConsumeResult) -> None:
        if bar is not None:
            bar.update(result.received - bar.n)
        else:
            click.echo(_consume_line(result), err=True)

    previous = {sig: signal.signal(sig, lambda *_: _set_from_signal_handler(stop))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        upgrade_analytics(ctx.engine)
        result = consume(ctx.sessions, settings, until_empty=until_empty,
                         max_messages=max_messages, stop=stop, on_batch=progress)
    except AnalyticsError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if bar is not None:
            bar.close()
    click.echo(_consume_line(result) + (" (stopped)" if stop.is_set() else ""))
    if result.rejected:
        click.echo(f"warning: {result.rejected:,} messages were not Rasa events and were dropped "
                   "(see the log)", err=True)


def _consume_line(result: ConsumeResult) -> str:
    return (f"queue read: {result.received:,} messages, {result.stored:,} events stored, "
            f"{result.duplicates:,} duplicates, {result.rejected:,} rejected, "
            f"{result.reconnects:,} reconnects")
