"""Frozen views returned by the inbox services (``inbox``, ``inbox_messages``, ``agents``).

Views carry what the gateway and the inbox show; callers turn them into JSON. Fields that hold
personal data are excluded from ``repr`` so they never reach a log by accident.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from crm_connector.models.base import AgentRole, ConversationStatus
from crm_connector.models.support import DeliveryState, MessageAuthor


@dataclass(frozen=True, slots=True)
class AgentView:
    id: int
    username: str
    display_name: str
    role: AgentRole
    active: bool


@dataclass(frozen=True, slots=True)
class MessageView:
    id: int
    conversation_id: int
    author: MessageAuthor
    text: str = field(repr=False)
    buttons: tuple[dict[str, str], ...]
    internal: bool
    created_at: dt.datetime
    client_message_id: str | None = None
    payload: str | None = field(default=None, repr=False)
    agent_id: int | None = None
    agent_name: str | None = None
    delivery_state: DeliveryState | None = None
    bot_metadata: dict[str, Any] | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class ConversationView:
    """A conversation as the inbox lists it."""

    id: int
    sender_id: str
    channel: str
    status: ConversationStatus
    customer_public_id: str | None
    customer_name: str | None = field(repr=False)
    handoff_reason: str | None
    summary: str | None = field(repr=False)
    assigned_agent_id: int | None
    assigned_agent_name: str | None
    created_at: dt.datetime
    queued_at: dt.datetime | None
    closed_at: dt.datetime | None
    last_message_at: dt.datetime | None
    preview: str | None = field(repr=False)
    rating: int | None
    rating_comment: str | None = field(repr=False)
    #: Seconds since the conversation was queued (queued conversations only), at ``now``.
    waiting_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class StoredCustomerMessage:
    """What storing a customer message did."""

    message: MessageView
    #: False when a message with the same client id was stored earlier (nothing new stored).
    created: bool
    #: The conversation status after storing (a message in a closed conversation reopens it).
    status: ConversationStatus
    reopened: bool = False


@dataclass(frozen=True, slots=True)
class CannedReplyView:
    id: int
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class ProfileOrder:
    number: str
    status: str
    placed_at: dt.datetime
    total_cents: int
    currency: str


@dataclass(frozen=True, slots=True)
class ProfileRefund:
    order_number: str
    amount_cents: int
    currency: str
    status: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class PastConversation:
    id: int
    status: ConversationStatus
    channel: str
    handoff_reason: str | None
    created_at: dt.datetime
    closed_at: dt.datetime | None
    rating: int | None


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    """The CRM panel beside a conversation. ``customer`` is None for an unverified visitor."""

    public_id: str | None
    name: str | None = field(repr=False)
    email: str | None = field(repr=False)
    orders: tuple[ProfileOrder, ...]
    refunds: tuple[ProfileRefund, ...]
    past_conversations: tuple[PastConversation, ...]
