"""Demand model variants on the Online Retail history: which extra features help, measured the
way `crmbot bench demand --backtest` measures the production model.

Each variant adds feature columns to the production set (`analytics.demand.FEATURES`) and is
fitted once per backtest cutoff, either as the units model alone (`units`) or as the production
ensemble (`ensemble`: units + `LevelRatioRegressor`, with the added unit-valued columns divided
by the level too). Forecasts are cached per variant, model, seed and cutoff in `--cache`, so
`score` can compare (and average) any of them without fitting again. The `production` variant
adds nothing: it reproduces the bench's numbers; ``previous`` is the production set without the
two big-order features (the model before 2026-11-22, session 4).

    D=../shared/data/online_retail/transactions_until_2011-10-31.csv.gz
    .venv/bin/python benchmarks/demand_variants.py fit --history $D production ensemble
    .venv/bin/python benchmarks/demand_variants.py fit --history $D due ensemble --seed 7
    .venv/bin/python benchmarks/demand_variants.py score --history $D --references

``--references`` adds the medians of the last 4 and 8 weeks and a ceiling that peeks at the
truth (see ``reference_forecasts``).

Variants (benchmarks/README.md, "Demand forecast", has the results):
- ``buyers``: buyer-weeks of the product in the last 8 weeks (customers with an id);
- ``due``: per customer and product, the mean interval between purchase weeks and the mean
  quantity; the expected units of the buyers due in the forecast week (a Gaussian kernel around
  the interval), their number, and the number of repeat buyers;
- ``active``: ``due`` plus the product's buyers active in the shop in the last 4 weeks (count and
  their mean quantity);
- ``christmas``: the share of the product's units sold in the data's first 4 weeks (December
  2010), whether its description names Christmas, and the days to Christmas of the target week.
- ``group``: the trend of the product's group (products whose description ends in the same word:
  BAG, MUG, CANDLE, ...): the group's units of the last 4 weeks against the 4 before and against
  the mean 4 weeks of the last 13, and the group's number of products.
Variants combine with ``+`` (``buyers+due``).
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import VotingRegressor
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from analytics import demand
from analytics.transactions import read_transactions, sales_lines

CUTOFFS = ("2011-08-01", "2011-08-29", "2011-09-05", "2011-09-26", "2011-10-03")
CHRISTMAS_WORDS = re.compile(r"CHRISTMAS|XMAS|ADVENT|SANTA|REINDEER|SNOWFLAKE|NATIVITY|BAUBLE")
#: Production columns the ``previous`` variant leaves out.
BIG_ORDER_FEATURES = ("mean_8_without_largest", "largest_line_share_8")
VARIANTS = {
    "production": (),
    "previous": (),
    "buyers": ("buyer_weeks_8",),
    "due": ("repeat_buyers", "due_units", "due_buyers"),
    "active": ("repeat_buyers", "due_units", "due_buyers", "active_buyers", "active_units"),
    "christmas": ("december_share", "christmas_word", "days_to_christmas"),
    "group": ("group_growth_4", "group_growth_13", "group_products"),
}
#: Added columns in units of the product: the ratio model divides them by the level.
UNIT_VALUED = ("due_units", "active_units")


def base_columns(variant: str) -> list[str]:
    """The production columns the variant starts from."""
    dropped = BIG_ORDER_FEATURES if "previous" in variant.split("+") else ()
    return [c for c in demand.FEATURES if c not in dropped]


def variant_columns(variant: str) -> list[str]:
    """The columns the variant adds."""
    columns: list[str] = []
    for part in variant.split("+"):
        if part not in VARIANTS:
            raise SystemExit(f"unknown variant {part!r}; known: {', '.join(VARIANTS)}")
        columns += [c for c in VARIANTS[part] if c not in columns]
    return columns


def customer_weeks(frame: pd.DataFrame, history: demand.WeeklyHistory) -> pd.DataFrame:
    """Units per (customer, product, week column) before the cutoff; customers with an id."""
    sales = sales_lines(frame)
    sales = sales[(sales["InvoiceDate"] < history.cutoff) & sales["CustomerID"].notna()]
    week = np.floor((sales["InvoiceDate"] - history.cutoff) / demand.WEEK).astype(int)
    product = sales["StockCode"].astype(str).map(history.index())
    table = pd.DataFrame({
        "customer": pd.factorize(sales["CustomerID"])[0], "product": product.to_numpy(),
        "week": week.to_numpy() + history.n_weeks, "units": sales["Quantity"].to_numpy(float),
    }).dropna().astype({"product": int})
    return table.groupby(["customer", "product", "week"], as_index=False)["units"].sum()


def extra_features(history: demand.WeeklyHistory, bought: pd.DataFrame, origin: int,
                   horizons: int) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]:
    """Every variant's columns at ``origin``: ones shared by all horizons, and per horizon."""
    n = len(history.items)
    before = bought[bought["week"] < origin]
    recent = before[before["week"] >= origin - 8]
    shared = {"buyer_weeks_8": np.bincount(recent["product"], minlength=n).astype(float)}
    pairs = before.groupby(["customer", "product"]).agg(
        purchases=("week", "size"), first=("week", "min"), last=("week", "max"),
        units=("units", "sum"))
    customer = pairs.index.get_level_values(0).to_numpy()
    product = pairs.index.get_level_values(1).to_numpy()
    mean_units = (pairs["units"] / pairs["purchases"]).to_numpy()
    last_any = before.groupby("customer")["week"].max()
    active = last_any.reindex(customer).to_numpy() >= origin - 4
    shared["active_buyers"] = np.bincount(product, active.astype(float), minlength=n)
    shared["active_units"] = np.bincount(product, active * mean_units, minlength=n)
    repeat = (pairs["purchases"] >= 2).to_numpy()
    shared["repeat_buyers"] = np.bincount(product[repeat], minlength=n).astype(float)
    interval = ((pairs["last"] - pairs["first"]) / (pairs["purchases"] - 1).clip(lower=1)).to_numpy()
    total = history.units[:, :origin].sum(axis=1)
    shared["december_share"] = np.divide(history.units[:, :4].sum(axis=1), total,
                                         out=np.full(n, np.nan), where=total > 0)
    shared["christmas_word"] = np.array(
        [bool(CHRISTMAS_WORDS.search(history.names.get(c, "").upper())) for c in history.items],
        dtype=float)
    shared.update(group_trend(history, origin))
    per_horizon = []
    for h in range(horizons):
        gap = origin + h - pairs["last"].to_numpy()
        due = repeat * np.exp(-0.5 * ((gap - interval) / (0.3 * interval + 0.5)) ** 2)
        target = history.week_start(origin - history.n_weeks + h)
        per_horizon.append({
            "due_units": np.bincount(product, due * mean_units, minlength=n),
            "due_buyers": np.bincount(product, due, minlength=n),
            "days_to_christmas": np.full(
                n, float((pd.Timestamp(year=target.year, month=12, day=25) - target).days)),
        })
    return shared, per_horizon


def group_trend(history: demand.WeeklyHistory, origin: int) -> dict[str, np.ndarray]:
    """The ``group`` variant's columns: the trend of the products sharing the last word of the
    product's description (a product without a description is a group of its own)."""
    last_word = [(re.findall(r"[A-Z]+", history.names.get(c, "").upper()) or [f"#{c}"])[-1]
                 for c in history.items]
    group, _ = pd.factorize(pd.Series(last_word))

    def total(start: int, stop: int) -> np.ndarray:
        return np.bincount(group, history.units[:, max(start, 0):stop].sum(axis=1))[group]

    last_4, before_4 = total(origin - 4, origin), total(origin - 8, origin - 4)
    mean_4_of_13 = total(origin - 13, origin) * 4 / 13
    return {"group_growth_4": (last_4 + 1) / (before_4 + 1),
            "group_growth_13": (last_4 + 1) / (mean_4_of_13 + 1),
            "group_products": np.bincount(group)[group].astype(float)}


def origin_rows(history: demand.WeeklyHistory, bought: pd.DataFrame, origin: int,
                horizons: int, columns: list[str]) -> list[pd.DataFrame]:
    """One frame per horizon with ``columns`` (production and added ones)."""
    base = demand.origin_features(history, origin)
    shared, per_horizon = extra_features(history, bought, origin, horizons)
    frames = []
    for h in range(horizons):
        frame = base.assign(horizon=float(h), **shared, **per_horizon[h])
        frames.append(frame[columns])
    return frames


def training_set(history: demand.WeeklyHistory, bought: pd.DataFrame,
                 columns: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """As ``analytics.demand.training_set``, with the variant's columns."""
    xs, ys = [], []
    for origin in range(max(demand.MIN_HISTORY_WEEKS, history.n_weeks - demand.TRAIN_ORIGINS),
                        history.n_weeks):
        horizons = min(demand.HORIZONS, history.n_weeks - origin)
        active = history.units[:, :origin].sum(axis=1) > 0
        for h, x in enumerate(origin_rows(history, bought, origin, horizons, columns)):
            xs.append(x[active])
            ys.append(history.units[active, origin + h])
    return pd.concat(xs, ignore_index=True), np.concatenate(ys)


def build_model(kind: str, columns: list[str], seed: int) -> object:
    if kind == "units":
        return demand._boosting(seed)
    ratio = demand.LevelRatioRegressor(demand._boosting(seed), columns=columns)
    return VotingRegressor([("units", demand._boosting(seed)), ("ratio", ratio)])


def cache_file(cache: Path, variant: str, kind: str, seed: int, cutoff: str) -> Path:
    return cache / f"{variant}--{kind}--{seed}--{cutoff}.npz"


def fit(args: argparse.Namespace) -> None:
    added = variant_columns(args.variant)
    columns = [*base_columns(args.variant), *added]
    # The ratio model scales these columns by the product's level, as it does the lags.
    demand.UNIT_FEATURES = (*(c for c in demand.UNIT_FEATURES if c in columns),
                            *(c for c in added if c in UNIT_VALUED))
    frame = read_transactions(args.history)
    args.cache.mkdir(parents=True, exist_ok=True)
    for cutoff in tqdm(args.cutoffs, desc=f"{args.variant} {args.kind} seed {args.seed}"):
        path = cache_file(args.cache, args.variant, args.kind, args.seed, cutoff)
        if path.exists():
            continue
        started = time.monotonic()
        history = demand.weekly_history(frame, cutoff)
        bought = customer_weeks(frame, history)
        x, y = training_set(history, bought, columns)
        with threadpool_limits(limits=1):
            model = build_model(args.kind, columns, args.seed).fit(x, y)
            rows = origin_rows(history, bought, history.n_weeks, demand.HORIZONS, columns)
            predicted = model.predict(pd.concat(rows, ignore_index=True))
        predicted = np.clip(predicted, 0, None).reshape(demand.HORIZONS, -1).T
        np.savez(path, forecast=predicted, items=np.array(history.items))
        tqdm.write(f"{cutoff}: {len(x)} rows, {time.monotonic() - started:.0f} s")


def reference_forecasts(history: demand.WeeklyHistory,
                        future: np.ndarray) -> dict[str, np.ndarray]:
    """Forecasts to read the variants against: simple medians of the history, and a ceiling
    that peeks at the truth (each product's median week of the forecast weeks, as a constant:
    what a forecast that knew each product's level, but not its week-to-week noise, scores)."""
    weeks = future.shape[1]
    references = {
        f"reference: median of last {n} weeks": np.repeat(
            np.median(demand._window(history.units, history.n_weeks, n), axis=1)[:, None],
            weeks, axis=1)
        for n in (4, 8)}
    references["reference: ceiling, median of actual weeks"] = np.repeat(
        np.median(future, axis=1)[:, None], weeks, axis=1)
    return references


def run_forecast(runs: dict[str, dict[str, Path]], name: str, cutoff: str) -> np.ndarray | None:
    """A cached run's forecast at ``cutoff`` (a "mean of seeds" run: the mean over its seeds),
    None where it was not fitted."""
    if name.endswith(" mean of seeds"):
        prefix = name.removesuffix(" mean of seeds")
        paths = [r[cutoff] for n, r in runs.items()
                 if n.startswith(f"{prefix} seed ") and cutoff in r]
    else:
        paths = [runs[name][cutoff]] if cutoff in runs[name] else []
    return np.mean([np.load(p)["forecast"] for p in paths], axis=0) if paths else None


def score(args: argparse.Namespace) -> None:
    """Gain over mean-of-4 per cached run (variant, model, seed) and cutoff, and their mean;
    ``--average`` also scores the mean forecast of each variant and model over its seeds,
    ``--references`` the forecasts of ``reference_forecasts``."""
    frame = read_transactions(args.history)
    runs: dict[str, dict[str, Path]] = {}
    seeds: dict[str, set[str]] = {}
    for path in sorted(args.cache.glob("*.npz")):
        variant, kind, seed, cutoff = path.stem.split("--")
        runs.setdefault(f"{variant} {kind} seed {seed}", {})[cutoff] = path
        seeds.setdefault(f"{variant} {kind}", set()).add(seed)
    if args.average:
        runs.update({f"{name} mean of seeds": {} for name, s in seeds.items() if len(s) > 1})
    gains: dict[tuple[str, str], dict[str, float]] = {}
    for cutoff in args.cutoffs:
        history = demand.weekly_history(frame, cutoff)
        actual = demand.actual_units(frame, cutoff, demand.HORIZONS)
        item_sets = {"top200": demand.top_items(history, 200),
                     "random300": demand.sample_items(history, 300, 42)}
        item_sets["pooled"] = sorted(set(item_sets["top200"]) | set(item_sets["random300"]))
        index = history.index()
        mean_4 = demand._mean(history.units, history.n_weeks, 4)
        future = actual.reindex(history.items, fill_value=0).to_numpy()[:, :demand.HORIZONS]
        references = reference_forecasts(history, future) if args.references else {}
        forecasts = {name: run_forecast(runs, name, cutoff) for name in runs} | references
        for name, forecast in forecasts.items():
            if forecast is None:
                continue
            for item_set, items in item_sets.items():
                rows = [index[i] for i in items]
                truth = actual.reindex(items, fill_value=0).to_numpy()[:, :demand.HORIZONS]
                baseline = np.repeat(mean_4[rows][:, None], demand.HORIZONS, axis=1)
                gain = 1 - demand.wape(truth, forecast[rows]) / demand.wape(truth, baseline)
                gains.setdefault((name, item_set), {})[cutoff] = gain
    print(f"{'run':48s} {'items':9s} " + " ".join(f"{c[2:]:>8s}" for c in args.cutoffs)
          + "      mean")
    for (name, item_set), by_cutoff in sorted(gains.items()):
        cells = " ".join(f"{100 * by_cutoff[c]:7.1f}%" if c in by_cutoff else f"{'':8s}"
                         for c in args.cutoffs)
        print(f"{name:48s} {item_set:9s} {cells}  {100 * np.mean(list(by_cutoff.values())):7.1f}%"
              f" ({len(by_cutoff)} cutoffs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("fit", "score"):
        command = commands.add_parser(name)
        command.add_argument("--history", type=Path, required=True)
        command.add_argument("--cache", type=Path, default=Path("/tmp/demand-variants"))
        command.add_argument("--cutoffs", type=lambda t: t.split(","), default=list(CUTOFFS))
        if name == "fit":
            command.add_argument("variant")
            command.add_argument("kind", choices=("units", "ensemble"))
            command.add_argument("--seed", type=int, default=42)
        else:
            command.add_argument("--average", action="store_true",
                                 help="also score each variant's mean forecast over its seeds")
            command.add_argument("--references", action="store_true",
                                 help="also score medians of the last 4 and 8 weeks and the "
                                      "ceiling of a constant that knows each product's median "
                                      "forecast week")
    args = parser.parse_args()
    if not args.history.is_file():
        parser.error(f"--history {args.history}: no such file")
    fit(args) if args.command == "fit" else score(args)


if __name__ == "__main__":
    main()
