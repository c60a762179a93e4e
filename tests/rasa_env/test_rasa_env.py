"""The Rasa environment (.venv-rasa) works: right version, trains a model, serves it over REST."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.rasa_server import REPO_ROOT, RasaServer, TrainedModel, send_message

RASA_LOCK = REPO_ROOT / "requirements" / "rasa.lock"
_LIST_DISTRIBUTIONS = (
    "import importlib.metadata as m, json; "
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_rasa_cli_reports_version_3_6_21(rasa_executable: Path, rasa_env: dict[str, str]) -> None:
    result = subprocess.run(
        [str(rasa_executable), "--version"],
        env=rasa_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert re.search(r"^Rasa Version\s*:\s*3\.6\.21$", result.stdout, re.MULTILINE), result.stdout


def test_installed_packages_match_the_lock(rasa_executable: Path, rasa_env: dict[str, str]) -> None:
    """The environment is exactly the lock (no hand-installed upgrades since the last build)."""
    locked = dict(
        line.split("==", 1)
        for line in RASA_LOCK.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    result = subprocess.run(
        [str(rasa_executable.parent / "python"), "-c", _LIST_DISTRIBUTIONS],
        env=rasa_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    installed = {_normalized(name): version for name, version in json.loads(result.stdout).items()}

    mismatches = {
        name: (version, installed.get(_normalized(name)))
        for name, version in locked.items()
        if installed.get(_normalized(name)) != version
    }
    assert mismatches == {}, f"(locked, installed) differ; run `make setup-rasa`: {mismatches}"


@pytest.mark.slow
def test_server_loads_the_trained_model(
    tiny_bot_server: RasaServer, tiny_bot_model: TrainedModel
) -> None:
    status = tiny_bot_server.status()

    assert Path(status["model_file"]).name == tiny_bot_model.path.name


@pytest.mark.slow
@pytest.mark.parametrize(
    ("message", "expected_reply"),
    # Phrasings that are not in the training data verbatim.
    [
        ("hi, good morning!", "Hello! I am the tiny test assistant."),
        ("can you tell me where my order is?", "Your order is on its way."),
        ("ok thanks, see you later", "Goodbye, have a nice day!"),
    ],
    ids=["greeting", "order-status", "goodbye"],
)
def test_rest_webhook_answers_with_the_expected_response(
    tiny_bot_server: RasaServer, message: str, expected_reply: str
) -> None:
    sender = f"test-{re.sub(r'[^a-z]+', '-', message.lower()).strip('-')}"

    replies = send_message(tiny_bot_server.url, sender, message)

    assert [reply.get("text") for reply in replies] == [expected_reply], replies
    assert all(reply.get("recipient_id") == sender for reply in replies)
