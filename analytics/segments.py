"""Customer segments: RFM (+ tenure) clustering, named for people, with profiles.

Use from code::

    model = train_segments(session, settings)            # fits, names, persists; returns it
    model = load_segment_model(settings)                 # the newest persisted one
    names = model.assign(customer_features(session, as_of))   # public id -> segment name
    names = assign_segments(session, model)              # the same, as of the end of the data

Model: one ``Pipeline(log1p, StandardScaler, KMeans)`` over recency, frequency, monetary value
per order and tenure (days since the first purchase: it separates *new* customers from one-off
buyers). Monetary value enters as the average order value because total spend is nearly
collinear with frequency and so counted the "how much" axis twice: on the 2,000-customer demo
data that merged lapsing with loyal customers (see benchmarks/README.md).
Number of segments: the ``k`` in ``k_range`` (default 3..8) with the highest silhouette score
on the scaled features (ties: the smaller ``k``). Names come from rules on each cluster's
profile relative to all customers (``name_clusters``): recent + frequent -> champions (the
best such cluster) / loyal; first purchase within ``new_days`` -> new; recent, few purchases ->
promising; not recent but frequent -> at risk; not recent, few purchases -> hibernating (the
longest-gone such cluster: lost). Several clusters may share a name; a segment is the union
of its clusters and its profile covers them all. Persisted as ``segments-<date>.skops`` with
the names, profiles and silhouette scores in the sidecar.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sqlalchemy.orm import Session
from tqdm.auto import tqdm

from analytics.artifacts import latest_artifact_path, load_artifact, save_artifact
from analytics.errors import ArtifactError, InvalidInputData, NotEnoughData
from analytics.rfm import customer_features, data_end, snapshot
from analytics.settings import AnalyticsSettings

log = logging.getLogger(__name__)

ARTIFACT_NAME = "segments"
#: Clustering inputs, in order.
SEGMENT_COLUMNS = ("recency_days", "frequency", "avg_order_value", "tenure_days")
DEFAULT_K_RANGE = range(3, 9)
#: Silhouette on at most this many customers (exact below it).
SILHOUETTE_SAMPLE = 5000
MIN_CUSTOMERS = 20
NEW_DAYS = 90.0


def build_segment_pipeline(k: int, random_state: int) -> Pipeline:
    return Pipeline([
        ("log", FunctionTransformer(np.log1p, feature_names_out="one-to-one")),
        ("scale", StandardScaler()),
        ("cluster", KMeans(n_clusters=k, n_init=10, random_state=random_state)),
    ])


def segment_inputs(features: pd.DataFrame) -> pd.DataFrame:
    """The clustering columns, money clipped at zero (refunds can exceed purchases)."""
    missing = [c for c in (*SEGMENT_COLUMNS, "monetary") if c not in features.columns]
    if missing:
        raise InvalidInputData(f"features lack the columns {missing}")
    return features[list(SEGMENT_COLUMNS)].astype(float).clip(lower=0.0)


def _profile_inputs(features: pd.DataFrame) -> pd.DataFrame:
    return features[[*SEGMENT_COLUMNS, "monetary"]].astype(float).clip(lower=0.0)


@dataclass(frozen=True)
class SegmentProfile:
    name: str
    clusters: tuple[int, ...]
    size: int
    share: float
    mean_recency_days: float
    mean_frequency: float
    mean_monetary: float
    mean_tenure_days: float


@dataclass
class SegmentModel:
    pipeline: Pipeline
    #: cluster index -> segment name
    names: list[str]
    profiles: list[SegmentProfile]
    as_of: dt.datetime
    silhouette: dict[int, float] = field(default_factory=dict)
    path: Path | None = None

    @property
    def k(self) -> int:
        return len(self.names)

    @property
    def validation(self) -> dict[str, Any]:
        """How the number of segments was chosen (the artifact's sidecar)."""
        return {"criterion": "silhouette (scaled log RFM + tenure)", "k": self.k,
                "silhouette": self.silhouette.get(self.k),
                "silhouette_by_k": {str(k): v for k, v in self.silhouette.items()}}

    def assign(self, features: pd.DataFrame) -> pd.Series:
        """Segment name per customer (same index as ``features``)."""
        if features.empty:
            return pd.Series([], dtype=object, index=features.index, name="segment")
        clusters = self.pipeline.predict(segment_inputs(features))
        return pd.Series([self.names[c] for c in clusters], index=features.index, name="segment")


def _percentile(values: np.ndarray, v: float) -> float:
    """Share of customers at or below ``v`` (mid-rank for ties)."""
    below = np.mean(values < v)
    equal = np.mean(values == v)
    return float(below + equal / 2)


def name_clusters(
    features: pd.DataFrame, clusters: np.ndarray, *, new_days: float = NEW_DAYS
) -> list[str]:
    """A people-facing name per cluster, from rules on its profile (see the module docstring)."""
    segment_inputs(features)  # checks the columns
    data = _profile_inputs(features)
    recency, frequency, monetary = (data[c].to_numpy()
                                    for c in ("recency_days", "frequency", "monetary"))
    k = int(clusters.max()) + 1
    stats = []
    for c in range(k):
        members = data[clusters == c]
        stats.append({
            "cluster": c,
            "recent": 1.0 - _percentile(recency, float(members["recency_days"].median())),
            "frequent": _percentile(frequency, float(members["frequency"].mean())),
            "valuable": _percentile(monetary, float(members["monetary"].median())),
            "tenure": float(members["tenure_days"].median()),
            "recency": float(members["recency_days"].median()),
        })
    names: dict[int, str] = {}
    for s in stats:
        if s["tenure"] <= new_days:
            names[s["cluster"]] = "new"
        elif s["recent"] >= 0.5:
            names[s["cluster"]] = "loyal" if s["frequent"] >= 0.5 else "promising"
        else:
            names[s["cluster"]] = "at risk" if s["frequent"] >= 0.5 else "hibernating"
    loyal = [s for s in stats if names[s["cluster"]] == "loyal"]
    if loyal:
        best = max(loyal, key=lambda s: s["frequent"] + s["valuable"])
        names[best["cluster"]] = "champions"
    sleeping = [s for s in stats if names[s["cluster"]] == "hibernating"]
    if len(sleeping) > 1:
        names[max(sleeping, key=lambda s: s["recency"])["cluster"]] = "lost"
    return [names[c] for c in range(k)]


def _profiles(
    features: pd.DataFrame, clusters: np.ndarray, names: list[str]
) -> list[SegmentProfile]:
    data = _profile_inputs(features)
    total = len(data)
    out = []
    for name in dict.fromkeys(names):
        ids = tuple(c for c, n in enumerate(names) if n == name)
        members = data[np.isin(clusters, ids)]
        out.append(SegmentProfile(
            name=name, clusters=ids, size=int(len(members)), share=len(members) / total,
            mean_recency_days=float(members["recency_days"].mean()),
            mean_frequency=float(members["frequency"].mean()),
            mean_monetary=float(members["monetary"].mean()),
            mean_tenure_days=float(members["tenure_days"].mean()),
        ))
    return sorted(out, key=lambda p: -p.size)


def fit_segments(
    features: pd.DataFrame, as_of: dt.datetime, *, random_state: int = 42,
    k_range: Iterable[int] = DEFAULT_K_RANGE, progress: bool = False,
) -> SegmentModel:
    """Choose ``k`` by silhouette, fit the pipeline, name the clusters (no persistence)."""
    data = segment_inputs(features)
    ks = [k for k in k_range if 2 <= k < len(data)]
    if len(data) < MIN_CUSTOMERS or not ks:
        raise NotEnoughData(
            f"segmentation needs at least {MIN_CUSTOMERS} customers with purchases; "
            f"found {len(data)}")
    scores: dict[int, float] = {}
    fitted: dict[int, Pipeline] = {}
    for k in tqdm(ks, desc="segments: trying k", disable=not progress):
        pipeline = build_segment_pipeline(k, random_state).fit(data)
        labels = pipeline.named_steps["cluster"].labels_
        if len(set(labels)) < 2:
            continue
        scaled = pipeline[:-1].transform(data)
        sample = SILHOUETTE_SAMPLE if len(data) > SILHOUETTE_SAMPLE else None
        scores[k] = float(silhouette_score(scaled, labels, sample_size=sample,
                                           random_state=random_state))
        fitted[k] = pipeline
    if not scores:
        raise NotEnoughData("the customers' purchase patterns are all alike: no segments to find")
    best = max(scores, key=lambda k: (round(scores[k], 4), -k))
    pipeline = fitted[best]
    clusters = pipeline.named_steps["cluster"].labels_
    names = name_clusters(features, clusters)
    log.info("segments: k=%s (silhouette %.3f) over %s customers", best, scores[best], len(data))
    profiles = _profiles(features, clusters, names)
    return SegmentModel(pipeline=pipeline, names=names, profiles=profiles, as_of=as_of,
                        silhouette=scores)


def train_segments(
    session: Session, settings: AnalyticsSettings, *, as_of: dt.datetime | None = None,
    k_range: Iterable[int] = DEFAULT_K_RANGE, progress: bool = False,
) -> SegmentModel:
    """Features from the CRM as of ``as_of`` (default: the end of the order data), fit, persist
    under ``settings.artifacts_dir``; returns the model with its ``path``."""
    as_of = as_of or data_end(session)
    features = customer_features(session, as_of)
    model = fit_segments(features, as_of, random_state=settings.random_state, k_range=k_range,
                         progress=progress)
    model.path = save_artifact(
        model.pipeline, settings.artifacts_dir, ARTIFACT_NAME,
        data_snapshot=snapshot(features, as_of),
        validation=model.validation,
        extra={"segments": {"names": model.names,
                            "profiles": [vars(p) for p in model.profiles]}},
    )
    return model


def load_segment_model(settings: AnalyticsSettings, path: Path | None = None) -> SegmentModel:
    """The newest persisted segment model (or the one at ``path``), checked against its sidecar."""
    artifact = load_artifact(path or latest_artifact_path(settings.artifacts_dir, ARTIFACT_NAME))
    sidecar: dict[str, Any] = artifact.sidecar
    try:
        names = list(sidecar["segments"]["names"])
        profiles = [SegmentProfile(**{**p, "clusters": tuple(p["clusters"])})
                    for p in sidecar["segments"]["profiles"]]
        silhouette = {int(k): float(v)
                      for k, v in sidecar["validation"]["silhouette_by_k"].items()}
        as_of = dt.datetime.fromisoformat(sidecar["data_snapshot"]["as_of"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(
            f"{artifact.path}: the sidecar lacks the segment names ({exc})") from exc
    if not isinstance(artifact.model, Pipeline) or len(names) != artifact.model[-1].n_clusters:
        raise ArtifactError(f"{artifact.path}: not a segment model")
    return SegmentModel(pipeline=artifact.model, names=names, profiles=profiles, as_of=as_of,
                        silhouette=silhouette, path=artifact.path)


def assign_segments(session: Session, model: SegmentModel, *, as_of: dt.datetime | None = None,
                    purchases: pd.DataFrame | None = None) -> pd.Series:
    """Segment name per customer with a purchase before ``as_of`` (default: the end of the
    order data); index: public id. ``purchases``: ``transactions(session, as_of)`` when the
    caller has already read them."""
    return model.assign(customer_features(session, as_of or data_end(session),
                                          purchases=purchases))
