"""How the platform's processes are trained, started and wired together.

The Rasa server runs in its own environment (``.venv-rasa``); everything else runs in this one.
They meet over HTTP (REST channel, action server protocol) and in the database.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from sqlalchemy.engine import make_url

from crm_connector import CrmSettings
from crmbot.settings import PlatformSettings

log = logging.getLogger(__name__)

#: Environment for every Rasa subprocess: offline, no telemetry, fewer irrelevant warnings.
RASA_ENV: Mapping[str, str] = {
    "RASA_TELEMETRY_ENABLED": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "PYTHONUNBUFFERED": "1",
}
#: Serving processes (the action server, each Rasa worker) run their numeric libraries (torch,
#: FAISS, OpenBLAS, TensorFlow) with one thread per operation. A server answers several
#: conversations at once on few cores, and Rasa runs one worker per core: with a thread pool per
#: tiny operation on top, the pools' threads wait for each other's cores (an FAQ query encoding
#: took 220-700 ms instead of 33-55 ms with 2 torch threads on the loaded 2-core machine, see
#: benchmarks/README.md). Overridable from the calling environment. Not applied to training.
SERVING_THREADS_ENV: Mapping[str, str] = {"OMP_NUM_THREADS": "1"}
#: Rasa's own names for TensorFlow's thread pools (read by `rasa run`).
RASA_SERVING_THREADS_ENV: Mapping[str, str] = {"TF_INTRA_OP_PARALLELISM_THREADS": "1",
                                               "TF_INTER_OP_PARALLELISM_THREADS": "1"}
_LEAKING = ("PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "CONDA_PREFIX")
#: What a trained model depends on: a change in any of these means training again.
TRAINING_INPUTS = ("bot/config.yml", "bot/domain.yml", "bot/domain", "bot/data", "nlu_data",
                   "bot/components", "requirements/rasa.lock")


class RuntimeProblem(RuntimeError):
    """Something the user must fix before the platform can run (message says what)."""


def rasa_executable(settings: PlatformSettings) -> Path:
    rasa = settings.rasa_venv / "bin" / "rasa"
    if not rasa.is_file():
        raise RuntimeProblem(f"the Rasa environment is missing ({rasa}): run `make setup`")
    return rasa


def tracker_store_env(crm: CrmSettings) -> dict[str, str]:
    """Point Rasa's SQL tracker store at the CRM database (bot/endpoints.yml reads these).

    SQLite: dialect + file path. PostgreSQL: a full URL (Rasa's SQLTrackerStore takes one in
    ``url``; it connects with psycopg2, which the Rasa environment has).
    """
    url = make_url(crm.database_url)
    if url.get_backend_name() == "sqlite":
        return {"TRACKER_DIALECT": "sqlite", "TRACKER_DB": url.database or "", "TRACKER_URL": ""}
    tracker_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return {"TRACKER_DIALECT": "postgresql", "TRACKER_DB": url.database or "",
            "TRACKER_URL": tracker_url}


#: Environment variables that carry the services' passwords into the Rasa server (the endpoints
#: file written to var/ names them as ``${VAR}``; Rasa fills them in when it reads the file).
LOCK_STORE_PASSWORD_ENV = "RASA_LOCK_STORE_PASSWORD"
EVENT_BROKER_PASSWORD_ENV = "RASA_EVENT_BROKER_PASSWORD"
#: Rasa's fanout exchange for the Pika event broker (``rasa.core.brokers.pika``).
RASA_EVENT_EXCHANGE = "rasa-exchange"


def service_endpoints(settings: PlatformSettings) -> dict[str, dict[str, Any]]:
    """The Rasa endpoint sections of the configured production services: a Redis lock store
    (instead of the SQLite lock file) and a RabbitMQ event broker. Empty for the embedded
    default. Passwords are ``${VAR}`` placeholders (see ``service_env``)."""
    sections: dict[str, dict[str, Any]] = {}
    if settings.rasa_lock_store_url is not None:
        url = urlsplit(settings.rasa_lock_store_url.get_secret_value())
        db = url.path.strip("/") or "0"  # a number (checked by the settings)
        lock_store: dict[str, Any] = {"type": "redis", "url": url.hostname,
                                      "port": url.port or 6379, "db": int(db),
                                      "use_ssl": url.scheme == "rediss", "key_prefix": "crmbot"}
        if url.username:
            lock_store["username"] = unquote(url.username)
        if url.password:
            lock_store["password"] = f"${{{LOCK_STORE_PASSWORD_ENV}}}"
        sections["lock_store"] = lock_store
    if settings.rasa_event_broker_url is not None:
        url = urlsplit(settings.rasa_event_broker_url.get_secret_value())
        vhost = url.path if url.path not in ("", "/") else ""
        # Rasa builds the AMQP URL from these parts (user and password as given, URL-encoded).
        sections["event_broker"] = {
            "type": "pika", "url": f"{url.scheme}://{url.hostname}{vhost}",
            "port": url.port or (5671 if url.scheme == "amqps" else 5672),
            "username": url.username or "guest",
            "password": f"${{{EVENT_BROKER_PASSWORD_ENV}}}",
            "queues": [settings.rasa_event_queue], "exchange_name": RASA_EVENT_EXCHANGE,
        }
    return sections


def service_env(settings: PlatformSettings) -> dict[str, str]:
    """The passwords of the configured services, for the Rasa server's environment."""
    env = {}
    if settings.rasa_lock_store_url is not None:
        password = urlsplit(settings.rasa_lock_store_url.get_secret_value()).password
        if password:
            env[LOCK_STORE_PASSWORD_ENV] = unquote(password)
    if settings.rasa_event_broker_url is not None:
        password = urlsplit(settings.rasa_event_broker_url.get_secret_value()).password
        env[EVENT_BROKER_PASSWORD_ENV] = password if password is not None else "guest"
    return env


def check_services_reachable(settings: PlatformSettings, timeout: float = 3.0) -> None:
    """Fail early, naming the setting, when a configured Redis or RabbitMQ does not accept a
    connection (Rasa itself would only fail at the first message, or retry for minutes)."""
    configured = [("CRMBOT_RASA_LOCK_STORE_URL", settings.rasa_lock_store_url, 6379),
                  ("CRMBOT_RASA_EVENT_BROKER_URL", settings.rasa_event_broker_url, 5672)]
    for name, secret, default_port in configured:
        if secret is None:
            continue
        url = urlsplit(secret.get_secret_value())
        address = (url.hostname or "", url.port or default_port)
        try:
            socket.create_connection(address, timeout=timeout).close()
        except OSError as exc:
            raise RuntimeProblem(f"{name}: nothing answers at {address[0]}:{address[1]} "
                                 f"({exc.strerror or type(exc).__name__})") from exc


def rasa_endpoints(settings: PlatformSettings) -> Path:
    """The Rasa server's endpoints file: ``bot/endpoints.yml`` for the embedded default; with
    production services configured, that file plus their sections, written to
    ``var/rasa-endpoints.yml`` (no passwords in it)."""
    base = settings.project_root / "bot" / "endpoints.yml"
    sections = service_endpoints(settings)
    if not sections:
        return base
    endpoints = yaml.safe_load(base.read_text(encoding="utf-8"))
    endpoints.update(sections)
    target = settings.project_root / "var" / "rasa-endpoints.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        "# Written by `crmbot up` from bot/endpoints.yml and the CRMBOT_RASA_*_URL settings;\n"
        "# edits here are overwritten. Passwords come from the environment (${VAR}).\n"
        + yaml.safe_dump(endpoints, sort_keys=False), encoding="utf-8")
    return target


def lock_store_path(settings: PlatformSettings, crm: CrmSettings) -> Path:
    """The SQLite file of Rasa's conversation locks (bot/endpoints.yml reads ``RASA_LOCK_DB``):
    next to an SQLite CRM file, else in ``var/``. All Rasa workers of one platform share it."""
    url = make_url(crm.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        database = Path(url.database).resolve()
        return database.with_name(f"{database.stem}-rasa-locks.sqlite")
    return settings.project_root / "var" / "rasa-locks.sqlite"


def process_env(
    settings: PlatformSettings, crm: CrmSettings, *, rasa: bool, serving: bool = True
) -> dict[str, str]:
    """The environment of a child process: this one's, plus what wires the parts together.

    ``serving``: a server (one thread per numeric operation, see ``SERVING_THREADS_ENV``)
    rather than a one-off job such as training.
    """
    env = {k: v for k, v in os.environ.items() if k not in _LEAKING}
    if serving:
        threads = {**SERVING_THREADS_ENV, **(RASA_SERVING_THREADS_ENV if rasa else {})}
        for name, value in threads.items():
            env.setdefault(name, value)
    env["PYTHONPATH"] = str(settings.project_root)
    env["CRM_DATABASE_URL"] = crm.database_url
    env["ACTION_ENDPOINT_URL"] = settings.action_url
    env.update(tracker_store_env(crm))
    env["RASA_LOCK_DB"] = str(lock_store_path(settings, crm))
    if rasa:
        env.update(RASA_ENV)
        env.update(service_env(settings))
        env.setdefault("SANIC_WORKERS", str(settings.rasa_workers))
    else:
        env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
                    "SANIC_HOST": settings.host})
        env.setdefault("ACTIONS_PRELOAD_FAQ", "true")  # the first FAQ answer is fast too
    return env


def _input_files(root: Path) -> Iterable[Path]:
    for name in TRAINING_INPUTS:
        path = root / name
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from sorted(p for p in path.rglob("*")
                              if p.is_file() and "__pycache__" not in p.parts)


def training_fingerprint(root: Path) -> str:
    """A short hash over every training input (paths and contents)."""
    digest = hashlib.sha256()
    for path in _input_files(root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def model_path(settings: PlatformSettings) -> Path:
    return settings.models_dir / f"crmbot-{training_fingerprint(settings.project_root)}.tar.gz"


def train(settings: PlatformSettings, crm: CrmSettings, *, force: bool = False) -> tuple[Path, bool]:
    """Train the assistant unless a model for exactly these inputs exists.

    Returns the model path and whether training ran. Rasa's own output streams through.
    """
    target = model_path(settings)
    if target.is_file() and not force:
        return target, False
    root = settings.project_root
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    command = [
        str(rasa_executable(settings)), "train",
        "--config", "bot/config.yml",
        "--domain", "bot/domain.yml",
        "--data", "bot/data", "nlu_data",
        "--out", str(settings.models_dir),
        "--fixed-model-name", target.name.removesuffix(".tar.gz"),
    ]  # fmt: skip
    log.info("training the assistant: %s", shlex.join(command))
    result = subprocess.run(command, cwd=root, env=process_env(settings, crm, rasa=True, serving=False),
                            stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0 or not target.is_file():
        raise RuntimeProblem(f"`rasa train` failed with exit code {result.returncode}; see its output above")
    for old in settings.models_dir.glob("crmbot-*.tar.gz"):
        if old != target:
            old.unlink()
    return target, True


def rasa_server_command(settings: PlatformSettings, model: Path) -> list[str]:
    return [
        str(rasa_executable(settings)), "run", "--enable-api",
        "--model", str(model),
        "--interface", settings.host, "--port", str(settings.rasa_port),
        "--endpoints", str(rasa_endpoints(settings)),
        "--credentials", "bot/credentials.yml",
    ]  # fmt: skip


def action_server_command(settings: PlatformSettings) -> list[str]:
    """The action server in one process (``actions.server``: rasa-sdk's app without Sanic's
    worker process and its 30 s start-up deadline)."""
    return [sys.executable, "-m", "actions.server",
            "--host", settings.host, "--port", str(settings.action_port)]


# -- starting, checking and stopping servers -----------------------------------------------
def _log_tail(path: Path | None, chars: int = 4000) -> str:
    if path is None:
        return ""
    try:
        return "\n" + path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return "\n<no log written>"


def is_healthy(url: str, timeout: float = 3.0) -> bool:
    """True when ``GET url`` answers with a 2xx status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return False


def wait_until_healthy(
    url: str,
    *,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
    name: str = "server",
    poll_seconds: float = 0.3,
) -> None:
    """Poll ``url`` until it answers 2xx; ``RuntimeProblem`` (with the end of ``log_path``)
    when ``process`` exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeProblem(
                f"the {name} exited with code {process.returncode} before it answered {url}"
                + _log_tail(log_path))
        if is_healthy(url, timeout=min(3.0, max(timeout, 0.1))):
            return
        if time.monotonic() >= deadline:
            raise RuntimeProblem(f"the {name} did not answer {url} within {timeout:.0f} s"
                                 + _log_tail(log_path))
        time.sleep(poll_seconds)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20.0) -> int | None:
    """End a server started in its own session (``start_new_session=True``): SIGTERM to its
    process group (the server and any worker it forked), SIGKILL after ``timeout``."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)
    return process.returncode


def start_action_server(
    settings: PlatformSettings,
    crm: CrmSettings,
    *,
    log_path: Path,
    env_overrides: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start the action server on ``settings.action_port`` (not waiting for it), in its own
    session, its output in ``log_path``; ``env_overrides`` go on top of ``process_env``."""
    env = process_env(settings, crm, rasa=False)
    env.update(env_overrides or {})
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:
        return subprocess.Popen(
            action_server_command(settings), cwd=cwd or settings.project_root, env=env,
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def action_health_url(settings: PlatformSettings) -> str:
    return f"http://{settings.host}:{settings.action_port}/health"


@contextlib.contextmanager
def running_action_server(
    settings: PlatformSettings,
    crm: CrmSettings,
    *,
    log_path: Path,
    env_overrides: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
) -> Iterator[str]:
    """The action server from start until the block ends (always stopped); yields its webhook
    URL once ``/health`` answers (within ``timeout``, default ``startup_timeout_seconds``)."""
    process = start_action_server(settings, crm, log_path=log_path,
                                  env_overrides=env_overrides, cwd=cwd)
    try:
        wait_until_healthy(action_health_url(settings), process=process, log_path=log_path,
                           name="action server",
                           timeout=settings.startup_timeout_seconds if timeout is None else timeout)
        yield settings.action_url
    finally:
        stop_process(process)
