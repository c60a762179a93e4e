"""Schema migrations (Alembic) driven from code, with the URL from ``CrmSettings``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine, migrations_dir: Path = MIGRATIONS_DIR) -> Config:
    """The Alembic configuration of ``migrations_dir`` (the CRM's by default; the analytics
    package passes its own, which keeps its own version table) bound to ``engine``'s URL."""
    config = Config(str(migrations_dir / "alembic.ini"))
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


#: Tables that share the CRM's database but belong to others: Rasa's SQL tracker store and the
#: analytics package (its own Alembic chain). Schema comparisons and autogenerate leave them alone.
FOREIGN_TABLES = frozenset({"events", "alembic_version_analytics"})
FOREIGN_TABLE_PREFIXES = ("analytics_",)


def is_crm_object(object_: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic ``include_object`` hook: False for the tables (and their indexes and constraints)
    that other owners keep in the same database."""
    table = name if type_ == "table" else getattr(getattr(object_, "table", None), "name", None)
    if table is None:
        return True
    return table not in FOREIGN_TABLES and not table.startswith(FOREIGN_TABLE_PREFIXES)


def upgrade(engine: Engine, revision: str = "head", *, migrations_dir: Path = MIGRATIONS_DIR) -> None:
    """Bring the database to ``revision`` (the newest by default)."""
    config = alembic_config(engine, migrations_dir)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str, *, migrations_dir: Path = MIGRATIONS_DIR) -> None:
    config = alembic_config(engine, migrations_dir)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(engine: Engine, *, version_table: str = "alembic_version") -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(
            connection, opts={"version_table": version_table}).get_current_revision()


def head_revision(engine: Engine, *, migrations_dir: Path = MIGRATIONS_DIR) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine, migrations_dir)).get_current_head()


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision(engine)
