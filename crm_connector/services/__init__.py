"""Business rules of the CRM connector, called by the action server and the agent inbox.

Every function takes a ``Session``; the caller owns the transaction (``read_transaction`` /
``write_transaction`` from ``crm_connector.db``) and gets plain frozen view objects back.
"""

from crm_connector.services.addresses import (
    address_change_refusal,
    change_delivery_address,
    validate_address,
)
from crm_connector.services.audit import (
    BOT_ACTOR,
    SYSTEM_ACTOR,
    agent_actor,
    audit_trail_for_order,
    customer_actor,
)
from crm_connector.services.cancellations import (
    cancel_order,
    cancellation_refund_key,
    cancellation_refusal,
)
from crm_connector.services.conversations import queue_conversation
from crm_connector.services.customers import (
    find_customer_by_email,
    find_customer_by_phone,
    get_customer,
    normalise_email,
    normalise_phone,
)
from crm_connector.services.orders import get_order_status, list_recent_orders
from crm_connector.services.refunds import check_refund_eligibility, request_refund
from crm_connector.services.verification import (
    SHOP_TOKEN_AUDIENCE,
    issue_shop_token,
    verify_email_and_order,
    verify_shop_token,
)
from crm_connector.services.views import (
    AddressChangeRefusal,
    AddressChangeRefusalView,
    AddressChangeView,
    AddressView,
    AuditEntryView,
    CancellationRefusalView,
    CancellationView,
    CustomerView,
    NewAddress,
    NotCancellableReason,
    OrderLineView,
    OrderStatusView,
    OrderSummary,
    QueuedConversation,
    RefundCode,
    RefundEligibility,
    RefundItemRequest,
    RefundItemView,
    RefundView,
    ShipmentEventView,
    TokenRejection,
    VerificationMethod,
    VerifiedIdentity,
)

__all__ = [
    "BOT_ACTOR", "SHOP_TOKEN_AUDIENCE", "SYSTEM_ACTOR", "AddressChangeRefusal",
    "AddressChangeRefusalView", "AddressChangeView", "AddressView", "AuditEntryView",
    "CancellationRefusalView", "CancellationView", "CustomerView", "NewAddress",
    "NotCancellableReason", "OrderLineView", "OrderStatusView", "OrderSummary",
    "QueuedConversation", "RefundCode", "RefundEligibility", "RefundItemRequest",
    "RefundItemView", "RefundView", "ShipmentEventView", "TokenRejection", "VerificationMethod",
    "VerifiedIdentity", "address_change_refusal", "agent_actor", "audit_trail_for_order",
    "cancel_order", "cancellation_refund_key", "cancellation_refusal", "change_delivery_address",
    "check_refund_eligibility", "customer_actor", "find_customer_by_email",
    "find_customer_by_phone", "get_customer", "get_order_status", "issue_shop_token",
    "list_recent_orders", "normalise_email", "normalise_phone", "queue_conversation",
    "request_refund", "validate_address", "verify_email_and_order", "verify_shop_token",
]
