"""How the platform's processes are trained, started and wired together.

The Rasa server runs in its own environment (``.venv-rasa``); everything else runs in this one.
They meet over HTTP (REST channel, action server protocol) and in the database.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

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


def process_env(settings: PlatformSettings, crm: CrmSettings, *, rasa: bool) -> dict[str, str]:
    """The environment of a child process: this one's, plus what wires the parts together."""
    env = {k: v for k, v in os.environ.items() if k not in _LEAKING}
    env["PYTHONPATH"] = str(settings.project_root)
    env["CRM_DATABASE_URL"] = crm.database_url
    env["ACTION_ENDPOINT_URL"] = settings.action_url
    env.update(tracker_store_env(crm))
    if rasa:
        env.update(RASA_ENV)
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
    result = subprocess.run(command, cwd=root, env=process_env(settings, crm, rasa=True),
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
        "--endpoints", "bot/endpoints.yml",
        "--credentials", "bot/credentials.yml",
    ]  # fmt: skip


def action_server_command(settings: PlatformSettings) -> list[str]:
    return [sys.executable, "-m", "rasa_sdk", "--actions", "actions",
            "--port", str(settings.action_port)]
