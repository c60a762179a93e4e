"""What `crmbot.runtime.process_env` gives the Rasa server and the action server."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_connector import CrmSettings
from crmbot.runtime import lock_store_path, process_env
from crmbot.settings import PlatformSettings


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SANIC_WORKERS", "OMP_NUM_THREADS", "TF_INTRA_OP_PARALLELISM_THREADS",
                 "TF_INTER_OP_PARALLELISM_THREADS"):
        monkeypatch.delenv(name, raising=False)


def settings(tmp_path: Path, **kwargs: object) -> tuple[PlatformSettings, CrmSettings]:
    platform = PlatformSettings(_env_file=None, project_root=tmp_path, **kwargs)  # type: ignore[arg-type]
    crm = CrmSettings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'var' / 'crm.sqlite'}")
    return platform, crm


@pytest.mark.usefixtures("clean_environ")
def test_rasa_serves_with_several_workers_sharing_one_lock_file(tmp_path: Path) -> None:
    platform, crm = settings(tmp_path, rasa_workers=3)
    env = process_env(platform, crm, rasa=True)

    assert env["SANIC_WORKERS"] == "3"
    assert env["RASA_LOCK_DB"] == str(tmp_path / "var" / "crm-rasa-locks.sqlite")
    assert env["TRACKER_DB"] == str(tmp_path / "var" / "crm.sqlite")
    # one thread per numeric operation in each worker
    assert env["OMP_NUM_THREADS"] == env["TF_INTRA_OP_PARALLELISM_THREADS"] == "1"
    assert env["TF_INTER_OP_PARALLELISM_THREADS"] == "1"


@pytest.mark.usefixtures("clean_environ")
def test_training_keeps_the_libraries_thread_pools(tmp_path: Path) -> None:
    platform, crm = settings(tmp_path)
    env = process_env(platform, crm, rasa=True, serving=False)

    assert "OMP_NUM_THREADS" not in env and "TF_INTRA_OP_PARALLELISM_THREADS" not in env


@pytest.mark.usefixtures("clean_environ")
def test_the_action_server_gets_one_thread_but_no_tensorflow_settings(tmp_path: Path) -> None:
    platform, crm = settings(tmp_path)
    env = process_env(platform, crm, rasa=False)

    assert env["OMP_NUM_THREADS"] == "1"
    assert "TF_INTRA_OP_PARALLELISM_THREADS" not in env and "SANIC_WORKERS" not in env


def test_the_calling_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANIC_WORKERS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    platform, crm = settings(tmp_path)
    env = process_env(platform, crm, rasa=True)

    assert (env["SANIC_WORKERS"], env["OMP_NUM_THREADS"]) == ("1", "2")


def test_locks_of_a_server_database_live_in_var(tmp_path: Path) -> None:
    platform = PlatformSettings(_env_file=None, project_root=tmp_path)
    crm = CrmSettings(_env_file=None, database_url="postgresql+psycopg://u@127.0.0.1:5432/test")

    assert lock_store_path(platform, crm) == tmp_path / "var" / "rasa-locks.sqlite"


def test_worker_count_is_checked() -> None:
    with pytest.raises(ValueError, match="rasa_workers"):
        PlatformSettings(_env_file=None, rasa_workers=0)
