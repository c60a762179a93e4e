"""``crmbot bench demand``: the production demand model on an Online Retail history file.

Reads the history, aggregates weekly units per product before ``--cutoff``, trains the global
demand model (``analytics.demand``: the mean of a gradient-boosting model on units and one on
the ratio to each product's level) and writes ``stock_code,week_start,forecast_units`` for
every product in ``--items`` and every week. ``--backtest`` repeats the whole thing on earlier
cutoffs of the same file and prints the WAPE of the model next to the last-week and
mean-of-last-4 baselines, and the model's gain over mean-of-4 averaged over the cutoffs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from analytics.demand import BacktestResult


def read_items(path: Path) -> list[str]:
    """One stock code per line; blank lines and ``#`` comments skipped, duplicates once."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path}: cannot read the item list: {exc}") from exc
    items: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        code = line.strip().strip('"').upper()
        if not code or code.startswith("#") or (number == 1 and code == "STOCKCODE"):
            continue
        if len(code) > 32 or "," in code:
            raise click.ClickException(f"{path}: line {number}: not a stock code: {line[:40]!r}")
        if code not in seen:
            seen.add(code)
            items.append(code)
    if not items:
        raise click.ClickException(f"{path}: no stock codes (one per line)")
    return items


def gain_over_mean4(result: BacktestResult) -> float:
    """How much lower the model's WAPE is than the mean-of-last-4 baseline's (1 - ratio)."""
    return 1 - result.wape["model"] / result.wape["mean_last_4"]


def mean_gains(results: list[BacktestResult]) -> dict[str, float]:
    """Per item set, ``gain_over_mean4`` averaged over the backtest cutoffs: the number the
    bench's target is stated in."""
    gains: dict[str, list[float]] = {}
    for r in results:
        gains.setdefault(r.item_set, []).append(gain_over_mean4(r))
    return {item_set: sum(values) / len(values) for item_set, values in gains.items()}


def _cutoffs(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


@click.command("demand")
@click.option("--history", "history_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Online Retail transactions (.csv or .csv.gz).")
@click.option("--cutoff", required=True, help="First day of the forecast (YYYY-MM-DD); "
              "only history before it is used.")
@click.option("--weeks", default=4, show_default=True, type=click.IntRange(1, 52),
              help="Weeks to forecast (week k = the 7 days from cutoff + 7k days).")
@click.option("--items", "items_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Stock codes to forecast, one per line.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Predictions CSV: stock_code,week_start,forecast_units.")
@click.option("--backtest", "backtest_cutoffs", default=None,
              help="Also backtest on these earlier cutoffs (comma-separated dates), "
                   "e.g. 2011-08-01,2011-09-05,2011-10-03.")
@click.option("--random-state", default=42, show_default=True)
def demand(history_path: Path, cutoff: str, weeks: int, items_path: Path, out_path: Path,
           backtest_cutoffs: str | None, random_state: int) -> None:
    """Forecast weekly units for ITEMS from HISTORY, write PRED, optionally backtest."""
    from tqdm.auto import tqdm

    from analytics import AnalyticsError
    from analytics.demand import backtest, fit_demand_model, forecast, weekly_history
    from analytics.transactions import read_transactions
    from crmbot.cmd_bench import echo_metrics, write_csv

    items = read_items(items_path)
    try:
        frame = read_transactions(history_path)
        history = weekly_history(frame, cutoff)
        click.echo(f"history: {len(frame)} lines, {len(history.items)} products, "
                   f"{history.n_weeks} weeks before {history.cutoff.date()}", err=True)
        model = fit_demand_model(history, random_state=random_state)
        result = forecast(model, history, items, weeks)
        table = result.to_frame()
        results = (backtest(frame, _cutoffs(backtest_cutoffs), weeks=min(weeks, 4),
                            random_state=random_state,
                            progress=lambda xs: tqdm(xs, desc="backtest"))
                   if backtest_cutoffs else [])
    except AnalyticsError as exc:
        raise click.ClickException(str(exc)) from exc
    write_csv(out_path, ["stock_code", "week_start", "forecast_units"],
              ({"stock_code": r.stock_code, "week_start": r.week_start,
                "forecast_units": f"{r.forecast_units:.3f}"} for r in table.itertuples()))
    unknown = sum(1 for code in items if code not in history.index())
    echo_metrics(f"Demand forecast: {len(items)} items x {weeks} weeks -> {out_path}", {
        "items": len(items), "items_without_history": unknown,
        "forecast_units_total": round(float(table["forecast_units"].sum()), 1),
        "mean_last_4_total": round(float(table["mean_last_4"].sum()), 1),
    })
    if results:
        click.echo("backtest (WAPE, lower is better):")
        click.echo(f"  {'cutoff':<11} {'items':<10} {'model':>7} {'last_wk':>8} {'mean4':>7} "
                   f"{'vs mean4':>9}")
        for r in results:
            gain = gain_over_mean4(r)
            click.echo(f"  {r.cutoff.date()!s:<11} {r.item_set:<10} {r.wape['model']:7.3f} "
                       f"{r.wape['last_week']:8.3f} {r.wape['mean_last_4']:7.3f} {gain:9.1%}")
        for item_set, gain in mean_gains(results).items():
            click.echo(f"  {'mean':<11} {item_set:<10} {'':>7} {'':>8} {'':>7} {gain:9.1%}")
