"""Throw-away PostgreSQL databases for tests and benchmarks."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from sqlalchemy import create_engine, text

from crm_connector import CrmSettings, create_db_engine, upgrade_schema


class PostgresUnreachable(RuntimeError):
    """The administrative connection failed (the message names the error type, not the URL)."""


@contextlib.contextmanager
def fresh_database(admin_url: str, prefix: str = "crmbot_test") -> Iterator[str]:
    """A new database next to ``admin_url``, with the CRM schema; its URL for the block, then
    dropped (with any connection still open)."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any connection failure means "unreachable"
        admin.dispose()
        raise PostgresUnreachable(type(exc).__name__) from exc
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        engine = create_db_engine(CrmSettings(database_url=url))
        upgrade_schema(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
