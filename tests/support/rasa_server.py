"""Drive the Rasa environment (`.venv-rasa`) from tests: train a model, serve it, talk to it.

The platform environment never imports rasa. Tests call `<repo>/.venv-rasa/bin/rasa` as a
subprocess and talk to the server over HTTP on loopback, exactly as the gateway does in
production. Only the standard library (and pytest, for skip/fail) is used here.

Typical use (see tests/rasa_env/conftest.py):

    rasa = require_rasa_executable()
    env = rasa_subprocess_env(home=tmp_home)
    model = train_model(rasa, project_dir, env=env)
    server = start_rasa_server(rasa, model.path, workdir=tmp_dir, env=env)
    try:
        replies = send_message(server.url, "user-1", "hello")
    finally:
        server.stop()
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Self

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
RASA_EXECUTABLE = REPO_ROOT / ".venv-rasa" / "bin" / "rasa"

# Environment for every Rasa subprocess: no telemetry, nothing fetched from a hub, fewer
# warnings that say nothing about our bot (docs/rasa-environment.md lists them).
RASA_QUIET_OFFLINE_ENV: Mapping[str, str] = {
    "RASA_TELEMETRY_ENABLED": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "PYTHONUNBUFFERED": "1",
}
# Variables of the calling (platform) environment that must not leak into the Rasa one.
_LEAKING_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "CONDA_PREFIX")
_REST_CREDENTIALS = "rest:\n"
_SERVER_UP_LINE = "Rasa server is up and running."
_LOG_TAIL_CHARS = 6000


class RasaProcessError(RuntimeError):
    """A Rasa subprocess failed; the message ends with the tail of its log."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_rasa_executable(path: Path = RASA_EXECUTABLE) -> Path:
    """Return the Rasa CLI of `.venv-rasa`; skip when it is missing, but fail under CI=true."""
    if path.is_file() and os.access(path, os.X_OK):
        return path
    reason = f"Rasa environment missing ({path} not found): build it with `make setup-rasa`"
    if in_ci():
        pytest.fail(f"{reason}; it is required under CI=true", pytrace=False)
    pytest.skip(reason)


def rasa_subprocess_env(
    home: Path | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment for a Rasa subprocess.

    `home` redirects HOME (rasa writes ~/.config/rasa/global.yml on every start, matplotlib and
    keras write caches there) so that tests leave the user's home untouched.
    """
    env = {k: v for k, v in os.environ.items() if k not in _LEAKING_VARIABLES}
    env.update(RASA_QUIET_OFFLINE_ENV)
    if home is not None:
        home.mkdir(parents=True, exist_ok=True)
        env["HOME"] = str(home)
        env["MPLCONFIGDIR"] = str(home / ".config" / "matplotlib")
    if extra:
        env.update(extra)
    return env


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, chars: int = _LOG_TAIL_CHARS) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "<no log written>"
    return text if len(text) <= chars else "...\n" + text[-chars:]


@dataclass(frozen=True)
class TrainedModel:
    path: Path
    seconds: float
    log_path: Path


def train_model(
    rasa: Path,
    project_dir: Path,
    *,
    env: Mapping[str, str],
    out_dir: Path | None = None,
    model_name: str = "model",
    timeout: float = 600.0,
) -> TrainedModel:
    """Run `rasa train` on a project (config.yml, domain.yml, data/) and return the model.

    Runs in `project_dir`, so Rasa's training cache (.rasa/cache) lands there too.
    """
    out_dir = out_dir or project_dir / "models"
    log_path = project_dir / "train.log"
    command = [
        str(rasa), "train",
        "--config", str(project_dir / "config.yml"),
        "--domain", str(project_dir / "domain.yml"),
        "--data", str(project_dir / "data"),
        "--out", str(out_dir),
        "--fixed-model-name", model_name,
    ]  # fmt: skip
    started = time.monotonic()
    with log_path.open("w", encoding="utf-8") as log:
        try:
            result = subprocess.run(
                command,
                cwd=project_dir,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RasaProcessError(
                f"`rasa train` did not finish within {timeout:.0f} s; log:\n{_tail(log_path)}"
            ) from exc
    seconds = time.monotonic() - started
    model = out_dir / f"{model_name}.tar.gz"
    if result.returncode != 0 or not model.is_file():
        raise RasaProcessError(
            f"`rasa train` exited with {result.returncode} (model file present: "
            f"{model.is_file()}); log:\n{_tail(log_path)}"
        )
    return TrainedModel(path=model, seconds=seconds, log_path=log_path)


class RasaServer:
    """A `rasa run --enable-api` subprocess on loopback; use `stop()` (or `with`) to end it."""

    def __init__(
        self, process: subprocess.Popen[bytes], url: str, log_path: Path, log_file: IO[str]
    ) -> None:
        self.process = process
        self.url = url
        self.log_path = log_path
        self._log_file = log_file

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def log_text(self) -> str:
        """Everything the server has printed so far (stdout and stderr)."""
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, chars: int = _LOG_TAIL_CHARS) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return _tail(self.log_path, chars)

    def status(self, timeout: float = 5.0) -> dict[str, Any]:
        """GET /status: the loaded model (`model_file`, `model_id`) among other things."""
        with urllib.request.urlopen(f"{self.url}/status", timeout=timeout) as response:
            return json.load(response)

    def wait_until_ready(self, timeout: float) -> dict[str, Any]:
        """Poll /status until a model is loaded; raise if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise RasaProcessError(
                    f"Rasa server exited with {code} before it was ready; log:\n{self.log_tail()}"
                )
            try:
                status = self.status(timeout=2.0)
            except urllib.error.HTTPError as exc:
                # 409 "No agent loaded": still loading, or (once the server says it is up) the
                # model could not be loaded, which waiting will not change.
                last_error = f"HTTP {exc.code} from /status"
                if _SERVER_UP_LINE in self.log_text():
                    raise RasaProcessError(
                        f"Rasa server is up but has no model ({last_error}); "
                        f"log:\n{self.log_tail()}"
                    ) from exc
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                if status.get("model_file"):
                    return status
                last_error = f"no model loaded yet: {status}"
            time.sleep(0.5)
        raise RasaProcessError(
            f"Rasa server at {self.url} not ready within {timeout:.0f} s ({last_error}); "
            f"log:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 20.0) -> int | None:
        """End the server (SIGTERM, then SIGKILL after `timeout`) and return its exit code."""
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=timeout)
        if not self._log_file.closed:
            self._log_file.close()
        return self.process.returncode

    def _signal(self, signum: signal.Signals) -> None:
        # The server runs in its own session (start_new_session=True): its process group id is
        # its pid, so this reaches the server and any child it started, and nothing else.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)


def start_rasa_server(
    rasa: Path,
    model: Path,
    *,
    workdir: Path,
    env: Mapping[str, str],
    endpoints: Path | None = None,
    credentials: Path | None = None,
    host: str = "127.0.0.1",
    ready_timeout: float = 180.0,
    extra_args: Sequence[str] = (),
    attempts: int = 3,
) -> RasaServer:
    """Start `rasa run --enable-api` with `model` on a free port and wait until it is ready.

    Without `credentials`, only the REST channel (/webhooks/rest/webhook) is enabled (with no
    credentials file at all, `rasa run` would start the interactive command-line channel).
    The log goes to `workdir/rasa-server-<port>.log`. A port taken between choosing and binding
    it is retried with another port, up to `attempts` times.
    """
    if not model.is_file():
        raise FileNotFoundError(f"no trained model at {model}: train one first (train_model)")
    workdir.mkdir(parents=True, exist_ok=True)
    if credentials is None:
        credentials = workdir / "credentials.yml"
        credentials.write_text(_REST_CREDENTIALS, encoding="utf-8")
    for attempt in range(1, attempts + 1):
        port = free_port(host)
        log_path = workdir / f"rasa-server-{port}.log"
        command = [
            str(rasa), "run", "--enable-api",
            "--model", str(model),
            "--interface", host, "--port", str(port),
            "--credentials", str(credentials),
        ]  # fmt: skip
        if endpoints is not None:
            command += ["--endpoints", str(endpoints)]
        command += list(extra_args)
        log_file = log_path.open("w", encoding="utf-8")
        try:
            process = subprocess.Popen(
                command,
                cwd=workdir,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError:
            log_file.close()
            raise
        server = RasaServer(process, f"http://{host}:{port}", log_path, log_file)
        try:
            server.wait_until_ready(ready_timeout)
        except RasaProcessError:
            server.stop()
            if attempt < attempts and "address already in use" in server.log_tail().lower():
                continue
            raise
        except BaseException:
            server.stop()
            raise
        return server
    raise AssertionError("unreachable")  # the loop returns or raises


def send_message(
    server_url: str, sender: str, text: str, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """POST a user message to the REST channel and return the bot's messages."""
    request = urllib.request.Request(
        f"{server_url}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": text}).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)
