"""What the agent inbox's customer panel shows beside a conversation: the customer's segment,
churn risk with its reasons, predicted lifetime value, and product recommendations.

``customer_insights(session, customer_public_id)`` is the hook the web gateway calls (it finds
it as ``analytics.customer_insights``). It uses the persisted segment, churn and lifetime-value
models and the purchase recommender (trained by ``crmbot analytics refresh``; the recommender
is fitted on the CRM when none is saved). Every customer is scored once and kept until a newer
model is written, rebuilt in the background every ``CACHE_SECONDS`` (``InsightCache``), so a
request costs a dictionary look-up. A part whose model is missing is left out; the panel then
shows the CRM data only.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from analytics.churn import risk_level
from analytics.errors import AnalyticsError
from analytics.recommend import AGENT_REASONS
from analytics.settings import AnalyticsSettings

log = logging.getLogger(__name__)

CACHE_SECONDS = 600.0
RECOMMENDATIONS = 5


@dataclass
class _Scores:
    key: tuple[str, ...]
    built: float
    segments: dict[str, str] = field(default_factory=dict)
    churn: dict[str, tuple[float, list[str]]] = field(default_factory=dict)
    clv: dict[str, float] = field(default_factory=dict)  # predicted spend in the horizon
    clv_weeks: float = 0.0
    currency: str | None = None  # the shop's main currency, the models' amounts
    recommender: Any = None


class InsightCache:
    """Scores of every customer: built on first use and when a model file changed (the request
    waits); older than ``ttl`` they are still served while a background thread rebuilds them,
    so no agent waits for the periodic rebuild."""

    def __init__(self, settings: AnalyticsSettings, ttl: float = CACHE_SECONDS) -> None:
        self.settings = settings
        self.ttl = ttl
        self._lock = threading.Lock()
        self._scores: _Scores | None = None
        self._rebuilding: threading.Thread | None = None

    def _model_key(self) -> tuple[str, ...]:
        directory = self.settings.artifacts_dir
        if not directory.is_dir():
            return ()
        return tuple(sorted(f"{p.name}:{p.stat().st_mtime_ns}" for p in directory.glob("*.skops")))

    def scores(self, session: Session) -> _Scores:
        # Per database too: one process may serve (or test) several.
        bind = session.get_bind()
        key = (bind.engine.url.render_as_string(hide_password=True), *self._model_key())
        current = self._scores
        if current is not None and current.key == key:
            if time.monotonic() - current.built > self.ttl:
                if isinstance(bind, Engine):
                    self._rebuild_in_background(bind, key)
                else:  # a connection belongs to its caller's thread: rebuild here
                    with self._lock:
                        self._scores = current = self._build(session, key)
            return current
        with self._lock:  # another database or a new model: these scores are wrong, not old
            current = self._scores
            if current is None or current.key != key:
                current = self._build(session, key)
                self._scores = current
            return current

    def _rebuild_in_background(self, engine: Engine, key: tuple[str, ...]) -> None:
        with self._lock:
            if self._rebuilding is not None and self._rebuilding.is_alive():
                return
            self._rebuilding = threading.Thread(target=self._rebuild, args=(engine, key),
                                                name="customer-insights", daemon=True)
            self._rebuilding.start()

    def _rebuild(self, engine: Engine, key: tuple[str, ...]) -> None:
        try:
            with Session(engine) as session:
                scores = self._build(session, key)
            with self._lock:
                if self._scores is None or self._scores.key == key:  # not replaced meanwhile
                    self._scores = scores
        except Exception:  # noqa: BLE001 - the old scores stay; the next request tries again
            log.exception("rebuilding the customer insights failed")

    def wait_for_rebuild(self, timeout: float | None = None) -> None:
        """Return once a background rebuild (if one is running) has finished."""
        thread = self._rebuilding
        if thread is not None:
            thread.join(timeout)

    def _build(self, session: Session, key: tuple[str, ...]) -> _Scores:
        scores = _Scores(key=key, built=time.monotonic())
        try:  # the purchases every model below scores: read once for all of them
            from analytics.rfm import data_end, transactions

            as_of = data_end(session)
            purchases = transactions(session, as_of)
        except AnalyticsError:  # no orders yet: each part below is left out with its reason
            as_of, purchases = None, None
        try:
            from analytics.rfm import customer_features
            from analytics.segments import load_segment_model

            model = load_segment_model(self.settings)
            features = customer_features(session, as_of or data_end(session), purchases=purchases)
            scores.segments = {str(k): str(v) for k, v in model.assign(features).items()}
        except (ImportError, AnalyticsError) as exc:
            log.info("customer insights without segments: %s", type(exc).__name__)
        try:
            from analytics.churn import churn_scores, load_churn_model

            churn = load_churn_model(self.settings)
            scores.churn = {s.customer: (round(s.probability, 3), [r.text for r in s.reasons])
                            for s in churn_scores(session, churn, top=3, as_of=as_of,
                                                  purchases=purchases)}
        except (ImportError, AnalyticsError) as exc:
            log.info("customer insights without churn risk: %s", type(exc).__name__)
        try:
            from analytics.clv import clv_values, load_clv_model
            from analytics.sales import main_currency

            clv = load_clv_model(self.settings)
            values = clv_values(session, clv, as_of=as_of, purchases=purchases)["clv"].dropna()
            scores.clv = {str(k): round(float(v), 2) for k, v in values.items()}
            scores.clv_weeks = clv.horizon_weeks
            scores.currency = main_currency(session)
        except (ImportError, AnalyticsError) as exc:
            log.info("customer insights without lifetime value: %s", type(exc).__name__)
        try:
            from analytics.recommend import (
                fit_from_crm,
                newest_saved_recommender,
                without_inactive,
            )

            # The one `crmbot analytics refresh` saved, as the bot's recommendations use;
            # fitting on every order again costs seconds on a shop's history.
            _, saved = newest_saved_recommender(self.settings.artifacts_dir)
            scores.recommender = (fit_from_crm(session) if saved is None
                                  else without_inactive(session, saved))
        except (ImportError, AnalyticsError) as exc:
            log.info("customer insights without recommendations: %s", type(exc).__name__)
        log.info("customer insights rebuilt: %s segments, %s churn scores",
                 len(scores.segments), len(scores.churn))
        return scores


_default: InsightCache | None = None
_default_lock = threading.Lock()


def _default_cache() -> InsightCache:
    global _default
    with _default_lock:
        if _default is None:
            _default = InsightCache(AnalyticsSettings())
        return _default


def customer_insights(session: Session, customer_public_id: str, *,
                      cache: InsightCache | None = None) -> dict[str, Any]:
    """``{"segment", "churn_risk", "churn_level", "churn_reasons", "clv", "clv_weeks",
    "clv_currency", "recommendations"}`` for one customer: ``churn_level`` is
    ``analytics.churn.risk_level``; ``clv`` the spend the lifetime-value model expects in the
    next ``clv_weeks`` (discounted, in ``clv_currency``, the shop's main currency); a
    recommendation's reason as an agent reads it ("bought before"). Keys whose model is
    missing are left out. The default cache is built from
    ``AnalyticsSettings()`` the first time it is needed (the web gateway passes none)."""
    if not isinstance(customer_public_id, str) or not customer_public_id:
        return {}
    scores = (cache or _default_cache()).scores(session)
    out: dict[str, Any] = {}
    if customer_public_id in scores.segments:
        out["segment"] = scores.segments[customer_public_id]
    if customer_public_id in scores.churn:
        risk, reasons = scores.churn[customer_public_id]
        out["churn_risk"] = risk
        out["churn_level"] = risk_level(risk)
        out["churn_reasons"] = reasons
    if customer_public_id in scores.clv:
        out["clv"] = scores.clv[customer_public_id]
        out["clv_weeks"] = scores.clv_weeks
        out["clv_currency"] = scores.currency
    if scores.recommender is not None:
        try:
            recs = scores.recommender.recommend(customer_public_id, RECOMMENDATIONS)
        except AnalyticsError:
            recs = []
        out["recommendations"] = [{"code": r.code, "name": r.name,
                                   "reason": AGENT_REASONS.get(r.reason, r.reason)}
                                  for r in recs]
    out["as_of"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return out
