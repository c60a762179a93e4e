"""Alembic environment of the analytics tables (run by ``analytics.schema.upgrade_analytics``).

Own version table, and only tables named ``analytics_*`` are compared, so autogenerate never
proposes to drop the CRM's or Rasa's tables that share the database.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from analytics.schema import AnalyticsBase

VERSION_TABLE = "alembic_version_analytics"

config = context.config
target_metadata = AnalyticsBase.metadata


def include_name(name, type_, parent_names):  # type: ignore[no-untyped-def]
    if type_ == "table":
        return bool(name) and name.startswith("analytics_")
    return True


def _configure(**kwargs) -> None:  # type: ignore[no-untyped-def]
    context.configure(target_metadata=target_metadata, render_as_batch=True,
                      version_table=VERSION_TABLE, include_name=include_name, **kwargs)


def run_migrations_offline() -> None:
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as conn:
        _run(conn)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
