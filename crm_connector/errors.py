"""Errors of the CRM connector. Messages are written for a support agent to read."""

from __future__ import annotations


class CrmError(Exception):
    """Root of every error raised by ``crm_connector``."""

    #: A short machine-readable code that callers (actions, web views) can map to replies.
    code = "crm_error"


class DatabaseUnavailable(CrmError):
    """The database could not be reached or answered with a driver error."""

    code = "database_unavailable"


class InvalidInput(CrmError, ValueError):
    """A value given to a service is malformed (an email, a phone number, an amount...)."""

    code = "invalid_input"


class CustomerNotFound(CrmError):
    code = "customer_not_found"


class OrderNotFound(CrmError):
    code = "order_not_found"


class VerificationFailed(CrmError):
    """The identity proof (email + order number, or a shop token) did not match."""

    code = "verification_failed"


class NotEligibleForRefund(CrmError):
    """A refund is not possible; ``reason`` is one of the ``RefundRefusal`` codes."""

    code = "not_eligible_for_refund"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class OrderNotCancellable(CrmError):
    code = "order_not_cancellable"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class AddressChangeNotAllowed(CrmError):
    code = "address_change_not_allowed"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class IdempotencyConflict(CrmError):
    """An idempotency key was reused with a different request."""

    code = "idempotency_conflict"


class ImportFileError(CrmError):
    """An import file cannot be read at all (missing, wrong format, wrong header)."""

    code = "import_file_error"
