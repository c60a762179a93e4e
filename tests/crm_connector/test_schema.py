"""The migrations produce exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from crm_connector.migrate import current_revision, downgrade, head_revision, upgrade
from crm_connector.models import Base


def test_migrated_database_matches_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert current_revision(engine) == head_revision(engine)


def test_downgrade_to_base_and_upgrade_again(engine: Engine) -> None:
    downgrade(engine, "base")
    assert "customer" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert {"customer", "sales_order", "refund", "audit_log"} <= set(inspect(engine).get_table_names())
