"""``crmbot bench recs``: the production recommender on an Online Retail history file.

Fits ``analytics.recommend.PurchaseRecommender`` on the whole history and writes the top 10
products of every customer in it (``CustomerID,rank,StockCode``). ``--backtest`` cuts the
history at the given dates, fits on what came before, and prints hit rate@10 on the next five
weeks for popularity, each customer's own most-bought products and the model, side by side.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click


K = 10
WINDOW_DAYS = 35


def _cutoffs(ctx: click.Context, param: click.Parameter, text: str | None) -> list[str]:
    """The ``--backtest`` dates, checked before the history is read."""
    cutoffs = [c.strip() for c in (text or "").split(",") if c.strip()]
    for cutoff in cutoffs:
        try:
            dt.date.fromisoformat(cutoff)
        except ValueError:
            raise click.BadParameter(f"{cutoff!r} is not a date (use YYYY-MM-DD)") from None
    return cutoffs


@click.command("recs")
@click.option("--history", "history_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Online Retail transactions (.csv or .csv.gz).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Predictions CSV: CustomerID,rank,StockCode (10 rows per customer).")
@click.option("--backtest", "backtest_cutoffs", default=None, callback=_cutoffs,
              help="Also backtest: cut the history at these dates (comma-separated) and score "
                   "the next five weeks, e.g. 2011-08-22,2011-09-26.")
def recs(history_path: Path, out_path: Path, backtest_cutoffs: list[str]) -> None:
    """Top 10 products for every customer in HISTORY -> PRED; optionally backtest."""
    import pandas as pd
    from tqdm.auto import tqdm

    from crmbot.cmd_bench import echo_metrics, write_csv

    from analytics import AnalyticsError
    from analytics.recommend import PurchaseRecommender, backtest
    from analytics.transactions import read_transactions

    try:
        frame = read_transactions(history_path)
        model = PurchaseRecommender().fit(frame)
        rows = []
        picks = dict(tqdm(model.top_k_all(K), total=len(model.customers_), desc="customers"))
        # customers with only cancellations have no purchases to learn from: best sellers
        popular = [r.code for r in model.best_sellers(K)]
        everyone = sorted(set(frame["CustomerID"].dropna().astype(str)))
        for customer in everyone:
            rows.extend({"CustomerID": customer, "rank": rank, "StockCode": code}
                        for rank, code in enumerate(picks.get(customer, popular), start=1))
        scores = [(cutoff, backtest(frame, cutoff, days=WINDOW_DAYS, k=K))
                  for cutoff in backtest_cutoffs]
    except AnalyticsError as exc:
        raise click.ClickException(str(exc)) from exc
    write_csv(out_path, ["CustomerID", "rank", "StockCode"], rows)
    echo_metrics(f"Recommendations: top {K} for {len(everyone)} customers -> {out_path}",
                 {"customers": len(everyone), "customers_with_purchases": len(model.customers_),
                  "products": len(model.items_), "rows": len(rows)})
    for cutoff, score in scores:
        echo_metrics(f"backtest: history before {cutoff}, hit rate@{K} on the next "
                     f"{WINDOW_DAYS} days", score)
