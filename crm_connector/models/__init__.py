"""The CRM schema: one declarative ``Base`` and its mapped classes."""

from crm_connector.models.base import (
    AgentRole,
    Base,
    ConversationStatus,
    OrderKind,
    OrderStatus,
    PaymentStatus,
    RefundStatus,
    ShipmentStatus,
    utcnow,
)
from crm_connector.models.catalog import Category, Product
from crm_connector.models.customer import Address, Customer
from crm_connector.models.import_batch import ImportBatch
from crm_connector.models.order import OrderLine, Payment, SalesOrder, Shipment, ShipmentEvent
from crm_connector.models.refund import Cancellation, Refund, RefundItem
from crm_connector.models.support import (
    AgentUser,
    AuditLog,
    CannedReply,
    ChannelDelivery,
    ChannelDeliveryState,
    ConversationEvent,
    ConversationEventKind,
    ConversationMessage,
    DeliveryState,
    MessageAuthor,
    SupportConversation,
)

__all__ = [
    "Address", "AgentRole", "AgentUser", "AuditLog", "Base", "Cancellation", "Category",
    "ConversationStatus", "Customer", "ImportBatch", "OrderKind", "OrderLine", "OrderStatus",
    "Payment", "PaymentStatus", "Product", "Refund", "RefundItem", "RefundStatus", "SalesOrder",
    "Shipment", "ShipmentEvent", "ShipmentStatus", "SupportConversation", "utcnow",
    "CannedReply", "ConversationEvent", "ConversationEventKind", "ConversationMessage",
    "DeliveryState", "MessageAuthor", "ChannelDelivery", "ChannelDeliveryState",
]
