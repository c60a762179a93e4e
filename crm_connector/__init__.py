"""CRM connector: the customer, order and support database and the business rules on it.

Other packages import only what this module exports.
"""

from crm_connector.db import create_db_engine, create_session_factory
from crm_connector.errors import (
    AddressChangeNotAllowed,
    CrmError,
    CustomerNotFound,
    DatabaseUnavailable,
    IdempotencyConflict,
    ImportFileError,
    InvalidInput,
    NotEligibleForRefund,
    OrderNotCancellable,
    OrderNotFound,
    VerificationFailed,
)
from crm_connector.migrate import upgrade as upgrade_schema
from crm_connector.settings import PROJECT_ROOT, CrmSettings

__all__ = [
    "PROJECT_ROOT",
    "AddressChangeNotAllowed",
    "CrmError",
    "CrmSettings",
    "CustomerNotFound",
    "DatabaseUnavailable",
    "IdempotencyConflict",
    "ImportFileError",
    "InvalidInput",
    "NotEligibleForRefund",
    "OrderNotCancellable",
    "OrderNotFound",
    "VerificationFailed",
    "create_db_engine",
    "create_session_factory",
    "upgrade_schema",
]
