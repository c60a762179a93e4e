"""``crmbot analytics refresh``: the conversation pipeline, then the customer models.

Steps run in order: first the incremental conversation pipeline (``analytics.pipeline``; the
churn model reads conversation signals), then every customer model that is available, each in
its own transaction. A model is found by name (``TRAINING_STEPS``): a module that is not there
yet, or data too thin for a model (``NotEnoughData``), makes that step ``skipped`` with the
reason, and the other steps still run.

Where they run: in this process by default; with ``scheduler="tcp://HOST:PORT"`` every step is
a task on that Dask cluster (``dask.distributed.Client``): the pipeline first, then the models
in parallel. A task gets only settings (picklable) and opens its own database connection, so a
worker needs the project installed and access to the database and the artifacts folder.

Kept fresh (``refresh_every``, ``crmbot analytics refresh --every SECONDS``): a tick every
SECONDS runs the pipeline, and a customer model only when it is due (``due_steps``: its newest
artifact is older than ``ANALYTICS_RETRAIN_HOURS``, or there is none). A tick that fails is
reported and the next one tries again; the loop ends only when ``stop`` is set.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from analytics.artifacts import latest_artifact_path
from analytics.errors import AnalyticsError, ArtifactError, NotEnoughData
from analytics.pipeline import data_as_of
from analytics.settings import AnalyticsSettings
from crm_connector import CrmError, CrmSettings, create_db_engine, create_session_factory
from crm_connector import read_transaction, write_transaction

log = logging.getLogger(__name__)

PIPELINE_STEP = "conversations"
#: step name -> "module:function"; the function takes (session, settings) and returns a model.
TRAINING_STEPS: dict[str, str] = {
    "segments": "analytics.segments:train_segments",
    "churn": "analytics.churn:train_churn",
    "clv": "analytics.clv:fit_clv",
    "demand": "analytics.demand:train_demand",
    "recommendations": "analytics.recommend:train_recommender",
}
#: training step -> the artifact it saves, ``<name>-<date>.skops`` (``ARTIFACT_NAME`` in
#: segments, churn, clv and recommend; ``save_demand_model`` in demand).
STEP_ARTIFACTS: dict[str, str] = {
    "segments": "segments",
    "churn": "churn",
    "clv": "clv",
    "demand": "demand",
    "recommendations": "recommendations",
}


@dataclass
class StepResult:
    name: str
    status: str  # done | skipped | failed
    detail: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    seconds: float = 0.0

    def comparable(self) -> tuple[str, str, dict[str, Any], str]:
        """What two runs on the same data must agree on (no timings, no file paths)."""
        detail = {k: v for k, v in self.detail.items() if k not in {"artifact"}}
        return self.name, self.status, detail, self.message


@dataclass
class RefreshResult:
    steps: list[StepResult]
    where: str

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)


def training_function(spec: str) -> Callable[..., Any] | None:
    """The function named by ``module:function``, or None when it does not exist (yet)."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    return getattr(module, attribute, None)


def available_steps(only: list[str] | None = None) -> list[str]:
    names = [PIPELINE_STEP, *TRAINING_STEPS]
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise AnalyticsError(f"unknown refresh steps {unknown}; choose from {names}")
        names = [n for n in names if n in only]
    return names


def run_step(name: str, crm: CrmSettings, settings: AnalyticsSettings) -> StepResult:
    """Run one step with its own engine and transaction (this is what a Dask task runs)."""
    started = time.perf_counter()
    engine = create_db_engine(crm)
    try:
        sessions = create_session_factory(engine)
        result = _run(name, sessions, settings)
    except NotEnoughData as exc:
        result = StepResult(name, "skipped", message=str(exc))
    except (AnalyticsError, CrmError) as exc:
        log.error("refresh step %s failed: %s", name, type(exc).__name__)
        result = StepResult(name, "failed", message=f"{type(exc).__name__}: {exc}")
    finally:
        engine.dispose()
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _run(name: str, sessions: Any, settings: AnalyticsSettings) -> StepResult:
    if name == PIPELINE_STEP:
        from analytics.pipeline import run_pipeline

        with write_transaction(sessions) as session:
            outcome = run_pipeline(session, settings)
        return StepResult(name, "done", detail=outcome.as_dict())
    train = training_function(TRAINING_STEPS[name])
    if train is None:
        return StepResult(name, "skipped",
                          message=f"not available yet ({TRAINING_STEPS[name]} is missing)")
    # A model only reads the CRM (and writes its artifact): a read transaction, so that on
    # SQLite the chat's writes do not wait for the write lock while it trains.
    with read_transaction(sessions) as session:
        model = train(session, settings)
    return StepResult(name, "done", detail=_describe(model))


def _describe(model: Any) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    path = getattr(model, "path", None)
    if path is not None:
        detail["artifact"] = str(path)
    for attribute in ("validation", "k", "names"):
        value = getattr(model, attribute, None)
        if isinstance(value, dict | list | int | float | str):
            detail[attribute] = value
    return detail


def validation_headline(step: StepResult) -> str:
    """The trained model's validation score in a few words (``""`` when it has none): what
    ``crmbot analytics refresh`` prints next to each model."""
    v = step.detail.get("validation")
    if not isinstance(v, dict) or not v:
        return ""
    try:
        if "skipped" in v:
            return f"not validated: {v['skipped']}"
        if "roc_auc" in v:
            return f"ROC-AUC {v['roc_auc']:.3f} forward in time"
        if "silhouette" in v:
            return f"silhouette {v['silhouette']:.2f}"
        if {"model", "mean_last_4", "last_week"} <= set(v):  # the demand backtest's WAPE
            return (f"backtest WAPE {v['model']:.1%} (mean of last 4 {v['mean_last_4']:.1%}, "
                    f"last week {v['last_week']:.1%})")
        if isinstance(v.get("holdout"), dict):  # lifetime value: analytics.clv.holdout_check
            h = v["holdout"]
            if "skipped" in h:
                return f"not validated: {h['skipped']}"
            return (f"holdout {h['holdout_weeks']:g} weeks: {h['predicted_purchases']:,.0f} "
                    f"purchases predicted, {h['actual_purchases']:,} made (MAE per customer "
                    f"{h['mae']:.2f}, past rate continued {h['naive_mae']:.2f})")
        if str(v.get("metric", "")).startswith("hit_rate@"):
            return (f"backtest {v['metric'].replace('_', ' ')} {v['model']:.2f} (own most-bought "
                    f"{v['own_most_bought']:.2f}, popularity {v['popularity']:.2f})")
    except (KeyError, TypeError, ValueError):  # a sidecar of another version: say nothing
        return ""
    return ""


def refresh(
    crm: CrmSettings, settings: AnalyticsSettings, *, scheduler: str | None = None,
    only: list[str] | None = None, progress: Callable[[int], Any] | None = None,
) -> RefreshResult:
    """Run the steps (see the module docstring); ``progress(total)`` returns a bar with
    ``update(n)``, ``set_postfix_str(s)`` and ``close()`` (tqdm's interface)."""
    names = available_steps(only)
    scheduler = scheduler or settings.scheduler
    bar = progress(len(names)) if progress else None
    try:
        if scheduler:
            steps = _on_dask(names, crm, settings, scheduler, bar)
            where = scheduler
        else:
            steps = []
            for name in names:
                if bar is not None:
                    bar.set_postfix_str(name)
                steps.append(run_step(name, crm, settings))
                if bar is not None:
                    bar.update(1)
            where = "in-process"
    finally:
        if bar is not None:
            bar.close()
    for step in steps:
        log.info("refresh %s: %s %s", step.name, step.status, step.message)
    return RefreshResult(steps=steps, where=where)


def _on_dask(names: list[str], crm: CrmSettings, settings: AnalyticsSettings, scheduler: str,
             bar: Any) -> list[StepResult]:
    from dask.distributed import Client, as_completed

    try:
        client = Client(scheduler, timeout=settings.scheduler_timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise AnalyticsError(
            f"cannot reach the Dask scheduler at {scheduler} ({type(exc).__name__}); "
            "start one with `dask scheduler` or leave --scheduler out to run in-process"
        ) from exc
    results: dict[str, StepResult] = {}
    try:
        if PIPELINE_STEP in names:  # the models read what the pipeline writes
            results[PIPELINE_STEP] = client.submit(
                run_step, PIPELINE_STEP, crm, settings, pure=False,
                key=f"refresh-{PIPELINE_STEP}-{time.time_ns()}").result()
            if bar is not None:
                bar.update(1)
        futures = {client.submit(run_step, name, crm, settings, pure=False,
                                 key=f"refresh-{name}-{time.time_ns()}"): name
                   for name in names if name != PIPELINE_STEP}
        for future in as_completed(list(futures), loop=client.loop):
            results[futures[future]] = future.result()
            if bar is not None:
                bar.set_postfix_str(futures[future])
                bar.update(1)
    finally:
        client.close()
    return [results[name] for name in names]


# --- kept fresh: a tick every few seconds ------------------------------------------------------

def trained_at(artifacts_dir: Path, name: str) -> dt.datetime | None:
    """When the newest ``<name>-<date>.skops`` in ``artifacts_dir`` was saved (its sidecar's
    ``created_at``, UTC); None when there is none, or its sidecar cannot say (a retrain writes
    a good one)."""
    try:
        path = latest_artifact_path(artifacts_dir, name)
    except ArtifactError:
        return None
    try:
        when = dt.datetime.fromisoformat(json.loads(path.with_suffix(".json").read_text())
                                         ["created_at"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("artifact %s: no time in its sidecar (%s)", path.name, type(exc).__name__)
        return None
    return when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)


def models_trained_at(artifacts_dir: Path) -> dt.datetime | None:
    """When the newest customer model was saved; None before the first one."""
    times = [t for t in (trained_at(artifacts_dir, n) for n in STEP_ARTIFACTS.values()) if t]
    return max(times, default=None)


def due_steps(
    steps: Iterable[str], artifacts_dir: Path, now: dt.datetime, retrain_hours: float, *,
    last_attempt: Mapping[str, dt.datetime] | None = None,
) -> list[str]:
    """The steps a tick runs, in the order given: the conversation pipeline always; a training
    step when its newest artifact is older than ``retrain_hours`` at ``now`` (UTC), or there is
    none. ``last_attempt`` (step -> when it last ran without failing) counts like an artifact,
    so a model the data is too thin for is tried again only after ``retrain_hours``."""
    if not retrain_hours > 0:
        raise AnalyticsError(f"retrain hours must be above 0, not {retrain_hours} "
                             "(ANALYTICS_RETRAIN_HOURS)")
    oldest_fresh = now - dt.timedelta(hours=retrain_hours)
    attempts = last_attempt or {}
    due = []
    for name in steps:
        if name != PIPELINE_STEP:
            times = [t for t in (trained_at(artifacts_dir, STEP_ARTIFACTS.get(name, name)),
                                 attempts.get(name)) if t is not None]
            if times and max(times) > oldest_fresh:
                continue
        due.append(name)
    return due


@dataclass
class Tick:
    """One round of ``refresh_every``: the steps it ran, those not due, or why it failed."""

    number: int
    started_at: dt.datetime
    steps: list[StepResult] = field(default_factory=list)
    not_due: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


def refresh_every(
    crm: CrmSettings, settings: AnalyticsSettings, *, every: float, stop: threading.Event,
    on_tick: Callable[[Tick], Any], only: list[str] | None = None, scheduler: str | None = None,
    prepare: Callable[[], Any] | None = None,
) -> int:
    """Run a tick every ``every`` seconds (the next one at once when a tick took longer) until
    ``stop`` is set; ``on_tick(tick)`` after each. ``prepare()`` (e.g. the analytics schema
    upgrade) runs at the start of a tick until it has succeeded once. Returns the ticks run."""
    if not every > 0:
        raise AnalyticsError(f"the refresh interval must be above 0 seconds, not {every}")
    names = available_steps(only)
    last_attempt: dict[str, dt.datetime] = {}
    number = 0
    while not stop.is_set():
        number += 1
        started = time.monotonic()
        tick = Tick(number, dt.datetime.now(dt.UTC))
        try:
            if prepare is not None:
                prepare()
                prepare = None
            run = due_steps(names, settings.artifacts_dir, tick.started_at,
                            settings.retrain_hours, last_attempt=last_attempt)
            tick.not_due = [n for n in names if n not in run]
            if run:
                tick.steps = refresh(crm, settings, scheduler=scheduler, only=run).steps
        except (AnalyticsError, CrmError, OSError) as exc:
            log.warning("refresh tick %d failed: %s", number, type(exc).__name__)
            tick.error = f"{type(exc).__name__}: {exc}"
        except SQLAlchemyError as exc:  # its message may quote SQL parameters: the class only
            log.warning("refresh tick %d failed: %s", number, type(exc).__name__)
            tick.error = f"{type(exc).__name__}: the database is unavailable"
        for step in tick.steps:
            if step.name != PIPELINE_STEP and step.status != "failed":
                last_attempt[step.name] = tick.started_at
        tick.seconds = round(time.monotonic() - started, 3)
        on_tick(tick)
        stop.wait(max(0.0, every - (time.monotonic() - started)))
    return number


@dataclass(frozen=True)
class Freshness:
    """How fresh the manager dashboard's numbers are; None: never."""

    conversations_at: dt.datetime | None  # the last pipeline run (``pipeline.data_as_of``)
    models_at: dt.datetime | None  # the newest customer model saved


def data_freshness(session: Session, settings: AnalyticsSettings) -> Freshness:
    return Freshness(data_as_of(session, settings), models_trained_at(settings.artifacts_dir))
