"""A Rasa lock store in a SQLite file, so several Rasa server processes can share conversations.

Rasa serialises the messages of one conversation with a ticket lock per conversation id, kept in
a lock store. Its in-memory store only works inside one process, so Rasa 3.6 refuses to start
more than one Sanic worker with it (`rasa.core.utils.number_of_sanic_workers`); its Redis store
needs a Redis server, which the embedded default must not. This store keeps the locks in a small
SQLite file next to the CRM database: every worker process on the machine sees the same locks,
with nothing to install or run.

Unlike Rasa's Redis store, the read-modify-write steps (issuing a ticket, finishing one, dropping
expired tickets) run inside one `BEGIN IMMEDIATE` transaction, so two workers cannot hand out the
same ticket. Locks are short-lived (seconds), so the file is opened with `synchronous=OFF`: a
machine crash loses at most locks that have expired anyway.

Configured in bot/endpoints.yml:

    lock_store:
      type: bot.components.sqlite_lock_store.SQLiteLockStore
      path: /abs/path/var/rasa-locks.sqlite
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional  # noqa: UP035 - Rasa's signatures

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

#: Seconds a worker waits for another one's write transaction before giving up.
BUSY_TIMEOUT_SECONDS = 10.0


class SQLiteLockStore(LockStore):
    """Rasa ticket locks in a SQLite file shared by all server processes (see module)."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None,  # noqa: UP007
                 path: Optional[str] = None) -> None:  # noqa: UP007
        kwargs: dict[str, Any] = dict(endpoint_config.kwargs) if endpoint_config else {}
        path = path or kwargs.get("path") or (endpoint_config.url if endpoint_config else None)
        if not path:
            raise LockError("SQLiteLockStore needs `path`: the SQLite file for the locks")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS rasa_lock ("
                       "conversation_id TEXT PRIMARY KEY, lock TEXT NOT NULL)")
        super().__init__()

    # -- storage ------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        # one connection per process and thread: a forked Sanic worker must not use its
        # parent's connection, so the connection remembers the process that opened it
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or self._local.pid != os.getpid():
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS,
                                 isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")
            self._local.db, self._local.pid = db, os.getpid()
        return db

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at the start (no upgrade deadlocks between workers)."""
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def get_lock(self, conversation_id: str) -> Optional[TicketLock]:  # noqa: UP007
        row = self._connection().execute(
            "SELECT lock FROM rasa_lock WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()
        return TicketLock.from_dict(json.loads(row[0])) if row else None

    def delete_lock(self, conversation_id: str) -> None:
        deleted = self._connection().execute(
            "DELETE FROM rasa_lock WHERE conversation_id = ?", (conversation_id,)).rowcount
        self._log_deletion(conversation_id, deleted > 0)

    def save_lock(self, lock: TicketLock) -> None:
        self._connection().execute(
            "INSERT INTO rasa_lock (conversation_id, lock) VALUES (?, ?) "
            "ON CONFLICT (conversation_id) DO UPDATE SET lock = excluded.lock",
            (lock.conversation_id, lock.dumps()))

    # -- read-modify-write steps, each one transaction -------------------------------------
    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        try:
            with self._transaction():
                lock = self.get_or_create_lock(conversation_id)
                ticket = lock.issue_ticket(lock_lifetime)
                self.save_lock(lock)
        except sqlite3.Error as exc:
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc
        return ticket

    def update_lock(self, conversation_id: str) -> None:
        with self._transaction():
            super().update_lock(conversation_id)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        with self._transaction():
            super().cleanup(conversation_id, ticket_number)
