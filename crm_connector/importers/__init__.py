"""Importers: bring data files from other systems into the CRM tables."""

from crm_connector.errors import ImportConflict
from crm_connector.importers.online_retail import ImportSummary, import_online_retail
from crm_connector.importers.online_retail_rows import Reason, RejectedRow

__all__ = ["ImportConflict", "ImportSummary", "Reason", "RejectedRow", "import_online_retail"]
