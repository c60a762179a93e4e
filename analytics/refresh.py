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
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from analytics.errors import AnalyticsError, NotEnoughData
from analytics.settings import AnalyticsSettings
from crm_connector import CrmError, CrmSettings, create_db_engine, create_session_factory
from crm_connector import write_transaction

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
    with write_transaction(sessions) as session:
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
        client = Client(scheduler, timeout="30s", set_as_default=False)
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
