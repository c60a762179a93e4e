"""Product recommendations from purchase history.

The score of a product for a customer blends three signals, each scaled to 0..1 per customer:

- **own**: the customer's repeat-purchase propensity, the number of times they bought it
  (each purchase weighted by recency with ``half_life_days``; the default ``None``, no decay,
  did best on the backtest);
- **co-bought**: item-item cosine similarity of who-bought-what (each product keeps its
  ``neighbours`` most similar), applied to the customer's own propensities;
- **popular**: how many customers bought it in the last ``popular_days`` days;
- **trending**: how much the number of its buyers rose: buyers in the last ``trend_days`` days
  minus the buyers per ``trend_days`` in the ``2 * trend_days`` days before (clipped at 0), so
  seasonal products on the way up (Christmas decorations in autumn) are offered early.

``fit`` learns from lines in the shape of ``analytics.transactions`` (sales lines with a
customer); the fitted model is plain arrays, persisted with ``save_artifact`` (trusted type
``analytics.recommend.PurchaseRecommender``). ``recommend_for_customer`` answers for one
customer, with a reason people can read; customers the model does not know get best sellers.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.errors import InvalidInputData, NotEnoughData
from analytics.times import naive_utc
from analytics.transactions import sales_lines, transactions_from_crm
from crm_connector.models import Product

log = logging.getLogger(__name__)

#: Artifact name: ``recommendations-<date>.skops`` in the artifacts folder.
ARTIFACT_NAME = "recommendations"
TRUSTED_TYPES = ["analytics.recommend.PurchaseRecommender", "scipy.sparse._csr.csr_matrix"]
REASON_OWN = "you have bought this before"
REASON_COBOUGHT = "often bought together with {name}"
REASON_POPULAR = "popular with other customers right now"
#: The same reasons as an agent reads them about the customer (the inbox's customer panel).
AGENT_REASONS = {REASON_OWN: "bought before", REASON_POPULAR: "popular right now"}
MAX_K = 100


class Recommendation(NamedTuple):
    code: str
    name: str
    score: float
    reason: str

    @property
    def personal(self) -> bool:
        """Picked from the customer's own history (not only because it is popular)."""
        return self.reason != REASON_POPULAR


def _normalise_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    peak = matrix.max(axis=1).toarray().ravel()
    peak[peak == 0] = 1.0
    return sparse.diags(1.0 / peak) @ matrix


class PurchaseRecommender:
    """Repeat propensity + item-item co-purchase + recent popularity (see the module)."""

    def __init__(self, *, half_life_days: float | None = None, popular_days: int = 28,
                 neighbours: int = 50, w_own: float = 1.0, w_cobought: float = 0.05,
                 w_popular: float = 0.3, trend_days: int = 14, w_trend: float = 0.6) -> None:
        self.half_life_days = half_life_days
        self.popular_days = popular_days
        self.neighbours = neighbours
        self.w_own = w_own
        self.w_cobought = w_cobought
        self.w_popular = w_popular
        self.trend_days = trend_days
        self.w_trend = w_trend

    # -- fitting ------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, as_of: Any = None) -> PurchaseRecommender:
        """Learn from the sales lines of ``frame`` placed before ``as_of`` (default: all)."""
        sales = sales_lines(frame)
        sales = sales[sales["CustomerID"].notna()]
        if as_of is not None:
            as_of = pd.Timestamp(as_of)
            sales = sales[sales["InvoiceDate"] < as_of]
        if sales.empty:
            raise NotEnoughData("no sales with a customer: nothing to recommend from")
        as_of = as_of if as_of is not None else sales["InvoiceDate"].max() + pd.Timedelta(days=1)
        # one event per (customer, invoice, product): a repeated line is one purchase
        events = sales.drop_duplicates(["CustomerID", "InvoiceNo", "StockCode"])
        customers, c_idx = np.unique(events["CustomerID"].to_numpy(dtype=str),
                                     return_inverse=True)
        items, i_idx = np.unique(events["StockCode"].to_numpy(dtype=str), return_inverse=True)
        age = (as_of - events["InvoiceDate"]).dt.total_seconds().to_numpy() / 86400.0
        decay = (np.ones_like(age) if self.half_life_days is None
                 else np.power(0.5, np.clip(age, 0, None) / self.half_life_days))
        shape = (len(customers), len(items))
        own = sparse.csr_matrix((decay, (c_idx, i_idx)), shape=shape)
        own.sum_duplicates()
        bought = own.copy()
        bought.data[:] = 1.0
        self.similar_ = self._neighbours(bought)
        recent = (age <= self.popular_days)
        buyers = sparse.csr_matrix((np.ones(recent.sum()), (c_idx[recent], i_idx[recent])),
                                   shape=shape)
        buyers.data[:] = 1.0
        popular = np.asarray((buyers > 0).sum(axis=0)).ravel().astype(float)
        if popular.max() == 0:
            popular = np.asarray(bought.sum(axis=0)).ravel()
        self.popularity_ = popular / popular.max()
        self.trending_ = self._trending(age, c_idx, i_idx, shape)
        self.own_ = own.tocsr()
        self.customers_ = customers.tolist()
        self.items_ = items.tolist()
        names = (sales.groupby("StockCode")["Description"]
                 .agg(lambda s: s.mode().iat[0] if not s.mode().empty else ""))
        self.names_ = [str(names.get(code, "")) or code for code in self.items_]
        self.excluded_ = np.zeros(len(items), dtype=bool)
        self.as_of_ = as_of.isoformat()
        self.n_events_ = int(len(events))
        log.info("recommender fitted: %s customers, %s products, %s purchases",
                 len(customers), len(items), len(events))
        return self

    def _trending(self, age: np.ndarray, c_idx: np.ndarray, i_idx: np.ndarray,
                  shape: tuple[int, int]) -> np.ndarray:
        def buyers(low: float, high: float) -> np.ndarray:
            chosen = (age >= low) & (age < high)
            matrix = sparse.csr_matrix((np.ones(chosen.sum()), (c_idx[chosen], i_idx[chosen])),
                                       shape=shape)
            return np.asarray((matrix > 0).sum(axis=0)).ravel().astype(float)

        days = float(self.trend_days)
        rise = np.clip(buyers(0, days) - buyers(days, 3 * days) / 2, 0, None)
        return rise / rise.max() if rise.max() > 0 else rise

    def _neighbours(self, bought: sparse.csr_matrix) -> sparse.csr_matrix:
        """Cosine similarity between products, keeping each product's top neighbours."""
        counts = np.sqrt(np.asarray(bought.sum(axis=0)).ravel())
        counts[counts == 0] = 1.0
        scaled = bought @ sparse.diags(1.0 / counts)
        sim = (scaled.T @ scaled).tocsr()
        sim.setdiag(0)
        sim.eliminate_zeros()
        coo = sim.tocoo()
        order = np.lexsort((-coo.data, coo.row))
        rows, cols, vals = coo.row[order], coo.col[order], coo.data[order]
        starts = np.searchsorted(rows, rows, side="left")
        keep = (np.arange(rows.size) - starts) < self.neighbours
        return sparse.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=sim.shape)

    # -- scoring ------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "own_"):
            raise NotEnoughData("the recommender is not fitted yet")

    def _parts(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        own = _normalise_rows(self.own_[rows]).toarray()
        co = (sparse.csr_matrix(own) @ self.similar_).toarray()
        peak = co.max(axis=1, keepdims=True)
        peak[peak == 0] = 1.0
        return own, co / peak

    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        own, co = self._parts(rows)
        scores = (self.w_own * own + self.w_cobought * co + self.w_popular * self.popularity_
                  + self.w_trend * self._trend())
        scores[:, self.excluded_] = -np.inf
        return scores

    def _trend(self) -> np.ndarray:
        # models saved before the trending signal existed have none
        return getattr(self, "trending_", np.zeros(len(self.items_)))

    def exclude(self, codes: Sequence[str]) -> PurchaseRecommender:
        """Never recommend these products (e.g. no longer sold)."""
        self._check_fitted()
        blocked = set(codes)
        self.excluded_ = np.array([code in blocked for code in self.items_], dtype=bool)
        return self

    def best_sellers(self, k: int = 10) -> list[Recommendation]:
        self._check_fitted()
        popular = np.where(self.excluded_, -np.inf, self.popularity_)
        order = [i for i in np.argsort(-popular, kind="stable")[:k] if not self.excluded_[i]]
        return [Recommendation(self.items_[i], self.names_[i], float(self.popularity_[i]),
                               REASON_POPULAR) for i in order]

    def recommend(self, customer: str, k: int = 10) -> list[Recommendation]:
        """The ``k`` best products for ``customer``; best sellers when they are unknown."""
        self._check_fitted()
        k = _check_k(k)
        try:
            row = self.customers_.index(customer)
        except ValueError:
            return self.best_sellers(k)
        own, co = self._parts(np.array([row]))
        parts = np.vstack([self.w_own * own[0], self.w_cobought * co[0],
                           self.w_popular * self.popularity_,
                           getattr(self, "w_trend", 0.0) * self._trend()])
        total = np.where(self.excluded_, -np.inf, parts.sum(axis=0))
        order = [i for i in np.argsort(-total, kind="stable")[:k] if not self.excluded_[i]]
        mine = self.own_[row].toarray().ravel()
        return [Recommendation(self.items_[i], self.names_[i], float(total[i]),
                               self._reason(int(parts[:, i].argmax()), i, mine))
                for i in order]

    def _reason(self, strongest: int, item: int, mine: np.ndarray) -> str:
        if strongest == 0:
            return REASON_OWN
        if strongest == 1:
            column = self.similar_[:, item].toarray().ravel() * mine
            if column.max() > 0:
                return REASON_COBOUGHT.format(name=self.names_[int(column.argmax())])
        return REASON_POPULAR

    def top_k_all(self, k: int = 10, batch: int = 512) -> Iterator[tuple[str, list[str]]]:
        """``(customer, [k product codes])`` for every customer the model knows."""
        self._check_fitted()
        for start in range(0, len(self.customers_), batch):
            rows = np.arange(start, min(start + batch, len(self.customers_)))
            scores = self.score_rows(rows)
            top = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
            for r, cand in zip(rows, top, strict=True):
                ranked = cand[np.argsort(-scores[r - start, cand], kind="stable")]
                yield self.customers_[r], [self.items_[i] for i in ranked]


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidInputData(f"k must be a whole number from 1 to {MAX_K}")
    return k


def fit_from_crm(session: Session, *, as_of: dt.datetime | None = None,
                 frame: pd.DataFrame | None = None, **params: Any) -> PurchaseRecommender:
    """Fit on the CRM's orders (customers keyed by their public id), inactive products out;
    ``frame``: those orders already read (``transactions_from_crm(session, until=as_of)``)."""
    frame = transactions_from_crm(session, until=as_of) if frame is None else frame
    model = PurchaseRecommender(**params).fit(
        frame, as_of=None if as_of is None else naive_utc(as_of))
    return without_inactive(session, model)


def without_inactive(session: Session, model: PurchaseRecommender) -> PurchaseRecommender:
    """``model`` never recommending the products the CRM no longer sells (as of now)."""
    inactive = session.scalars(select(Product.sku).where(Product.active.is_(False))).all()
    return model.exclude(inactive)


def recommend_for_customer(
    session_or_model: Session | PurchaseRecommender, customer_public_id: str, k: int = 5,
    *, as_of: dt.datetime | None = None,
) -> list[Recommendation]:
    """Up to ``k`` products for the customer: ``(code, name, score, reason)``.

    With a ``Session`` the model is fitted from the CRM's current orders (fresh, for a small
    CRM); with a fitted ``PurchaseRecommender`` (e.g. a loaded artifact) it is used as is.
    Unknown customers get best sellers.
    """
    k = _check_k(k)
    model = (session_or_model if isinstance(session_or_model, PurchaseRecommender)
             else fit_from_crm(session_or_model, as_of=as_of))
    return model.recommend(customer_public_id, k)


def best_sellers(session_or_model: Session | PurchaseRecommender, k: int = 5,
                 *, as_of: dt.datetime | None = None) -> list[Recommendation]:
    """The products most customers bought recently."""
    k = _check_k(k)
    model = (session_or_model if isinstance(session_or_model, PurchaseRecommender)
             else fit_from_crm(session_or_model, as_of=as_of))
    return model.best_sellers(k)


# -- evaluation and baselines -------------------------------------------------------------
def hit_rate(recommended: Mapping[str, Sequence[str]], future: pd.DataFrame, k: int = 10) -> float:
    """Share of customers with recommendations who bought in ``future`` that bought at least
    one of their top ``k``."""
    bought = (sales_lines(future).dropna(subset=["CustomerID"])
              .groupby("CustomerID")["StockCode"].agg(set))
    judged = [c for c in bought.index if c in recommended]
    if not judged:
        return float("nan")
    hits = sum(1 for c in judged if bought[c] & set(recommended[c][:k]))
    return hits / len(judged)


def popularity_baseline(frame: pd.DataFrame, customers: Sequence[str], k: int = 10,
                        days: int | None = None) -> dict[str, list[str]]:
    """Everyone gets the products bought by the most customers (in the last ``days``)."""
    sales = sales_lines(frame).dropna(subset=["CustomerID"])
    if days is not None:
        sales = sales[sales["InvoiceDate"] >= sales["InvoiceDate"].max() - pd.Timedelta(days=days)]
    top = sales.groupby("StockCode")["CustomerID"].nunique().sort_values(
        ascending=False, kind="stable").index[:k].tolist()
    return {c: top for c in customers}


def own_most_bought_baseline(frame: pd.DataFrame, k: int = 10) -> dict[str, list[str]]:
    """Each customer's products by number of purchases, padded with the most popular."""
    sales = sales_lines(frame).dropna(subset=["CustomerID"])
    counts = (sales.drop_duplicates(["CustomerID", "InvoiceNo", "StockCode"])
              .groupby(["CustomerID", "StockCode"]).size().rename("n").reset_index()
              .sort_values(["CustomerID", "n", "StockCode"], ascending=[True, False, True]))
    popular = popularity_baseline(frame, [""], k)[""]
    out: dict[str, list[str]] = {}
    for customer, group in counts.groupby("CustomerID", sort=False):
        mine = group["StockCode"].head(k).tolist()
        out[str(customer)] = mine + [p for p in popular if p not in mine][: k - len(mine)]
    return out


#: The backtest's window: hit rate on the purchases of this many days after the cut (the
#: issue's five weeks), of the top ``BACKTEST_K``.
BACKTEST_DAYS = 35
BACKTEST_K = 10


def backtest(frame: pd.DataFrame, cutoff: Any, *, days: int = BACKTEST_DAYS, k: int = BACKTEST_K,
             **params: Any) -> dict[str, Any]:
    """Fit on the sales before ``cutoff``, score the top ``k`` on the ``days`` after it: hit
    rate of the model and of both baselines (everyone's best sellers, each customer's own
    most-bought), and how many customers were judged (those who bought in the window)."""
    start = pd.Timestamp(cutoff)
    past = frame[frame["InvoiceDate"] < start]
    future = frame[(frame["InvoiceDate"] >= start)
                   & (frame["InvoiceDate"] < start + pd.Timedelta(days=days))]
    ours = dict(PurchaseRecommender(**params).fit(past, as_of=start).top_k_all(k))
    judged = set(sales_lines(future)["CustomerID"].dropna().astype(str)) & set(ours)
    if not judged:
        raise NotEnoughData(f"no customer of the history bought in the {days} days from "
                            f"{start:%Y-%m-%d}")
    return {
        "metric": f"hit_rate@{k}", "cutoff": start.isoformat(), "window_days": days,
        "customers": len(judged),
        "model": hit_rate(ours, future, k),
        "popularity": hit_rate(popularity_baseline(past, list(ours), k), future, k),
        "own_most_bought": hit_rate(own_most_bought_baseline(past, k), future, k),
    }


def save_recommender(model: PurchaseRecommender, directory: Any, *,
                     validation: dict[str, Any] | None = None,
                     when: dt.date | None = None) -> Any:
    """Persist a fitted recommender (``recommendations-<date>.skops`` + sidecar)."""
    from analytics.artifacts import save_artifact

    model._check_fitted()
    return save_artifact(
        model, directory, ARTIFACT_NAME, when=when,
        data_snapshot={"as_of": model.as_of_, "purchases": model.n_events_,
                       "customers": len(model.customers_), "products": len(model.items_)},
        validation=validation or {},
        extra={"params": {k: getattr(model, k) for k in (
            "half_life_days", "popular_days", "neighbours", "w_own", "w_cobought", "w_popular",
            "trend_days", "w_trend")}},
    )


def load_recommender(path: Any) -> Any:
    """Load a saved recommender artifact (model + sidecar), checked against its sidecar."""
    from analytics.artifacts import load_artifact

    return load_artifact(path, trusted=TRUSTED_TYPES)


def newest_saved_recommender(directory: Any) -> tuple[Any, PurchaseRecommender | None]:
    """The newest ``recommendations-<date>.skops`` in ``directory`` (saved by ``crmbot analytics
    refresh``) and the recommender in it: ``(None, None)`` when none is saved, ``(path, None)``
    when it cannot be loaded (logged). A fit from the CRM is the caller's fallback."""
    from analytics.artifacts import latest_artifact_path
    from analytics.errors import AnalyticsError

    try:
        path = latest_artifact_path(directory, ARTIFACT_NAME)
    except AnalyticsError:
        return None, None
    try:
        loaded = load_recommender(path).model
    except AnalyticsError as exc:
        log.warning("cannot load the saved recommender %s (%s)", path.name, type(exc).__name__)
        return path, None
    if not isinstance(loaded, PurchaseRecommender):
        log.warning("%s holds a %s, not a recommender", path.name, type(loaded).__name__)
        return path, None
    return path, loaded


def train_recommender(session: Session, settings: Any, *,
                      as_of: dt.datetime | None = None) -> PurchaseRecommender:
    """``crmbot analytics refresh`` step: fit on the CRM's orders and save the artifact the
    bot's ``action_recommend_products`` loads (``model.path`` is where it went), validated by a
    ``backtest`` on the last ``BACKTEST_DAYS`` of the orders (``model.validation``)."""
    frame = transactions_from_crm(session, until=as_of)
    model = fit_from_crm(session, as_of=as_of, frame=frame)
    cutoff = frame["InvoiceDate"].max().normalize() - pd.Timedelta(days=BACKTEST_DAYS - 1)
    try:
        validation = backtest(frame, cutoff)
    except NotEnoughData as exc:  # a young shop: no sales before the window, or none in it
        validation = {"metric": f"hit_rate@{BACKTEST_K}", "skipped": str(exc)}
    model.validation = validation
    model.path = save_recommender(model, settings.artifacts_dir, validation=validation)
    return model
