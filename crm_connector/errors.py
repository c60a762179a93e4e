"""Errors of the CRM connector. Messages are written for a support agent to read.

Every error carries a stable ``code`` (and, where a rule refused something, a ``reason``) that
callers such as the action server map to replies. Messages never contain an email address, a
phone number or a name: they may end up in logs.
"""

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


class AmbiguousCustomer(CrmError):
    """More than one customer matches (e.g. a phone number shared by a household)."""

    code = "ambiguous_customer"


class OrderNotFound(CrmError):
    """No such order for this customer (the same message whether it does not exist at all
    or belongs to somebody else)."""

    code = "order_not_found"


class VerificationFailed(CrmError):
    """The identity proof (email + order number, or a shop token) did not match."""

    code = "verification_failed"


class ShopTokenInvalid(VerificationFailed):
    """A shop sign-in token was rejected; ``reason`` says why (see ``TokenRejection``)."""

    code = "shop_token_invalid"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class NotEligibleForRefund(CrmError):
    """A refund is not possible; ``reason`` is one of the ``RefundCode`` values.

    ``refundable_cents`` is the most that can still be refunded on the order when that is
    useful to tell the customer (a too-high amount), otherwise ``None``.
    """

    code = "not_eligible_for_refund"

    def __init__(self, message: str, *, reason: str, refundable_cents: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.refundable_cents = refundable_cents


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


class ImportConflict(CrmError):
    """Another writer inserted the same rows at the same time (two imports of one file)."""

    code = "import_conflict"


class ConversationNotFound(CrmError):
    """No support conversation with that id (or conversation token)."""

    code = "conversation_not_found"


class ConversationStateConflict(CrmError):
    """The conversation's state does not allow this (claiming one somebody else owns,
    replying to a closed one, rating one that is still open...)."""

    code = "state_conflict"


class DeliveryNotRetryable(ConversationStateConflict):
    """A message cannot be sent again: it has no outbox row, or its row is not ``failed``
    (it is still on its way, arrived, or may have arrived: ``uncertain``)."""

    code = "delivery_not_retryable"


class AgentNotFound(CrmError):
    """No active agent user with that id or user name."""

    code = "agent_not_found"


class AgentUserExists(CrmError):
    code = "agent_user_exists"
