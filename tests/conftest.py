"""Shared fixtures: real databases (SQLite file per test, PostgreSQL when reachable)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from crm_connector import CrmSettings, create_db_engine, create_session_factory, upgrade_schema
from crm_connector.models import Base
from tests.support.postgres import PostgresUnreachable, fresh_database

# The running assistant (CRM, model, action server, Rasa server) and the real web gateway in
# front of it, for the tests that need them.
pytest_plugins = ["tests.support.stack", "tests.support.live_gateway"]

POSTGRES_ADMIN_URL = os.environ.get(
    "CRMBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RABBITMQ_URL = os.environ.get("CRMBOT_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip locally; under CI=true a missing dependency is a failure, not a skip."""
    if IN_CI:
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is faster than per test)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite"
    engine = create_db_engine(CrmSettings(database_url=f"sqlite:///{path}"))
    upgrade_schema(engine)
    engine.dispose()
    return path


@contextlib.contextmanager
def fresh_postgres_database(prefix: str = "crmbot_test") -> Iterator[str]:
    """A new, migrated PostgreSQL database (its URL), dropped at the end of the block."""
    try:
        with fresh_database(POSTGRES_ADMIN_URL, prefix) as url:
            yield url
    except PostgresUnreachable as exc:
        skip_or_fail(f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}: {exc}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


def _truncate_all(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def crm_settings(request: pytest.FixtureRequest, tmp_path: Path) -> CrmSettings:
    """Settings pointing at an empty, migrated database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "crm.sqlite"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return CrmSettings(database_url=f"sqlite:///{path}")
    url = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    _truncate_all(engine)
    engine.dispose()
    return CrmSettings(database_url=url)


@pytest.fixture
def sqlite_settings(tmp_path: Path, sqlite_template: Path) -> CrmSettings:
    """SQLite only, for tests that are about the embedded default."""
    path = tmp_path / "crm.sqlite"
    shutil.copy(sqlite_template, path)
    return CrmSettings(database_url=f"sqlite:///{path}")


@pytest.fixture
def engine(crm_settings: CrmSettings) -> Iterator[Engine]:
    eng = create_db_engine(crm_settings)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return create_session_factory(engine)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Groups for pytest-xdist (`make test` runs `-n 2 --dist loadgroup`): the tests that talk
    to the running assistant share one worker (its model is trained and its servers started
    once per worker, so once); every other module stays on one worker with its module and
    session fixtures. Without `-n` the marker does nothing."""
    for item in items:
        group = "assistant" if "e2e_platform" in item.fixturenames else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
