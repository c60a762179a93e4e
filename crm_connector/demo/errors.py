"""Errors of the demo-data generator."""

from __future__ import annotations

from crm_connector.errors import CrmError


class DatabaseNotEmpty(CrmError):
    """Seeding would mix demo rows with existing ones; ``tables`` lists the tables with rows."""

    code = "database_not_empty"

    def __init__(self, message: str, *, tables: tuple[str, ...]) -> None:
        super().__init__(message)
        self.tables = tables
