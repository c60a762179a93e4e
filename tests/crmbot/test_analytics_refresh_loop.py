"""``crmbot analytics refresh --every``: which steps a tick runs (the pipeline always, a customer
model when its newest artifact is older than ANALYTICS_RETRAIN_HOURS or missing), and the loop
as the real command on a real SQLite database: a line per tick, a failing tick reported and
retried, SIGTERM/SIGINT ending it with exit code 0."""

from __future__ import annotations

import datetime as dt
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from analytics import AnalyticsError, AnalyticsSettings, latest_artifact_path, save_artifact
from analytics.refresh import (
    PIPELINE_STEP,
    TRAINING_STEPS,
    due_steps,
    models_trained_at,
    refresh,
    trained_at,
)
from analytics.schema import upgrade_analytics
from crm_connector import CrmSettings, create_db_engine, create_session_factory
from crm_connector.demo import DemoConfig, seed_demo_data
from crmbot.cli import main
from crmbot.cmd_analytics import _set_from_signal_handler
from tests.analytics.tracker_rows import Tracker

PROJECT = Path(__file__).resolve().parents[2]
ALL_STEPS = [PIPELINE_STEP, *TRAINING_STEPS]
#: A tick comes every 10 s (the smallest --every); the first waits for Python to start too.
TICK_WAIT = 60.0


def _saved(directory: Path, name: str) -> dt.datetime:
    """Save a tiny artifact as a training step would; return when it was saved (UTC)."""
    save_artifact({"weights": [1, 2, 3]}, directory, name, data_snapshot={"rows": 3},
                  validation={})
    when = trained_at(directory, name)
    assert when is not None and when.tzinfo is not None
    return when


# --- which steps are due ---------------------------------------------------------------------

def test_without_artifacts_every_step_is_due(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    assert due_steps(ALL_STEPS, tmp_path / "none-yet", now, 24) == ALL_STEPS
    assert models_trained_at(tmp_path / "none-yet") is None


def test_a_fresh_model_is_not_due_an_old_one_is(tmp_path: Path) -> None:
    saved = _saved(tmp_path, "churn")
    assert models_trained_at(tmp_path) == saved

    an_hour_later = saved + dt.timedelta(hours=1)
    assert due_steps(ALL_STEPS, tmp_path, an_hour_later, 24) == [
        PIPELINE_STEP, "segments", "clv", "demand", "recommendations"]
    # The conversation pipeline runs in every tick, fresh models or not.
    assert due_steps([PIPELINE_STEP, "churn"], tmp_path, an_hour_later, 24) == [PIPELINE_STEP]
    assert due_steps(["churn"], tmp_path, an_hour_later, 24) == []
    assert due_steps(["churn"], tmp_path, saved + dt.timedelta(hours=25), 24) == ["churn"]
    assert due_steps(["churn"], tmp_path, an_hour_later, 0.5) == ["churn"]


def test_a_newest_model_without_a_readable_sidecar_is_retrained(tmp_path: Path) -> None:
    """The loaders use the newest artifact and refuse it without its sidecar: so does this."""
    saved = _saved(tmp_path, "segments")
    save_artifact({"weights": [0]}, tmp_path, "segments", data_snapshot={}, validation={},
                  when=dt.date(2020, 1, 1))  # an older one, readable
    latest_artifact_path(tmp_path, "segments").with_suffix(".json").write_text("{not json")
    assert trained_at(tmp_path, "segments") is None
    assert due_steps(["segments"], tmp_path, saved + dt.timedelta(minutes=5), 24) == [
        "segments"]


def test_a_step_tried_recently_waits_even_without_an_artifact(tmp_path: Path) -> None:
    """Data too thin for a model saves nothing: it is not tried again at every tick."""
    now = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    tried = {"clv": now - dt.timedelta(hours=2), "demand": now - dt.timedelta(hours=30)}
    assert due_steps(["clv", "demand"], tmp_path, now, 24, last_attempt=tried) == ["demand"]


def test_retrain_hours_must_be_above_zero(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    for hours in (0, -1, float("nan")):
        with pytest.raises(AnalyticsError, match="ANALYTICS_RETRAIN_HOURS"):
            due_steps(ALL_STEPS, tmp_path, now, hours)
    assert AnalyticsSettings().retrain_hours == 24
    assert AnalyticsSettings(retrain_hours=0.5).retrain_hours == 0.5
    for bad in (0, -3, float("inf"), 24 * 400):
        with pytest.raises(ValidationError):
            AnalyticsSettings(retrain_hours=bad)

    result = CliRunner().invoke(main, ["analytics", "refresh", "--every", "60"],
                                env={"ANALYTICS_RETRAIN_HOURS": "0"})
    assert result.exit_code == 1
    assert "ANALYTICS_RETRAIN_HOURS: Input should be greater than 0" in result.output
    too_often = CliRunner().invoke(main, ["analytics", "refresh", "--every", "5"])
    assert too_often.exit_code == 2 and "--every" in too_often.output


def test_a_signal_while_the_main_thread_holds_the_stop_events_lock_still_stops() -> None:
    """The signal handler runs in the main thread, possibly inside ``stop.wait()`` while that
    thread holds the event's lock: setting the event right there never returned (a loop that
    ignored SIGINT). The stop arrives once the lock is let go."""
    stop = threading.Event()
    with stop._cond:  # noqa: SLF001 - the lock Event.wait() holds around its checks
        _set_from_signal_handler(stop)  # returns although the lock is taken
        assert not stop.is_set()  # setting needs that lock
    assert stop.wait(10)


@pytest.mark.slow
def test_every_model_trained_is_found_by_its_artifact(sqlite_settings: CrmSettings,
                                                      tmp_path: Path) -> None:
    """After one real refresh no model is due: each step's artifact is found under its name."""
    engine = create_db_engine(sqlite_settings)
    with create_session_factory(engine).begin() as session:
        seed_demo_data(session, DemoConfig(as_of=dt.date(2026, 11, 22), customers=120,
                                           products=60, orders=800))
    engine.dispose()
    upgrade_analytics(engine)
    engine.dispose()
    settings = AnalyticsSettings(artifacts_dir=tmp_path / "models", redaction_key="k")
    result = refresh(sqlite_settings, settings)
    assert [s.status for s in result.steps] == ["done"] * len(ALL_STEPS), result.steps
    now = dt.datetime.now(dt.UTC)
    assert due_steps(ALL_STEPS, settings.artifacts_dir, now, 24) == [PIPELINE_STEP]
    trained = models_trained_at(settings.artifacts_dir)
    assert trained is not None and now - trained < dt.timedelta(minutes=5)


# --- the loop as a real process --------------------------------------------------------------

class Loop:
    """``crmbot analytics refresh --every 10 --only conversations`` with its stdout lines."""

    def __init__(self, crm: CrmSettings, artifacts: Path, cwd: Path) -> None:
        env = {**os.environ, "CRM_DATABASE_URL": crm.database_url,
               "ANALYTICS_ARTIFACTS_DIR": str(artifacts), "ANALYTICS_REDACTION_KEY": "k-test"}
        self.process = subprocess.Popen(
            [str(PROJECT / ".venv" / "bin" / "python"), "-m", "crmbot", "analytics", "refresh",
             "--every", "10", "--only", PIPELINE_STEP],
            env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.err: list[str] = []
        self.readers = [threading.Thread(target=self._read, daemon=True),
                        threading.Thread(target=lambda: self.err.extend(self.process.stderr),
                                         daemon=True)]
        for reader in self.readers:
            reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self.lines.put(line.rstrip("\n"))

    def next_line(self) -> str:
        try:
            return self.lines.get(timeout=TICK_WAIT)
        except queue.Empty:
            pytest.fail(f"no line from the loop in {TICK_WAIT} s; stderr: {''.join(self.err)}")

    def stop(self, sig: signal.Signals) -> tuple[int, float]:
        """Send ``sig``; the exit code and how long it took to exit."""
        sent = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(timeout=30)
        took = time.monotonic() - sent
        for reader in self.readers:  # the rest of its output
            reader.join(timeout=10)
        return code, took

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def database(sqlite_settings: CrmSettings) -> CrmSettings:
    """The CRM's migrated SQLite file with one FAQ conversation in Rasa's tracker table."""
    engine = create_db_engine(sqlite_settings)
    Tracker(engine, "s1").faq("delivery time?", "How long does delivery take?")
    engine.dispose()
    return sqlite_settings


@pytest.fixture
def loop(database: CrmSettings, tmp_path: Path) -> Iterator[Loop]:
    running = Loop(database, tmp_path / "models", tmp_path)
    yield running
    running.kill()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_loop_prints_a_line_per_tick_and_stops_on_a_signal(loop: Loop,
                                                               sig: signal.Signals) -> None:
    first = loop.next_line()
    assert " UTC refresh tick 1 " in first
    assert f"{PIPELINE_STEP} done" in first and "events_read 4" in first
    assert "turns_added 1" in first and "not due" not in first  # --only: no models

    code, seconds = loop.stop(sig)  # during the sleep before tick 2
    assert code == 0, "".join(loop.err)
    assert seconds < 9  # during the 10 s sleep: it did not wait for the next tick
    assert loop.next_line() == "analytics refresh stopped after 1 tick"


@pytest.mark.slow
def test_a_failing_tick_is_reported_and_the_loop_goes_on(loop: Loop, database: CrmSettings,
                                                         tmp_path: Path) -> None:
    assert f"{PIPELINE_STEP} done" in loop.next_line()
    path = Path(database.database_url.removeprefix("sqlite:///"))
    kept = tmp_path / "kept.sqlite"
    path.rename(kept)  # between ticks: no connection is open
    path.write_bytes(b"this is not an SQLite database\n" * 200)

    failed = loop.next_line()
    assert " refresh tick 2 " in failed
    assert f"{PIPELINE_STEP} failed" in failed and "DatabaseUnavailable" in failed
    assert loop.process.poll() is None  # still running

    kept.replace(path)  # the database is back
    recovered = loop.next_line()
    assert " refresh tick 3 " in recovered
    assert f"{PIPELINE_STEP} done" in recovered and "nothing new" in recovered

    code, seconds = loop.stop(signal.SIGTERM)
    assert code == 0 and seconds < 9  # not after the next 10 s tick
    assert loop.next_line() == "analytics refresh stopped after 3 ticks"
    assert "refresh step conversations failed: DatabaseUnavailable" in "".join(loop.err)
