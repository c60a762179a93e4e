"""Customer lifetime value: BG/NBD (how many purchases) + Gamma-Gamma (how much per purchase).

Both models are fitted by maximum likelihood with the log-likelihoods written here in
numpy/scipy (Fader, Hardie & Lee 2005, "Counting your customers the easy way", and "RFM and
CLV: using iso-value curves", 2005; the Gamma-Gamma note, Fader & Hardie 2013).

Conventions (the paper's):
* Time unit: weeks (days / 7).
* Purchases are counted per distinct day (several orders on one day are one purchase, their
  amounts summed). ``frequency`` x = repeat purchases (distinct days after the first),
  ``recency`` t_x = time from the first to the last purchase, ``T`` = time from the first
  purchase to the end of the calibration period.
* Gamma-Gamma monetary value = the mean spend per *repeat* purchase (the first purchase
  excluded), fitted on customers with x > 0 only.

Use from code::

    summary = rfm_summary(purchases, calibration_end)   # frequency, recency, T, monetary
    bg, gg = fit_bgnbd(summary), fit_gamma_gamma(summary)
    values = predict_clv(summary, bg, gg, horizon_weeks=52)  # expected purchases, P(alive), CLV
    model = fit_clv(session, settings)                      # from the CRM, persisted; .values
    values = clv_values(session, load_clv_model(settings))  # today's values, persisted params

``predict_clv`` gives per customer the expected purchases in the horizon, the probability the
customer is still active, the expected spend per purchase and the CLV: the expected purchases
of each month times the expected spend, discounted monthly at ``annual_discount``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1
from sqlalchemy.orm import Session

from analytics.artifacts import latest_artifact_path, load_artifact, save_artifact
from analytics.errors import ArtifactError, InvalidInputData, NotEnoughData
from analytics.rfm import data_end, transactions
from analytics.settings import AnalyticsSettings
from analytics.times import naive_utc, naive_utc_series

log = logging.getLogger(__name__)

ARTIFACT_NAME = "clv"
WEEK_DAYS = 7.0
WEEKS_PER_MONTH = 52.0 / 12.0
MIN_CUSTOMERS = 20
#: The yearly rate the expected spend is discounted at (money later is worth less today).
ANNUAL_DISCOUNT = 0.10


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    customers: int


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    v: float
    log_likelihood: float
    customers: int


def rfm_summary(
    purchases: pd.DataFrame, calibration_end: dt.datetime | pd.Timestamp
) -> pd.DataFrame:
    """Per customer ``frequency``, ``recency``, ``T`` (weeks) and ``monetary`` (mean repeat spend)
    from purchases (columns ``customer``, ``placed_at``, ``amount``) up to ``calibration_end``
    (inclusive, compared by day)."""
    missing = {"customer", "placed_at", "amount"} - set(purchases.columns)
    if missing:
        raise InvalidInputData(f"purchases lack the columns {sorted(missing)}")
    end = naive_utc(calibration_end)
    placed = naive_utc_series(purchases["placed_at"])
    frame = pd.DataFrame({"customer": purchases["customer"].to_numpy(),
                          "day": placed.dt.normalize().to_numpy(),
                          "amount": purchases["amount"].astype(float).to_numpy()})
    frame = frame[frame["day"] <= end.normalize()]
    if frame.empty:
        raise NotEnoughData("no purchases before the end of the calibration period")
    days = frame.groupby(["customer", "day"], sort=True)["amount"].sum().reset_index()
    first = days.groupby("customer")["day"].transform("min")
    days["repeat"] = days["day"] > first
    grouped = days.groupby("customer")
    summary = pd.DataFrame({
        "frequency": grouped["repeat"].sum().astype(float),
        "recency": (grouped["day"].max() - grouped["day"].min()).dt.days / WEEK_DAYS,
        "T": (end.normalize() - grouped["day"].min()).dt.days / WEEK_DAYS,
    })
    repeat_spend = days[days["repeat"]].groupby("customer")["amount"].mean()
    summary["monetary"] = repeat_spend.reindex(summary.index).fillna(0.0)
    summary.index.name = "customer"
    return summary


def _bgnbd_ll(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                      - (r + x) * np.log(alpha + tx), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def _maximise(negative_ll: Any, start: np.ndarray) -> Any:
    """Minimise over log-parameters (keeps them positive); Nelder-Mead polish after L-BFGS-B."""
    first = minimize(negative_ll, np.log(start), method="L-BFGS-B")
    best = minimize(negative_ll, first.x, method="Nelder-Mead",
                    options={"xatol": 1e-8, "fatol": 1e-8, "maxiter": 4000})
    result = best if best.fun <= first.fun else first
    if not np.isfinite(result.fun):
        raise NotEnoughData("the likelihood could not be maximised on this data")
    return result


def _check_summary(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, tx, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    if len(x) < MIN_CUSTOMERS:
        raise NotEnoughData(f"BG/NBD needs at least {MIN_CUSTOMERS} customers; found {len(x)}")
    if np.any(x < 0) or np.any(tx < 0) or np.any(tx > T + 1e-9) or not np.all(np.isfinite(T)):
        raise InvalidInputData("frequency/recency/T must satisfy 0 <= recency <= T")
    if not np.any(x > 0):
        raise NotEnoughData("nobody bought twice: repeat-purchase rates cannot be estimated")
    return x, tx, T


def fit_bgnbd(summary: pd.DataFrame) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters r, alpha, a, b."""
    x, tx, T = _check_summary(summary)
    scale = max(float(T.mean()), 1e-6)  # fit alpha on the scale of T for a better-posed start

    def negative_ll(log_params: np.ndarray) -> float:
        params = np.exp(log_params) * np.array([1.0, scale, 1.0, 1.0])
        value = -float(_bgnbd_ll(params, x, tx, T).sum())
        return value if np.isfinite(value) else 1e300

    result = _maximise(negative_ll, np.array([1.0, 1.0, 1.0, 1.0]))
    r, alpha, a, b = np.exp(result.x) * np.array([1.0, scale, 1.0, 1.0])
    return BgNbdParams(r=float(r), alpha=float(alpha), a=float(a), b=float(b),
                       log_likelihood=-float(result.fun), customers=len(x))


def fit_gamma_gamma(summary: pd.DataFrame) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma p, q, v on customers with repeat purchases."""
    repeaters = summary[(summary["frequency"] > 0) & (summary["monetary"] > 0)]
    if len(repeaters) < MIN_CUSTOMERS:
        raise NotEnoughData(
            f"Gamma-Gamma needs at least {MIN_CUSTOMERS} repeat buyers; found {len(repeaters)}")
    x = repeaters["frequency"].to_numpy(dtype=float)
    m = repeaters["monetary"].to_numpy(dtype=float)
    scale = float(m.mean())

    def negative_ll(log_params: np.ndarray) -> float:
        p, q, v = np.exp(log_params) * np.array([1.0, 1.0, scale])
        ll = (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v)
              + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(v + x * m))
        value = -float(ll.sum())
        return value if np.isfinite(value) else 1e300

    result = _maximise(negative_ll, np.array([1.0, 2.0, 1.0]))
    p, q, v = np.exp(result.x) * np.array([1.0, 1.0, scale])
    return GammaGammaParams(p=float(p), q=float(q), v=float(v),
                            log_likelihood=-float(result.fun), customers=len(x))


def expected_purchases(bg: BgNbdParams, t: float, x: np.ndarray, tx: np.ndarray,
                       T: np.ndarray) -> np.ndarray:
    """E[purchases in the next ``t`` weeks | x, t_x, T] (BG/NBD, eq. 10 of the paper)."""
    r, alpha, a, b = bg.r, bg.alpha, bg.a, bg.b
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    if t <= 0:
        return np.zeros_like(x)
    z = t / (alpha + T + t)
    # For a < 1 the prefactor and the bracket are both negative; a == 1 is a removable point.
    a_minus_1 = a - 1 if abs(a - 1) > 1e-9 else 1e-9
    head = (a + b + x - 1) / a_minus_1
    body = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    alive_term = 1 + (x > 0) * (a / np.maximum(b + x - 1, 1e-12)) * (
        (alpha + T) / (alpha + tx)) ** (r + x)
    return head * body / alive_term


def probability_alive(bg: BgNbdParams, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    ratio = (bg.a / np.maximum(bg.b + x - 1, 1e-12)) * (
        (bg.alpha + T) / (bg.alpha + tx)) ** (bg.r + x)
    return 1.0 / (1.0 + (x > 0) * ratio)


def expected_spend(gg: GammaGammaParams, x: np.ndarray, monetary: np.ndarray) -> np.ndarray:
    """E[spend per purchase | x, mean repeat spend] (Gamma-Gamma conditional mean)."""
    x, m = np.asarray(x, dtype=float), np.asarray(monetary, dtype=float)
    if gg.q <= 1:
        return np.where(x > 0, m, np.nan)
    population = gg.p * gg.v / (gg.q - 1)
    weight = gg.p * x / (gg.p * x + gg.q - 1)
    return (1 - weight) * population + weight * np.where(x > 0, m, 0.0)


def predict_clv(summary: pd.DataFrame, bg: BgNbdParams, gg: GammaGammaParams, *,
                horizon_weeks: float = 52.0,
                annual_discount: float = ANNUAL_DISCOUNT) -> pd.DataFrame:
    """Per customer: expected purchases in the horizon, P(alive), expected spend, CLV."""
    x, tx, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    spend = expected_spend(gg, x, summary["monetary"].to_numpy(dtype=float))
    months = max(1, int(round(horizon_weeks / WEEKS_PER_MONTH)))
    monthly = (1 + annual_discount) ** (1 / 12) - 1
    clv = np.zeros_like(x)
    previous = np.zeros_like(x)
    for i in range(1, months + 1):
        cumulative = expected_purchases(bg, i * WEEKS_PER_MONTH, x, tx, T)
        clv += (cumulative - previous) * spend / (1 + monthly) ** i
        previous = cumulative
    return pd.DataFrame({
        "expected_purchases": expected_purchases(bg, horizon_weeks, x, tx, T),
        "probability_alive": probability_alive(bg, x, tx, T),
        "expected_spend": spend,
        "clv": clv,
    }, index=summary.index)


#: ``fit_clv``'s validation: the last this many weeks of the purchases, predicted by a BG/NBD
#: fitted on what came before (``holdout_check``).
HOLDOUT_WEEKS = 26


def holdout_check(purchases: pd.DataFrame, calibration_end: dt.datetime | pd.Timestamp, *,
                  weeks: float) -> dict[str, Any]:
    """The BG/NBD's forecast checked on data it did not see: fitted on the purchases up to
    ``calibration_end`` (inclusive, by day), each of those customers' expected purchases
    (distinct days) in the ``weeks`` after it against what they did, next to a naive forecast
    (the customer's rate of repeat purchases so far, continued). Totals and mean absolute
    error per customer."""
    calibration_end = naive_utc(calibration_end).normalize()
    holdout_end = calibration_end + pd.Timedelta(days=weeks * WEEK_DAYS)
    summary = rfm_summary(purchases, calibration_end)
    bg = fit_bgnbd(summary)
    x, tx, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    predicted = expected_purchases(bg, float(weeks), x, tx, T)
    naive = np.where(T > 0, x / np.maximum(T, 1e-9), 0.0) * weeks
    placed = naive_utc_series(purchases["placed_at"])
    later = pd.DataFrame({"customer": purchases["customer"].to_numpy(),
                          "day": placed.dt.normalize().to_numpy()})
    later = later[(later["day"] > calibration_end)
                  & (later["day"] <= holdout_end)].drop_duplicates()
    actual = later.groupby("customer").size().reindex(summary.index).fillna(0).to_numpy(float)
    return {
        "holdout_weeks": weeks, "calibration_end": calibration_end.date().isoformat(),
        "customers": int(len(summary)),
        "actual_purchases": int(actual.sum()), "predicted_purchases": float(predicted.sum()),
        "mae": float(np.abs(predicted - actual).mean()),
        "naive_mae": float(np.abs(naive - actual).mean()),
    }


@dataclass
class ClvModel:
    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams
    as_of: dt.datetime
    horizon_weeks: float
    #: per customer (public id) expected purchases, P(alive), expected spend, CLV
    values: pd.DataFrame | None = None
    path: Path | None = None
    #: the likelihoods and the ``holdout_check`` (the artifact's sidecar)
    validation: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, dict[str, float]]:
        return {"bgnbd": asdict(self.bgnbd), "gamma_gamma": asdict(self.gamma_gamma)}


def fit_clv(session: Session, settings: AnalyticsSettings, *, as_of: dt.datetime | None = None,
            horizon_weeks: float = 52.0, annual_discount: float = ANNUAL_DISCOUNT,
            ) -> ClvModel:
    """Fit both models on the CRM's purchases up to ``as_of`` (default: the end of the order
    data), value every customer, persist the parameters under ``settings.artifacts_dir``."""
    as_of = as_of or data_end(session)
    purchases = transactions(session, as_of)
    summary = rfm_summary(purchases, as_of - dt.timedelta(days=1))
    bg = fit_bgnbd(summary)
    gg = fit_gamma_gamma(summary)
    values = predict_clv(summary, bg, gg, horizon_weeks=horizon_weeks,
                         annual_discount=annual_discount)
    # The last HOLDOUT_WEEKS before the full fit's calibration end (the day before as_of).
    holdout_start = (naive_utc(as_of).normalize()
                     - pd.Timedelta(days=HOLDOUT_WEEKS * WEEK_DAYS + 1))
    try:
        holdout = holdout_check(purchases, holdout_start, weeks=HOLDOUT_WEEKS)
    except NotEnoughData as exc:  # a young shop: too few customers before the holdout
        holdout = {"holdout_weeks": HOLDOUT_WEEKS, "skipped": str(exc)}
    model = ClvModel(bgnbd=bg, gamma_gamma=gg, as_of=as_of, horizon_weeks=horizon_weeks,
                     values=values, validation={
                         "bgnbd_log_likelihood": bg.log_likelihood,
                         "gamma_gamma_log_likelihood": gg.log_likelihood,
                         "method": "maximum likelihood (L-BFGS-B then Nelder-Mead)",
                         "holdout": holdout})
    model.path = save_artifact(
        model.params(), settings.artifacts_dir, ARTIFACT_NAME,
        data_snapshot={"customers": len(summary), "purchases": len(purchases),
                       "as_of": as_of.isoformat()},
        validation=model.validation,
        extra={"horizon_weeks": horizon_weeks, "annual_discount": annual_discount,
               "conventions": "weeks; purchases per distinct day; monetary = mean repeat spend"},
    )
    log.info("clv: r=%.3f alpha=%.3f a=%.3f b=%.3f over %s customers",
             bg.r, bg.alpha, bg.a, bg.b, bg.customers)
    return model


def load_clv_model(settings: AnalyticsSettings, path: Path | None = None) -> ClvModel:
    """The newest persisted CLV parameters (without per-customer values; recompute with
    ``predict_clv`` on a fresh ``rfm_summary``)."""
    artifact = load_artifact(path or latest_artifact_path(settings.artifacts_dir, ARTIFACT_NAME))
    try:
        bg = BgNbdParams(**artifact.model["bgnbd"])
        gg = GammaGammaParams(**artifact.model["gamma_gamma"])
        as_of = dt.datetime.fromisoformat(artifact.sidecar["data_snapshot"]["as_of"])
        horizon = float(artifact.sidecar["horizon_weeks"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{artifact.path}: not a CLV model ({exc})") from exc
    validation = artifact.sidecar.get("validation")
    return ClvModel(bgnbd=bg, gamma_gamma=gg, as_of=as_of, horizon_weeks=horizon,
                    path=artifact.path,
                    validation=validation if isinstance(validation, dict) else {})


def clv_values(session: Session, model: ClvModel, *, as_of: dt.datetime | None = None,
               annual_discount: float = ANNUAL_DISCOUNT,
               purchases: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per customer (public id) expected purchases, P(alive), expected spend and CLV over the
    model's horizon, from the purchases before ``as_of`` (default: the end of the order data).
    ``purchases``: ``transactions(session, as_of)`` when the caller has already read them."""
    as_of = as_of or data_end(session)
    if purchases is None:
        purchases = transactions(session, as_of)
    summary = rfm_summary(purchases, as_of - dt.timedelta(days=1))
    return predict_clv(summary, model.bgnbd, model.gamma_gamma,
                       horizon_weeks=model.horizon_weeks, annual_discount=annual_discount)
