"""``crmbot bench clv``: BG/NBD + Gamma-Gamma on CDNOW (Fader, Hardie & Lee 2005)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click
import pandas as pd

#: Fader, Hardie & Lee (2005), CDNOW 1/10 sample, calibration 1997-01-01 .. 1997-09-30.
PAPER_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
#: Fader & Hardie (2013), "The Gamma-Gamma model of monetary value", same 946 repeat buyers.
PAPER_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}


def read_cdnow(path: Path) -> pd.DataFrame:
    """CDNOW transactions as ``customer, placed_at, amount`` (sample: ``master_id sample_id date
    n_cds amount``; master: ``customer_id date n_cds amount``)."""
    try:
        raw = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, engine="python")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise click.ClickException(f"{path}: cannot read the transactions: {exc}") from exc
    if raw.shape[1] == 5:
        raw.columns = ["master_id", "customer", "date", "n_cds", "amount"]
    elif raw.shape[1] == 4:
        raw.columns = ["customer", "date", "n_cds", "amount"]
    else:
        raise click.ClickException(
            f"{path}: expected 4 or 5 whitespace-separated columns "
            f"(master_id sample_id date n_cds amount), found {raw.shape[1]}")
    placed = pd.to_datetime(raw["date"], format="%Y%m%d", errors="coerce")
    amount = pd.to_numeric(raw["amount"], errors="coerce")
    bad = raw.index[placed.isna() | amount.isna() | (amount < 0)]
    if len(bad):
        raise click.ClickException(
            f"{path}: line {int(bad[0]) + 1}: expected a date YYYYMMDD and a non-negative amount "
            f"({len(bad)} bad lines)")
    return pd.DataFrame({"customer": raw["customer"], "placed_at": placed, "amount": amount})


@click.command("clv")
@click.option("--transactions", "transactions_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CDNOW_sample.txt (master_id sample_id date n_cds amount) or CDNOW_master.txt.")
@click.option("--calibration-end", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Last day of the calibration period (inclusive), e.g. 1997-09-30.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="params.json: BG/NBD r, alpha, a, b and Gamma-Gamma p, q, v.")
@click.option("--values", "values_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write per-customer expected purchases and CLV (CSV).")
@click.option("--horizon-weeks", default=52.0, show_default=True,
              help="Horizon of the per-customer predictions.")
def clv(transactions_path: Path, calibration_end: dt.datetime, out_path: Path,
        values_path: Path | None, horizon_weeks: float) -> None:
    """Fit BG/NBD and Gamma-Gamma by maximum likelihood on the calibration period; write PARAMS."""
    from analytics import AnalyticsError
    from analytics.clv import (
        WEEK_DAYS,
        fit_bgnbd,
        fit_gamma_gamma,
        holdout_check,
        predict_clv,
        rfm_summary,
    )
    from crmbot.cmd_bench import echo_metrics

    purchases = read_cdnow(transactions_path)
    try:
        summary = rfm_summary(purchases, calibration_end)
        bg = fit_bgnbd(summary)
        gg = fit_gamma_gamma(summary)
        values = predict_clv(summary, bg, gg, horizon_weeks=horizon_weeks)
        # The purchases after the calibration period, if the file has them: the forecast checked.
        after = (purchases["placed_at"].max().normalize() - pd.Timestamp(calibration_end)).days
        holdout = (holdout_check(purchases, calibration_end, weeks=after / WEEK_DAYS)
                   if after >= WEEK_DAYS else None)
    except AnalyticsError as exc:
        raise click.ClickException(str(exc)) from exc
    params = {
        "calibration_end": calibration_end.date().isoformat(),
        "conventions": "time in weeks; purchases per distinct day; Gamma-Gamma monetary value = "
                       "mean spend per repeat purchase, customers with repeat purchases only",
        "customers": bg.customers, "repeat_purchases": int(summary["frequency"].sum()),
        "bgnbd": {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b,
                  "log_likelihood": bg.log_likelihood},
        "gamma_gamma": {"p": gg.p, "q": gg.q, "v": gg.v, "customers": gg.customers,
                        "log_likelihood": gg.log_likelihood},
        "r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b, "p": gg.p, "q": gg.q, "v": gg.v,
        "holdout": holdout,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(params, indent=2) + "\n")
    if values_path is not None:
        values_path.parent.mkdir(parents=True, exist_ok=True)
        summary.join(values).to_csv(values_path, float_format="%.6f")
    metrics: dict[str, float] = {"customers": bg.customers,
                                 "repeat_purchases": int(summary["frequency"].sum())}
    for name, paper in {**PAPER_BGNBD, **PAPER_GAMMA_GAMMA}.items():
        ours = params[name]
        metrics[name] = round(ours, 4)
        metrics[f"{name}_vs_paper_%"] = round(100 * (ours - paper) / paper, 2)
    metrics["bgnbd_loglik"] = round(bg.log_likelihood, 2)
    if holdout is not None:
        metrics.update({k if k.startswith("holdout") else f"holdout_{k}":
                        round(v, 4) if isinstance(v, float) else v
                        for k, v in holdout.items() if k != "calibration_end"})
    echo_metrics(f"CLV: {transactions_path.name}, calibration to {params['calibration_end']} "
                 f"-> {out_path}", metrics)
