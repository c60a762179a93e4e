"""Persisted models: ``<name>-<date>.skops`` plus a JSON sidecar, written and checked together.

The sidecar records what a reader needs to trust the model: the data snapshot it was trained on,
the code and library versions, and the validation score. ``load_artifact`` refuses a model whose
file does not match the sha256 in its sidecar, and loads only the types ``skops`` reports as
untrusted when the caller names them (``trusted``), as skops recommends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import skops.io as sio

from analytics.errors import ArtifactError
from analytics.settings import PROJECT_ROOT

_LIBRARIES = ("scikit-learn", "numpy", "pandas", "scipy", "skops")


@dataclass(frozen=True)
class Artifact:
    model: Any
    sidecar: dict[str, Any]
    path: Path


def code_version() -> str:
    """The git commit of the working tree, or ``unknown`` outside a checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT,
                             capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_artifact(
    model: Any, directory: Path, name: str, *, data_snapshot: dict[str, Any],
    validation: dict[str, Any], extra: dict[str, Any] | None = None,
    when: dt.date | None = None,
) -> Path:
    """Write ``model`` as ``directory/<name>-<date>.skops`` and its sidecar ``.json``.

    ``data_snapshot`` says what it was trained on (rows, date range, a hash);
    ``validation`` holds the validation score(s) and how they were measured.
    Returns the path of the ``.skops`` file.
    """
    directory.mkdir(parents=True, exist_ok=True)
    stamp = (when or dt.datetime.now(dt.UTC).date()).isoformat()
    path = directory / f"{name}-{stamp}.skops"
    tmp = path.with_suffix(".skops.tmp")
    sio.dump(model, tmp)
    tmp.replace(path)
    sidecar = {
        "name": name, "file": path.name, "sha256": _sha256(path),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "code_version": code_version(), "libraries": library_versions(),
        "data_snapshot": data_snapshot, "validation": validation, **(extra or {}),
    }
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2, default=str) + "\n")
    return path


def latest_artifact_path(directory: Path, name: str) -> Path:
    """The newest ``<name>-<date>.skops`` in ``directory``."""
    candidates = sorted(directory.glob(f"{name}-????-??-??.skops"))
    if not candidates:
        raise ArtifactError(
            f"no {name} model in {directory}: run `crmbot analytics refresh` to train one"
        )
    return candidates[-1]


def load_artifact(path: Path, *, trusted: list[str] | None = None) -> Artifact:
    """Load a model and its sidecar, checking the file against the sidecar's sha256."""
    sidecar_path = path.with_suffix(".json")
    try:
        sidecar = json.loads(sidecar_path.read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{sidecar_path}: missing or unreadable sidecar ({exc})") from exc
    if not path.is_file() or _sha256(path) != sidecar.get("sha256"):
        raise ArtifactError(f"{path}: the model file does not match its sidecar; retrain it")
    unknown = sio.get_untrusted_types(file=path)
    allowed = set(trusted or ())
    refused = [t for t in unknown if t not in allowed]
    if refused:
        raise ArtifactError(f"{path}: refusing untrusted types {refused}")
    try:
        model = sio.load(path, trusted=unknown)
    except Exception as exc:  # noqa: BLE001 - skops raises many kinds on a corrupt file
        raise ArtifactError(f"{path}: cannot load the model ({type(exc).__name__}: {exc})") from exc
    return Artifact(model=model, sidecar=sidecar, path=path)
