"""Engines, sessions, transactions and the driver-error boundary. Nothing here connects at
import time.

Transactions
------------
The caller owns the transaction; services only take a ``Session``. Two helpers open one:

* ``read_transaction(sessions)`` for look-ups;
* ``write_transaction(sessions)`` for anything that changes state (refunds, cancellations,
  address changes). On SQLite it starts the transaction with ``BEGIN IMMEDIATE``, so the
  write lock is taken *before* the service reads the rows it decides on: concurrent writers
  queue on the busy timeout instead of failing halfway with ``database is locked`` (a WAL read
  snapshot cannot be upgraded to a write once another writer committed). On PostgreSQL the
  services lock the order row with ``SELECT ... FOR UPDATE`` themselves.

Both turn driver errors into ``DatabaseUnavailable``; so does ``db_boundary`` on every public
service function.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from crm_connector.errors import DatabaseUnavailable
from crm_connector.settings import CrmSettings

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

#: Values the ``sqlite_begin`` execution option may take (it is spliced into ``BEGIN <mode>``).
SQLITE_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})


def create_db_engine(settings: CrmSettings) -> Engine:
    """Build an engine for ``settings.database_url``.

    SQLite gets foreign keys on, a busy timeout and WAL journaling so that the action server,
    the web gateway and the CLI can share the embedded file.
    """
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=settings.echo_sql,
            connect_args={"timeout": settings.sqlite_busy_timeout_seconds},
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, echo=settings.echo_sql, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy emit BEGIN itself (see "Serializable isolation / Savepoints" in the
        # SQLAlchemy SQLite dialect docs) so that ``BEGIN IMMEDIATE`` can take the write lock.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # type: ignore[no-untyped-def]
        # The option must be on the Connection before it begins: ``Session.connection(
        # execution_options=...)`` applies it before BEGIN (see tests/crm_connector/test_db.py).
        mode = str(connection.get_execution_options().get("sqlite_begin", "DEFERRED")).upper()
        if mode not in SQLITE_BEGIN_MODES:
            raise ValueError(f"sqlite_begin must be one of {sorted(SQLITE_BEGIN_MODES)}")
        connection.exec_driver_sql(f"BEGIN {mode}")


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def is_sqlite(session_or_engine: Session | Engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "sqlite"


@contextmanager
def translate_db_errors() -> Iterator[None]:
    """Turn driver errors (and a pool timeout) into ``DatabaseUnavailable``.

    The driver's message is logged by class name only: it can quote SQL parameters, which may
    be personal data.
    """
    try:
        yield
    except sa_exc.OperationalError as exc:
        log.warning("database unavailable: %s", type(exc.orig).__name__)
        raise DatabaseUnavailable(
            "The customer database is unavailable or busy right now; please try again in a moment."
        ) from exc
    except sa_exc.DBAPIError as exc:
        log.error("database error: %s (%s)", type(exc).__name__, type(exc.orig).__name__)
        raise DatabaseUnavailable(
            "The customer database could not complete the request; please try again, "
            "and tell an engineer if it keeps happening."
        ) from exc
    except sa_exc.TimeoutError as exc:
        log.warning("database connection pool exhausted")
        raise DatabaseUnavailable(
            "The customer database is overloaded right now; please try again in a moment."
        ) from exc


def db_boundary(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a public service function so driver errors leave it as ``DatabaseUnavailable``."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with translate_db_errors():
            return func(*args, **kwargs)

    return wrapper


@contextmanager
def read_transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session inside a transaction that is committed on exit (rolled back on an error)."""
    with translate_db_errors(), sessions() as session, session.begin():
        yield session


@contextmanager
def write_transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session inside a transaction meant for writes; committed on exit, rolled back on error.

    On SQLite the transaction starts with ``BEGIN IMMEDIATE`` (the database write lock is held
    from the first statement on, other writers wait up to ``sqlite_busy_timeout_seconds``); on
    PostgreSQL it is a normal READ COMMITTED transaction and the services lock the rows they
    change with ``SELECT ... FOR UPDATE``.
    """
    with translate_db_errors(), sessions() as session, session.begin():
        if is_sqlite(session):
            session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        yield session
