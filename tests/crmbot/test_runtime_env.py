"""What `crmbot.runtime.process_env` gives the Rasa server and the action server."""

from __future__ import annotations

import shlex
import shutil
import socket
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from actions.settings import ActionSettings
from analytics import AnalyticsSettings
from crm_connector import CrmSettings, describe_settings_error
from crmbot.cli import main
from crmbot.cmd_run import consumer_env, platform_processes
from crmbot.runtime import (
    RuntimeProblem,
    check_services_reachable,
    lock_store_path,
    process_env,
    rasa_endpoints,
    rasa_server_command,
    tracker_store_env,
)
from crmbot.settings import PlatformSettings
from knowledge.settings import KnowledgeSettings
from tests.support.rasa_server import free_port
from web import WebSettings


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


# --- the Rasa server's endpoints: embedded default or production services -----------------

REPO = Path(__file__).resolve().parents[2]


def test_the_embedded_default_uses_bot_endpoints_as_it_is(tmp_path: Path) -> None:
    platform, crm = settings(tmp_path)

    assert rasa_endpoints(platform) == tmp_path / "bot" / "endpoints.yml"
    assert not (tmp_path / "var" / "rasa-endpoints.yml").exists()
    assert tracker_store_env(crm)["TRACKER_URL"] == ""  # SQLite: dialect and file only


def test_a_postgresql_tracker_store_gets_the_whole_url() -> None:
    crm = CrmSettings(_env_file=None,
                      database_url="postgresql+psycopg://bot:s%40cret@db.example:6543/crm")

    env = tracker_store_env(crm)

    assert env["TRACKER_DIALECT"] == "postgresql"
    # Rasa connects with psycopg2: the plain postgresql driver name, password kept
    assert env["TRACKER_URL"] == "postgresql://bot:s%40cret@db.example:6543/crm"


@pytest.mark.usefixtures("clean_environ")
def test_redis_and_rabbitmq_go_into_an_endpoints_file_without_their_passwords(
    tmp_path: Path,
) -> None:
    (tmp_path / "bot").mkdir()
    shutil.copy(REPO / "bot" / "endpoints.yml", tmp_path / "bot" / "endpoints.yml")
    platform, crm = settings(
        tmp_path, rasa_lock_store_url="rediss://:red%2Fpass@cache.example:6380/3",
        rasa_event_broker_url="amqp://bot:rab%40bit@mq.example/support",
        rasa_event_queue="events_eu")

    path = rasa_endpoints(platform)
    env = process_env(platform, crm, rasa=True)

    assert path == tmp_path / "var" / "rasa-endpoints.yml"
    text = path.read_text(encoding="utf-8")
    assert "red" + "/pass" not in text and "rab" not in text  # passwords only in the env
    endpoints = yaml.safe_load(text)
    base = yaml.safe_load((REPO / "bot" / "endpoints.yml").read_text(encoding="utf-8"))
    assert endpoints["action_endpoint"] == base["action_endpoint"]
    assert endpoints["tracker_store"] == base["tracker_store"]
    assert endpoints["lock_store"] == {
        "type": "redis", "url": "cache.example", "port": 6380, "db": 3, "use_ssl": True,
        "key_prefix": "crmbot", "password": "${RASA_LOCK_STORE_PASSWORD}"}
    assert endpoints["event_broker"] == {
        "type": "pika", "url": "amqp://mq.example/support", "port": 5672, "username": "bot",
        "password": "${RASA_EVENT_BROKER_PASSWORD}", "queues": ["events_eu"],
        "exchange_name": "rasa-exchange"}
    # Rasa fills in ${VAR} only in plain (unquoted) YAML scalars
    assert "password: ${RASA_LOCK_STORE_PASSWORD}\n" in text
    assert env["RASA_LOCK_STORE_PASSWORD"] == "red/pass"  # redis-py takes it as it is
    assert env["RASA_EVENT_BROKER_PASSWORD"] == "rab%40bit"  # Rasa puts it into an AMQP URL
    assert "RASA_LOCK_STORE_PASSWORD" not in process_env(platform, crm, rasa=False)
    assert str(path) in rasa_server_command(
        platform.model_copy(update={"rasa_venv": REPO / ".venv-rasa"}), tmp_path / "m.tar.gz")


@pytest.mark.parametrize(("name", "value"), [
    ("rasa_lock_store_url", "http://cache.example"),
    ("rasa_lock_store_url", "redis://:hunter2@"),
    ("rasa_lock_store_url", "redis://:hunter2@cache.example:99999"),
    ("rasa_lock_store_url", "redis://:hunter2@cache.example/zero"),
    ("rasa_event_broker_url", "redis://guest:hunter2@mq.example"),
    ("rasa_event_broker_url", "amqp://guest:hunter2@:5672"),
])
def test_a_malformed_service_url_is_refused_without_showing_it(name: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        PlatformSettings(_env_file=None, **{name: value})  # type: ignore[arg-type]

    message = describe_settings_error(caught.value, "CRMBOT_")
    assert message.startswith(f"CRMBOT_{name.upper()}: must look like ")
    assert "hunter2" not in message


def test_an_empty_service_url_means_none() -> None:
    platform = PlatformSettings(_env_file=None, rasa_lock_store_url="", rasa_event_broker_url=" ")

    assert (platform.rasa_lock_store_url, platform.rasa_event_broker_url) == (None, None)


def test_crmbot_up_stops_when_a_configured_service_does_not_answer(tmp_path: Path) -> None:
    closed = free_port()
    platform, _ = settings(tmp_path, rasa_event_broker_url=f"amqp://bot:hunter2@127.0.0.1:{closed}/")

    with pytest.raises(RuntimeProblem) as caught:
        check_services_reachable(platform)

    assert str(caught.value).startswith(
        f"CRMBOT_RASA_EVENT_BROKER_URL: nothing answers at 127.0.0.1:{closed} (")
    assert "hunter2" not in str(caught.value)


def test_a_listening_service_passes_the_check(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        platform, _ = settings(tmp_path, rasa_lock_store_url=f"redis://127.0.0.1:{port}/2")
        check_services_reachable(platform)  # no error


def test_crmbot_names_a_malformed_setting_without_printing_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRMBOT_RASA_LOCK_STORE_URL", "redis://:hunter2@cache.example:99999/0")

    result = CliRunner().invoke(main, ["up"])

    assert result.exit_code == 1
    assert result.output == (
        "Error: invalid settings:\n"
        "CRMBOT_RASA_LOCK_STORE_URL: must look like redis://[:PASSWORD@]HOST[:PORT][/DB]\n")


@pytest.mark.parametrize(("settings_class", "name"), [
    (CrmSettings, "database_url"), (PlatformSettings, "rasa_event_broker_url"),
    (WebSettings, "session_secret"), (ActionSettings, "max_input_chars"),
    (KnowledgeSettings, "batch_size"), (AnalyticsSettings, "broker_url"),
])
def test_no_settings_error_repeats_the_value(settings_class: type, name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        settings_class(_env_file=None, **{name: "mysql://bot:hunter2@db/x"})

    assert "hunter2" not in str(caught.value)


def test_the_event_consumer_reads_the_queue_the_rasa_server_publishes_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ANALYTICS_BROKER_URL", raising=False)
    platform, crm = settings(tmp_path, rasa_event_broker_url="amqp://bot:pw@mq.example/",
                             rasa_event_queue="events_eu")

    env = consumer_env(platform, crm)

    assert (env["ANALYTICS_BROKER_URL"], env["ANALYTICS_BROKER_QUEUE"]) == (
        "amqp://bot:pw@mq.example/", "events_eu")
    monkeypatch.setenv("ANALYTICS_BROKER_URL", "amqp://analytics:other@mq.example/")
    assert consumer_env(platform, crm)["ANALYTICS_BROKER_URL"] == (
        "amqp://analytics:other@mq.example/")  # its own account, when given


def test_crmbot_up_runs_the_servers_the_watch_and_the_analytics_loop(tmp_path: Path) -> None:
    platform, crm = settings(tmp_path, web_port=8181)
    model = tmp_path / "models" / "crmbot-0.tar.gz"

    plain = platform_processes(platform, crm, model)
    with_broker = platform_processes(platform, crm, model, events_from_broker=True)

    assert set(plain) == {"actions", "rasa", "web", "watch", "analytics"}
    assert set(with_broker) == set(plain) | {"events"}
    assert plain["analytics"][0][-4:] == ["analytics", "refresh", "--every", "60"]
    assert plain["analytics"][1]["CRM_DATABASE_URL"] == crm.database_url
    assert "--after-ready" not in plain["watch"][0]


def test_crmbot_up_plays_demo_conversations_once_ready_when_asked(tmp_path: Path) -> None:
    platform, crm = settings(tmp_path, web_port=8181)

    watch = platform_processes(platform, crm, tmp_path / "m.tar.gz", demo_conversations=30)["watch"][0]

    after = shlex.split(watch[watch.index("--after-ready") + 1])
    assert after[1:] == ["-m", "crmbot", "demo", "conversations", "--if-empty", "--no-progress",
                         "--count", "30", "--url", "http://127.0.0.1:8181"]


def test_crmbot_up_refuses_broker_analytics_without_a_publishing_rasa_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANALYTICS_EVENTS_FROM", "broker")
    monkeypatch.delenv("CRMBOT_RASA_EVENT_BROKER_URL", raising=False)

    result = CliRunner().invoke(main, ["up"])

    assert result.exit_code == 1
    assert "set CRMBOT_RASA_EVENT_BROKER_URL" in result.output
