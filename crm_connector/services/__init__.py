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

# The web gateway and the agent inbox.
from crm_connector.services.agents import (  # noqa: E402
    authenticate_agent,
    create_agent_user,
    get_agent,
    hash_password,
    list_agents,
    set_agent_password,
)
from crm_connector.services.channel_delivery import (  # noqa: E402
    ChannelDeliveryView,
    delivery_states,
    finish_channel_delivery,
    record_channel_delivery,
    release_delivery_attempt,
    resume_channel_deliveries,
    retry_channel_delivery,
    start_delivery_attempt,
)
from crm_connector.services.inbox import (  # noqa: E402
    InboxView,
    add_canned_reply,
    add_note,
    agent_reply,
    claim_conversation,
    customer_profile,
    get_conversation,
    hand_back_to_bot,
    list_active_agents,
    list_canned_replies,
    list_conversations,
    resolve_conversation,
    transfer_conversation,
)
from crm_connector.services.inbox_messages import (  # noqa: E402
    conversation_history,
    conversations_with_pending,
    find_conversation,
    mark_delivered,
    open_conversation,
    pending_customer_messages,
    queue_for_person,
    rate_conversation,
    store_customer_message,
    store_outgoing_message,
    sync_after_bot_turn,
)
from crm_connector.services.inbox_views import (  # noqa: E402
    AgentView,
    CannedReplyView,
    ConversationView,
    CustomerProfile,
    MessageView,
    PastConversation,
    ProfileOrder,
    ProfileRefund,
    StoredCustomerMessage,
)

INBOX_API = [
    "AgentView", "CannedReplyView", "ChannelDeliveryView", "ConversationView", "CustomerProfile",
    "InboxView", "MessageView", "PastConversation", "ProfileOrder", "ProfileRefund",
    "StoredCustomerMessage", "add_canned_reply", "add_note", "agent_reply", "authenticate_agent",
    "claim_conversation", "conversation_history", "conversations_with_pending", "create_agent_user",
    "customer_profile", "delivery_states", "find_conversation", "finish_channel_delivery",
    "get_agent", "get_conversation", "hand_back_to_bot", "hash_password", "list_active_agents",
    "list_agents", "list_canned_replies", "list_conversations", "mark_delivered",
    "open_conversation", "pending_customer_messages", "queue_for_person", "rate_conversation",
    "record_channel_delivery", "release_delivery_attempt", "resolve_conversation",
    "resume_channel_deliveries", "retry_channel_delivery", "set_agent_password", "start_delivery_attempt",
    "store_customer_message", "store_outgoing_message", "sync_after_bot_turn",
    "transfer_conversation",
]
__all__ += INBOX_API
