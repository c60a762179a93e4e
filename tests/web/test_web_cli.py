"""``crmbot users add/list/demo`` against a real migrated SQLite database."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from crm_connector import (
    CrmSettings,
    authenticate_agent,
    create_db_engine,
    create_session_factory,
    write_transaction,
)
from crmbot.cli import main
from tests.crm_connector.factories import NOW


@pytest.fixture
def env(sqlite_settings: CrmSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CrmSettings:
    monkeypatch.setenv("CRM_DATABASE_URL", sqlite_settings.database_url)
    monkeypatch.setenv("CRMBOT_PROJECT_ROOT", str(tmp_path))
    return sqlite_settings


def _login(settings: CrmSettings, username: str, password: str) -> bool:
    engine = create_db_engine(settings)
    try:
        with write_transaction(create_session_factory(engine)) as session:
            return authenticate_agent(session, username, password, now=NOW) is not None
    finally:
        engine.dispose()


def test_add_reads_the_password_from_stdin_and_never_prints_it(env: CrmSettings) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["users", "add", "Ann", "--role", "manager", "--display-name", "Ann M",
                                  "--password-stdin"], input="a very long secret\n")
    assert result.exit_code == 0, result.output
    assert "a very long secret" not in result.output
    assert _login(env, "ann", "a very long secret")
    again = runner.invoke(main, ["users", "add", "ann", "--password-stdin"], input="another long one\n")
    assert again.exit_code == 1 and "taken" in again.output
    short = runner.invoke(main, ["users", "add", "bob", "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "password" in short.output
    listing = runner.invoke(main, ["users", "list"])
    assert "ann" in listing.output and "manager" in listing.output and "bob" not in listing.output


def test_the_prompt_asks_twice_without_echo(env: CrmSettings) -> None:
    result = CliRunner().invoke(main, ["users", "add", "cat"], input="prompted password\nprompted password\n")
    assert result.exit_code == 0, result.output
    assert "prompted password" not in result.output
    assert _login(env, "cat", "prompted password")


def test_demo_logins_are_random_private_and_stable(env: CrmSettings, tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["users", "demo"])
    assert first.exit_code == 0, first.output
    path = tmp_path / "var" / "demo-logins.json"
    logins = json.loads(path.read_text())
    assert set(logins) == {"demo-agent", "demo-manager"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert all(f"{user} / {password}" in first.output for user, password in logins.items())
    assert all(_login(env, user, password) for user, password in logins.items())
    second = runner.invoke(main, ["users", "demo"])
    assert second.exit_code == 0 and json.loads(path.read_text()) == logins
    path.unlink()  # lost file: new passwords, and they work
    runner.invoke(main, ["users", "demo"])
    renewed = json.loads(path.read_text())
    assert renewed != logins and all(_login(env, u, p) for u, p in renewed.items())
