"""``refresh`` on a local Dask cluster (over TCP, as ``--scheduler tcp://HOST:PORT``) gives the
same results as in-process, on two copies of one seeded database."""

from __future__ import annotations

import datetime as dt
import re
import shutil

import pytest

from analytics import AnalyticsSettings
from analytics.errors import AnalyticsError
from analytics.kpis import conversation_kpis
from analytics.refresh import PIPELINE_STEP, refresh, validation_headline
from analytics.schema import upgrade_analytics
from crm_connector import CrmSettings, create_db_engine, create_session_factory, upgrade_schema
from crm_connector import read_transaction
from crm_connector.demo import DemoConfig, seed_demo_data
from tests.analytics.snapshots import analytics_snapshot
from tests.analytics.tracker_rows import Tracker

AS_OF = dt.date(2026, 11, 22)


class Bar:
    """Records what ``refresh`` reports to its progress bar."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.closed = total, 0, False

    def update(self, n: int) -> None:
        self.done += n

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        self.closed = True


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("refresh") / "seeded.sqlite"
    engine = create_db_engine(CrmSettings(database_url=f"sqlite:///{path}"))
    upgrade_schema(engine)
    upgrade_analytics(engine)
    with create_session_factory(engine).begin() as session:
        seed_demo_data(session, DemoConfig(as_of=AS_OF, customers=120, products=60, orders=800))
    Tracker(engine, "a").faq("delivery time?", "How long does delivery take?")
    (Tracker(engine, "b").user("I want a person", "human_handoff").action("action_handoff")
     .bot("A colleague will take over.").pause())
    (Tracker(engine, "c").user("gift cards?", "nlu_fallback", 0.2)
     .action("action_default_fallback").bot("Could you rephrase?"))
    engine.dispose()
    return str(path)


def _copy(seeded: str, tmp_path, name: str) -> tuple[CrmSettings, AnalyticsSettings]:  # type: ignore[no-untyped-def]
    target = tmp_path / f"{name}.sqlite"
    shutil.copy(seeded, target)
    return (CrmSettings(database_url=f"sqlite:///{target}"),
            AnalyticsSettings(artifacts_dir=tmp_path / f"{name}-models", redaction_key="k"))


def _tables(crm: CrmSettings):  # type: ignore[no-untyped-def]
    engine = create_db_engine(crm)
    try:
        with read_transaction(create_session_factory(engine)) as session:
            snapshot = analytics_snapshot(session)
            # When each run happened differs, of course; where it got to must not.
            snapshot["analytics_watermark"] = [row[:3] for row in snapshot["analytics_watermark"]]
            return snapshot, conversation_kpis(session).as_dict()
    finally:
        engine.dispose()


def test_dask_cluster_gives_the_same_results_as_in_process(seeded, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dask.distributed import LocalCluster

    crm_a, settings_a = _copy(seeded, tmp_path, "local")
    crm_b, settings_b = _copy(seeded, tmp_path, "dask")
    bars: list[Bar] = []

    def progress(total: int) -> Bar:
        bars.append(Bar(total))
        return bars[-1]

    local = refresh(crm_a, settings_a, progress=progress)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                      dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        remote = refresh(crm_b, settings_b, scheduler=cluster.scheduler_address,
                         progress=progress)

    assert local.where == "in-process" and remote.where.startswith("tcp://")
    assert [s.comparable() for s in remote.steps] == [s.comparable() for s in local.steps]
    pipeline = local.step(PIPELINE_STEP)
    assert pipeline.status == "done" and pipeline.detail["turns_added"] == 3
    assert all(s.status in {"done", "skipped"} for s in local.steps), local.steps
    # The same analytics rows and KPIs in both databases; models written by the workers.
    assert _tables(crm_a) == _tables(crm_b)
    for step in remote.steps:
        if step.status == "done" and "artifact" in step.detail:
            assert str(settings_b.artifacts_dir) in step.detail["artifact"]
    assert all(b.closed and b.done == b.total for b in bars)
    # Each trained model's validation score in a few words (what `crmbot analytics refresh` prints).
    headlines = {s.name: validation_headline(s) for s in local.steps}
    assert re.fullmatch(r"silhouette 0\.\d\d", headlines["segments"]), headlines
    assert re.fullmatch(r"ROC-AUC 0\.\d{3} forward in time", headlines["churn"]), headlines
    assert re.fullmatch(r"backtest WAPE [\d.]+% \(mean of last 4 [\d.]+%, last week [\d.]+%\)",
                        headlines["demand"]), headlines
    assert re.fullmatch(r"backtest hit rate@10 [01]\.\d\d \(own most-bought [01]\.\d\d, "
                        r"popularity [01]\.\d\d\)", headlines["recommendations"]), headlines
    assert re.fullmatch(r"holdout 26 weeks: [\d,]+ purchases predicted, [\d,]+ made \(MAE per "
                        r"customer [\d.]+, past rate continued [\d.]+\)", headlines["clv"]), headlines
    assert headlines[PIPELINE_STEP] == ""  # loads data, no model to score


def test_unreachable_scheduler_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    crm = CrmSettings(database_url=f"sqlite:///{tmp_path / 'x.sqlite'}")
    settings = AnalyticsSettings(artifacts_dir=tmp_path / "m", redaction_key="k",
                                 scheduler_timeout=2)
    from tests.support.rasa_server import free_port

    with pytest.raises(AnalyticsError, match="cannot reach the Dask scheduler"):
        refresh(crm, settings, scheduler=f"tcp://127.0.0.1:{free_port()}")
    with pytest.raises(AnalyticsError, match="unknown refresh steps"):
        refresh(crm, settings, only=["nonsense"])
