"""Churn risk per customer, with the reasons behind it.

Use from code::

    model = train_churn(session, settings)                 # time split, validated, persisted
    model = load_churn_model(settings)                     # the newest persisted one
    scores = churn_scores(session, model)                  # [ChurnScore], riskiest first
    worth = customers_to_save(session, model)              # [AtRiskCustomer], most at stake first

Label: a customer who had bought before a cutoff *churned* when they placed no order in the
``horizon_days`` (default 90) after it. Features (``analytics.rfm.customer_features`` at the
cutoff): recency, frequency, spend, tenure, recent order counts, credit notes and refunds, and
conversation signals (conversations, hand-offs, complaints, low ratings, mean rating).

Model: one ``Pipeline(ColumnTransformer(...), LogisticRegression)`` -- counts and money
``log1p``-scaled, then standardised. Validation is forward in time: a model fitted at
``as_of - 2*horizon`` (its labels end at ``as_of - horizon``) is scored by ROC-AUC on the
customers of the cutoff ``as_of - horizon``; the persisted model is then refitted on that later
cutoff (labels observed up to ``as_of``). Reasons: each feature's contribution to the log-odds
(coefficient x standardised value, relative to the average customer); the top positive ones,
in words, with an order count the recency already implies ("no orders in the last 90 days"
next to "no purchase for 258 days") folded into the recency's.

Who to call first: the riskiest customers are mostly ones who left long ago, with nothing left
to save. ``customers_to_save`` ranks by *value at risk* = churn probability x what the customer
spent in the last year, so a customer who stopped buying more than a year ago is not on it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sqlalchemy.orm import Session

from analytics.artifacts import latest_artifact_path, load_artifact, save_artifact
from analytics.errors import ArtifactError, InvalidInputData, NotEnoughData
from analytics.rfm import (
    FEATURE_COLUMNS,
    customer_features,
    customer_names,
    data_end,
    snapshot,
    transactions,
)
from analytics.settings import AnalyticsSettings

log = logging.getLogger(__name__)

ARTIFACT_NAME = "churn"
DEFAULT_HORIZON_DAYS = 90
MIN_PER_CLASS = 5
#: CRM features on a log scale (counts and money); the rest are used as they are.
#: Types in the persisted pipeline that skops does not trust by default (checked on load).
TRUSTED_TYPES = ["numpy.dtype"]
LOG_FEATURES = tuple(c for c in FEATURE_COLUMNS if c != "mean_rating")
PLAIN_FEATURES = ("mean_rating",)


def build_churn_pipeline(
    *, log_numeric: Sequence[str] = (), numeric: Sequence[str] = (),
    categorical: Sequence[str] = (), estimator: Any = None,
) -> Pipeline:
    """``Pipeline(ColumnTransformer(log-scaled, scaled, one-hot), estimator)``; the estimator
    defaults to a logistic regression. Shared by the CRM model and the Telco benchmark."""
    parts = []
    if log_numeric:
        parts.append(("log", Pipeline([
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("log1p", FunctionTransformer(np.log1p, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
        ]), list(log_numeric)))
    if numeric:
        parts.append(("num", Pipeline([
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]), list(numeric)))
    if categorical:
        parts.append(("cat", OneHotEncoder(handle_unknown="ignore"), list(categorical)))
    if not parts:
        raise InvalidInputData("a churn pipeline needs at least one feature column")
    return Pipeline([
        ("features", ColumnTransformer(parts, verbose_feature_names_out=True)),
        ("model", estimator if estimator is not None else LogisticRegression(max_iter=5000)),
    ])


def contributions(pipeline: Pipeline, frame: pd.DataFrame) -> pd.DataFrame:
    """Per row and input column, its contribution to the log-odds of churn: coefficient x
    transformed value (one-hot columns summed back to their input column). Needs a linear
    final estimator (``coef_``)."""
    model = pipeline.named_steps["model"]
    if not hasattr(model, "coef_"):
        raise InvalidInputData("reasons need a linear model (coef_)")
    transformer = pipeline.named_steps["features"]
    values = transformer.transform(frame)
    values = values.toarray() if hasattr(values, "toarray") else np.asarray(values)
    parts = values * model.coef_[0]
    out = pd.DataFrame(parts, index=frame.index, columns=transformer.get_feature_names_out())
    source = {}
    for name, _, columns in transformer.transformers_:
        for column in columns if isinstance(columns, list) else []:
            source[column] = name
    grouped: dict[str, pd.Series] = {}
    for column in out.columns:
        prefix, _, rest = column.partition("__")
        original = rest if rest in source else next(
            (c for c in source if rest.startswith(f"{c}_")), rest)
        grouped[original] = grouped.get(original, 0) + out[column]
    return pd.DataFrame(grouped, index=frame.index)


#: The direction in which a feature means more risk to a person (+1: higher is riskier). A
#: feature is given as a reason only when the model agrees (its coefficient has this sign), so
#: a collinear coefficient never yields a reason like "only 70 purchases".
RISK_DIRECTION = {
    "recency_days": 1, "frequency": -1, "monetary": -1, "tenure_days": -1,
    "avg_order_value": -1, "orders_last_90d": -1, "orders_prev_90d": -1, "credit_notes": 1,
    "refunds": 1, "refund_amount": 1, "conversations": 1, "handoffs": 1, "complaints": 1,
    "low_ratings": 1, "mean_rating": -1,
}
#: Smallest contribution to the log-odds worth naming as a reason.
MIN_REASON_WEIGHT = 0.05


def _input_coefficients(pipeline: Pipeline, columns: Sequence[str]) -> list[float]:
    """The coefficient of each numeric input column (0 for one-hot groups: no single sign)."""
    names = list(pipeline.named_steps["features"].get_feature_names_out())
    weights = dict(zip(names, pipeline.named_steps["model"].coef_[0], strict=True))
    out = []
    for column in columns:
        match = [w for n, w in weights.items() if n.partition("__")[2] == column]
        out.append(float(match[0]) if match else 0.0)
    return out


#: Order counts that say nothing more than the recency once it is at least this many days: no
#: order in the last 90 days is what "no purchase for 258 days" already says. Such a count's
#: contribution is added to the recency's, so the other reasons get the places.
IMPLIED_BY_RECENCY = {"orders_last_90d": 90, "orders_prev_90d": 180}


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _reason(feature: str, value: float) -> str:
    n = int(round(value)) if np.isfinite(value) else 0
    texts = {
        "recency_days": f"no purchase for {n} days",
        "frequency": f"only {_count(n, 'purchase')} so far",
        "monetary": f"low total spend ({value:.0f})",
        "tenure_days": f"customer for {n} days",
        "avg_order_value": f"small orders (average {value:.0f})",
        "orders_last_90d": (f"{_count(n, 'order')} in the last 90 days" if n
                            else "no orders in the last 90 days"),
        "orders_prev_90d": (f"{_count(n, 'order')} in the 90 days before that" if n
                            else "no orders in the 90 days before that"),
        "credit_notes": _count(n, "cancelled invoice"),
        "refunds": _count(n, "refund"),
        "refund_amount": f"{value:.0f} refunded",
        "conversations": _count(n, "support conversation"),
        "handoffs": f"handed to an agent {_count(n, 'time')}",
        "complaints": _count(n, "complaint"),
        "low_ratings": f"{_count(n, 'low rating')} (1-2 of 5)",
        "mean_rating": f"average rating {value:.1f} of 5" if np.isfinite(value) else "no rating",
    }
    return texts.get(feature, f"{feature} = {value:g}")


def _fold_implied(parts: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """``parts`` (contributions, a row per customer) with each order count the recency implies
    folded into the recency's contribution."""
    if "recency_days" not in parts.columns:
        return parts
    parts = parts.copy()
    for feature, days in IMPLIED_BY_RECENCY.items():
        if feature not in parts.columns:
            continue
        implied = ((values[feature] == 0) & (values["recency_days"] >= days)
                   & (parts[feature] > 0))
        parts.loc[implied, "recency_days"] += parts.loc[implied, feature]
        parts.loc[implied, feature] = 0.0
    return parts


@dataclass(frozen=True)
class ChurnReason:
    feature: str
    text: str
    #: contribution to the log-odds of churning (positive: raises the risk)
    weight: float


#: Levels of risk for people (the inbox's customer panel): ``high`` from this probability of
#: leaving in the model's horizon (more likely gone than not), ``medium`` from the second.
HIGH_RISK = 0.5
MEDIUM_RISK = 0.2


def risk_level(probability: float) -> str:
    """``"high"``, ``"medium"`` or ``"low"`` for a churn probability (see ``HIGH_RISK``)."""
    if probability >= HIGH_RISK:
        return "high"
    return "medium" if probability >= MEDIUM_RISK else "low"


@dataclass(frozen=True)
class ChurnScore:
    customer: str  # public id
    probability: float
    reasons: tuple[ChurnReason, ...]


@dataclass
class ChurnModel:
    pipeline: Pipeline
    horizon_days: int
    as_of: dt.datetime
    validation: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def score(self, features: pd.DataFrame, top: int = 3) -> list[ChurnScore]:
        """Probability and top reasons per row of ``customer_features``, riskiest first."""
        if features.empty:
            return []
        frame = model_input(features)
        proba = self.pipeline.predict_proba(frame)[:, 1]
        parts = contributions(self.pipeline, frame)
        coef = dict(zip(parts.columns, _input_coefficients(self.pipeline, parts.columns),
                        strict=True))
        sensible = [c for c in parts.columns
                    if np.sign(coef[c]) == RISK_DIRECTION.get(c, np.sign(coef[c]))]
        parts = _fold_implied(parts[sensible], frame)
        names = list(parts.columns)
        weights = parts.to_numpy()
        values = frame[names].to_numpy()
        # Each row's largest contributions first (stable: ties keep the column order).
        order = np.argsort(-weights, axis=1, kind="stable")[:, :top]
        out = []
        for i, (customer, p) in enumerate(zip(parts.index, proba, strict=True)):
            reasons = tuple(
                ChurnReason(names[j], _reason(names[j], float(values[i, j])), float(weights[i, j]))
                for j in order[i] if weights[i, j] > MIN_REASON_WEIGHT)
            out.append(ChurnScore(customer=str(customer), probability=float(p), reasons=reasons))
        return sorted(out, key=lambda s: (-s.probability, s.customer))


def churn_dataset(session: Session, cutoff: dt.datetime,
                  horizon_days: int = DEFAULT_HORIZON_DAYS) -> tuple[pd.DataFrame, pd.Series]:
    """Features at ``cutoff`` and the label "no purchase in the next ``horizon_days``"."""
    features = customer_features(session, cutoff)
    later = transactions(session, cutoff + dt.timedelta(days=horizon_days))
    buyers = set(later.loc[later["placed_at"] >= pd.Timestamp(cutoff), "customer"])
    label = pd.Series(~features.index.isin(list(buyers)), index=features.index, name="churned")
    return features, label.astype(int)


def _check_classes(label: pd.Series, what: str) -> None:
    counts = label.value_counts()
    if counts.get(0, 0) < MIN_PER_CLASS or counts.get(1, 0) < MIN_PER_CLASS:
        raise NotEnoughData(
            f"{what}: need at least {MIN_PER_CLASS} customers who churned and {MIN_PER_CLASS} "
            f"who stayed; found {counts.get(1, 0)} and {counts.get(0, 0)}")


def model_input(features: pd.DataFrame) -> pd.DataFrame:
    """The model's columns; money clipped at zero (refunds can exceed purchases)."""
    missing = [c for c in FEATURE_COLUMNS if c not in features.columns]
    if missing:
        raise InvalidInputData(f"features lack the columns {missing}")
    frame = features[list(FEATURE_COLUMNS)].astype(float)
    frame[list(LOG_FEATURES)] = frame[list(LOG_FEATURES)].clip(lower=0.0)
    return frame


def crm_churn_pipeline(random_state: int = 42) -> Pipeline:
    return build_churn_pipeline(
        log_numeric=LOG_FEATURES, numeric=PLAIN_FEATURES,
        estimator=LogisticRegression(C=1.0, max_iter=5000, random_state=random_state))


def train_churn(session: Session, settings: AnalyticsSettings, *, as_of: dt.datetime | None = None,
                horizon_days: int = DEFAULT_HORIZON_DAYS) -> ChurnModel:
    """Validate forward in time, refit on the latest fully observed cutoff, persist."""
    if horizon_days < 1:
        raise InvalidInputData("horizon_days must be at least 1")
    as_of = as_of or data_end(session)
    horizon = dt.timedelta(days=horizon_days)
    train_x, train_y = churn_dataset(session, as_of - horizon, horizon_days)
    _check_classes(train_y, f"customers at {(as_of - horizon).date()}")
    try:
        early_x, early_y = churn_dataset(session, as_of - 2 * horizon, horizon_days)
        _check_classes(early_y, "the earlier cutoff")
        early = crm_churn_pipeline(settings.random_state).fit(model_input(early_x), early_y)
        auc = roc_auc_score(train_y, early.predict_proba(model_input(train_x))[:, 1])
        method = (f"forward in time: fitted at {(as_of - 2 * horizon).date()}, "
                  f"scored at {(as_of - horizon).date()}")
    except NotEnoughData:
        folds = StratifiedKFold(5, shuffle=True, random_state=settings.random_state)
        proba = cross_val_predict(crm_churn_pipeline(settings.random_state),
                                  model_input(train_x), train_y, cv=folds,
                                  method="predict_proba")[:, 1]
        auc = roc_auc_score(train_y, proba)
        method = "5-fold cross-validation (too little history for a forward split)"
    pipeline = crm_churn_pipeline(settings.random_state).fit(model_input(train_x), train_y)
    validation = {"roc_auc": float(auc), "method": method, "horizon_days": horizon_days,
                  "churn_rate": float(train_y.mean()), "customers": int(len(train_y))}
    model = ChurnModel(pipeline=pipeline, horizon_days=horizon_days, as_of=as_of,
                       validation=validation)
    model.path = save_artifact(pipeline, settings.artifacts_dir, ARTIFACT_NAME,
                               data_snapshot=snapshot(train_x, as_of - horizon),
                               validation=validation,
                               extra={"horizon_days": horizon_days, "as_of": as_of.isoformat()})
    log.info("churn: ROC-AUC %.3f (%s) over %s customers", auc, method, len(train_y))
    return model


def load_churn_model(settings: AnalyticsSettings, path: Path | None = None) -> ChurnModel:
    """The newest persisted churn model (or the one at ``path``), checked against its sidecar."""
    artifact = load_artifact(path or latest_artifact_path(settings.artifacts_dir, ARTIFACT_NAME),
                             trusted=TRUSTED_TYPES)
    try:
        horizon = int(artifact.sidecar["horizon_days"])
        as_of = dt.datetime.fromisoformat(artifact.sidecar["as_of"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{artifact.path}: not a churn model ({exc})") from exc
    if not isinstance(artifact.model, Pipeline):
        raise ArtifactError(f"{artifact.path}: not a churn model")
    return ChurnModel(pipeline=artifact.model, horizon_days=horizon, as_of=as_of,
                      validation=dict(artifact.sidecar.get("validation", {})), path=artifact.path)


def churn_scores(session: Session, model: ChurnModel, *, as_of: dt.datetime | None = None,
                 top: int = 3, purchases: pd.DataFrame | None = None) -> list[ChurnScore]:
    """Churn probability in the model's horizon and the top reasons, for every customer with a
    purchase before ``as_of`` (default: the end of the order data), riskiest first.
    ``purchases``: ``transactions(session, as_of)`` when the caller has already read them."""
    as_of = as_of or data_end(session)
    return model.score(customer_features(session, as_of, purchases=purchases), top=top)


#: The spend that is at risk: what the customer bought in this many days before ``as_of``.
VALUE_WINDOW_DAYS = 365


@dataclass(frozen=True)
class AtRiskCustomer:
    customer: str  # public id
    name: str
    probability: float
    spend_last_year: float  # euros, in the VALUE_WINDOW_DAYS before as_of
    value_at_risk: float  # probability x spend_last_year
    reasons: tuple[ChurnReason, ...]


def customers_to_save(session: Session, model: ChurnModel, *, as_of: dt.datetime | None = None,
                      limit: int | None = 20, top: int = 3,
                      purchases: pd.DataFrame | None = None) -> list[AtRiskCustomer]:
    """The ``limit`` (None: all) customers with the most value at risk (churn probability x
    their spend in the last year), largest first; customers without a purchase in that year
    are left out. ``purchases``: ``transactions(session, as_of)`` when the caller has already
    read them."""
    as_of = as_of or data_end(session)
    if purchases is None:
        purchases = transactions(session, as_of)
    recent = purchases[purchases["placed_at"] >= pd.Timestamp(
        as_of - dt.timedelta(days=VALUE_WINDOW_DAYS))]
    spend = recent.groupby("customer")["amount"].sum()
    spend = {str(c): float(v) for c, v in spend[spend > 0].items()}
    features = customer_features(session, as_of, purchases=purchases)
    scores = [s for s in model.score(features, top=top) if s.customer in spend]
    ranked = sorted(scores, key=lambda s: (-s.probability * spend[s.customer], s.customer))[:limit]
    names = customer_names(session, [s.customer for s in ranked])
    return [AtRiskCustomer(customer=s.customer, name=names.get(s.customer, s.customer),
                           probability=s.probability, spend_last_year=spend[s.customer],
                           value_at_risk=s.probability * spend[s.customer],
                           reasons=s.reasons) for s in ranked]
