"""Rasa's SQL tracker store, with the embedded SQLite default tuned for a server.

Rasa 3.6's `SQLTrackerStore` opens SQLite through SQLAlchemy 1.4's default pool for SQLite
files, which opens and closes a connection for every read and write, and SQLite's default
`synchronous=FULL` syncs the file on every commit. Both block Rasa's event loop: in a profile
of the chat-latency benchmark (py-spy, 20 concurrent customers, benchmarks/README.md) saving
and loading trackers were 38 % and 15 % of the server's time, most of it in commit (fsync) and
connection close. This store keeps one pooled connection per worker and uses WAL journaling
(already on for the CRM file, `crm_connector.db`) with `synchronous=NORMAL`, SQLite's
recommended setting for WAL: a commit is durable against a crash of any process, and on power
loss only the last moments of conversations can be lost; the file is never corrupted.

PostgreSQL is used as by Rasa's own store, from the full URL in ``url`` (Rasa passes it as
``host``; an empty one, as for SQLite, means none), with one change of the same kind as
SQLite's: the store's connections commit with ``synchronous_commit = off``, so a turn does not
wait for PostgreSQL to flush its write-ahead log to the disk. Each commit is still atomic and
ordered; a crash of the database server can lose only the last moments of conversation events
(up to three times ``wal_writer_delay``, 600 ms by default), never corrupt them. The CRM's
writes (refunds, cancellations) go through the action server's own connections and stay fully
synchronous. Measured with `benchmarks/chat_latency.py` (benchmarks/README.md): order-status
turns with 20 customers went from 19.9 to 35-36 per second. To wait for the disk instead, add
``synchronous_commit: "on"`` to the ``tracker_store`` section of bot/endpoints.yml.

Each Rasa worker process builds its own store when it loads the model (after Sanic forks), so
no connection is shared between processes.

Configured in bot/endpoints.yml (same keys as Rasa's `type: SQL`):

    tracker_store:
      type: bot.components.sql_tracker_store.SQLTrackerStore
      dialect: sqlite
      db: /abs/path/var/crmbot.sqlite
      url: ""        # or postgresql://USER:PASSWORD@HOST:5432/DB with dialect postgresql
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore as RasaSQLTrackerStore
from sqlalchemy.pool import QueuePool

#: Seconds a write waits for another process's write transaction (the action server, the
#: web gateway and other Rasa workers share the file).
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0


class _ConcurrentCreateFilter(logging.Filter):
    """Several Rasa workers start at once and each creates the `events` table if it is missing;
    all but the first find it already there, which Rasa logs as an error and then carries on.
    That line is expected with several workers and would only alarm the reader."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Could not create tables") and "already exists" in message)


logging.getLogger("rasa.core.tracker_store").addFilter(_ConcurrentCreateFilter())


def _postgres_commit_mode(synchronous_commit: str, dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"SET synchronous_commit TO {synchronous_commit}")  # one of a fixed list
    cursor.close()
    dbapi_connection.commit()  # psycopg2 opened a transaction for the SET


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


#: PostgreSQL's values of ``synchronous_commit``.
SYNCHRONOUS_COMMIT_VALUES = ("on", "off", "local", "remote_write", "remote_apply")


class SQLTrackerStore(RasaSQLTrackerStore):
    """Rasa's `SQLTrackerStore`; on SQLite with pooled connections and WAL/NORMAL sync, on
    PostgreSQL with ``synchronous_commit`` off (see the module)."""

    def __init__(self, *args: Any, host: str | None = None, synchronous_commit: str = "off",
                 **kwargs: Any) -> None:
        if str(synchronous_commit) not in SYNCHRONOUS_COMMIT_VALUES:
            raise ValueError(f"synchronous_commit must be one of {SYNCHRONOUS_COMMIT_VALUES}")
        super().__init__(*args, host=host or None, **kwargs)
        if self.engine.dialect.name == "postgresql":
            sa.event.listen(self.engine, "connect",
                            functools.partial(_postgres_commit_mode, str(synchronous_commit)))
            self.engine.dispose()  # the connection that created the table had no such setting
            return
        if self.engine.dialect.name != "sqlite" or self.engine.url.database in (None, "", ":memory:"):
            return
        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(
            url, poolclass=QueuePool, pool_size=1, max_overflow=4, pool_pre_ping=False,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
