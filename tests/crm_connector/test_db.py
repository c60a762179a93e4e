"""Transactions and the driver-error boundary."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from crm_connector import (
    CrmSettings,
    DatabaseUnavailable,
    create_db_engine,
    create_session_factory,
    find_customer_by_email,
    read_transaction,
    write_transaction,
)


def _sqlite_path(settings: CrmSettings) -> str:
    path = make_url(settings.database_url).database
    assert path
    return path


def _other_writer_blocked(path: str) -> bool:
    """Whether a second connection is refused the write lock right now."""
    other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return True
    else:
        other.execute("ROLLBACK")
        return False
    finally:
        other.close()


def test_write_transaction_takes_the_sqlite_write_lock_before_the_first_read(
    sqlite_settings: CrmSettings,
) -> None:
    engine = create_db_engine(sqlite_settings)
    sessions = create_session_factory(engine)
    path = _sqlite_path(sqlite_settings)
    try:
        with write_transaction(sessions) as session:
            assert session.connection().get_execution_options()["sqlite_begin"] == "IMMEDIATE"
            # Nothing written yet, and still no other writer may start: BEGIN IMMEDIATE ran.
            assert _other_writer_blocked(path)
        assert not _other_writer_blocked(path)
        with read_transaction(sessions) as session:
            session.execute(text("SELECT count(*) FROM customer"))
            assert not _other_writer_blocked(path)
    finally:
        engine.dispose()


def test_write_transaction_commits_and_rolls_back(sessions: sessionmaker[Session]) -> None:
    with write_transaction(sessions) as session:
        session.execute(text("INSERT INTO category (name) VALUES ('kept')"))
    with pytest.raises(RuntimeError), write_transaction(sessions) as session:
        session.execute(text("INSERT INTO category (name) VALUES ('dropped')"))
        raise RuntimeError("boom")
    with read_transaction(sessions) as session:
        names = session.scalars(text("SELECT name FROM category")).all()
    assert names == ["kept"]


def test_unreachable_postgres_is_database_unavailable() -> None:
    nowhere = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"  # nothing listens on port 1
    engine = create_db_engine(CrmSettings(database_url=nowhere))
    sessions = create_session_factory(engine)
    try:
        with pytest.raises(DatabaseUnavailable, match="unavailable or busy") as caught:
            with read_transaction(sessions) as session:
                find_customer_by_email(session, "anna.schmidt@example.com")
        assert "anna" not in str(caught.value)
    finally:
        engine.dispose()


def test_busy_sqlite_is_database_unavailable(sqlite_settings: CrmSettings) -> None:
    settings = sqlite_settings.model_copy(update={"sqlite_busy_timeout_seconds": 0.1})
    engine = create_db_engine(settings)
    sessions = create_session_factory(engine)
    blocker = sqlite3.connect(_sqlite_path(settings), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseUnavailable, match="try again"):
            with write_transaction(sessions):
                pass
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        engine.dispose()


def test_unknown_sqlite_begin_mode_is_refused(sqlite_settings: CrmSettings) -> None:
    engine = create_db_engine(sqlite_settings)
    try:
        with pytest.raises(ValueError, match="sqlite_begin"):
            with engine.connect() as conn:
                conn.execution_options(sqlite_begin="IMMEDIATE; DROP TABLE customer").begin()
    finally:
        engine.dispose()
