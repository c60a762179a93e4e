"""Errors of the importers (subclasses of the CRM root error, so entry points handle them)."""

from __future__ import annotations

from crm_connector.errors import CrmError


class ImportConflict(CrmError):
    """Another writer inserted the same rows at the same time (two imports of one file)."""

    code = "import_conflict"
