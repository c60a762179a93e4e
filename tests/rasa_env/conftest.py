"""Fixtures for the Rasa environment: the CLI, a tiny trained assistant, and a server for it.

Training happens once per test session; the server is started once and always stopped.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.rasa_server import (
    RasaServer,
    TrainedModel,
    rasa_subprocess_env,
    require_rasa_executable,
    start_rasa_server,
    train_model,
)

TINY_BOT = Path(__file__).parent / "tiny_bot"
_TRAIN_SECONDS = pytest.StashKey[float]()


@pytest.fixture(scope="session")
def rasa_executable() -> Path:
    """`<repo>/.venv-rasa/bin/rasa`; skipped when missing, a failure under CI=true."""
    return require_rasa_executable()


@pytest.fixture(scope="session")
def rasa_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for Rasa subprocesses: telemetry off, offline, HOME in a temp folder."""
    return rasa_subprocess_env(home=tmp_path_factory.mktemp("rasa-home"))


@pytest.fixture(scope="session")
def tiny_bot_model(
    request: pytest.FixtureRequest,
    rasa_executable: Path,
    rasa_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> TrainedModel:
    """The tiny assistant of tiny_bot/, trained once per session in a temp copy."""
    project = tmp_path_factory.mktemp("tiny-bot") / "project"
    shutil.copytree(TINY_BOT, project)
    model = train_model(rasa_executable, project, env=rasa_env, model_name="tiny-bot")
    request.config.stash[_TRAIN_SECONDS] = model.seconds
    return model


@pytest.fixture(scope="session")
def tiny_bot_server(
    rasa_executable: Path,
    rasa_env: dict[str, str],
    tiny_bot_model: TrainedModel,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RasaServer]:
    """`rasa run --enable-api` serving the tiny assistant on 127.0.0.1 (REST channel)."""
    server = start_rasa_server(
        rasa_executable,
        tiny_bot_model.path,
        workdir=tmp_path_factory.mktemp("tiny-bot-server"),
        env=rasa_env,
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failing test that used the server, attach the tail of the server's log."""
    outcome = yield
    report = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("tiny_bot_server")
    if report.failed and isinstance(server, RasaServer):
        report.sections.append(("Rasa server log (tail)", server.log_tail()))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    seconds = terminalreporter.config.stash.get(_TRAIN_SECONDS, None)
    if seconds is not None:
        terminalreporter.write_line(f"tiny_bot: `rasa train` took {seconds:.1f} s")
