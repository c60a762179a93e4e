"""Support conversations (tickets), their messages and state-change events, agent users,
canned replies and the audit log."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_connector.models.base import AgentRole, Base, ConversationStatus, utcnow
from crm_connector.models.customer import Customer


class AgentUser(Base):
    __tablename__ = "agent_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[AgentRole] = mapped_column(default=AgentRole.AGENT)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]


class SupportConversation(Base):
    """A customer conversation as a ticket: who owns it, why it was handed off, how it ended."""

    __tablename__ = "support_conversation"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The Rasa ``sender_id`` / gateway conversation id.
    sender_id: Mapped[str] = mapped_column(String(128), unique=True)
    channel: Mapped[str] = mapped_column(String(32), default="web")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    status: Mapped[ConversationStatus] = mapped_column(default=ConversationStatus.BOT, index=True)
    assigned_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent_user.id"))
    handoff_reason: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str | None] = mapped_column(Text)
    rating: Mapped[int | None]
    rating_comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer | None] = relationship()
    assigned_agent: Mapped[AgentUser | None] = relationship()


class AuditLog(Base):
    """Every state change: who did what to which record, when, with the values before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int]
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]


# --- Conversation transcript, state-change log and canned replies (the web gateway and inbox) ---


class MessageAuthor(enum.StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"  # the gateway itself (an apology while the bot is down, a rating request)


class DeliveryState(enum.StrEnum):
    """Where a customer message stands; only customer messages have one.

    ``pending``: stored, not yet answered by the bot (the bot is busy or down; redelivered in
    order when it is back). ``delivered``: the bot got it, or a person owned the conversation
    when it arrived (the inbox shows it). ``handed_over``: the bot never got it because the
    conversation went to a person first; the agent sees it in the inbox. ``failed``: the bot
    refused it permanently (an HTTP 4xx from Rasa); kept for the agent and for analysis.
    """

    PENDING = "pending"
    DELIVERED = "delivered"
    HANDED_OVER = "handed_over"
    FAILED = "failed"


class ConversationEventKind(enum.StrEnum):
    """A change of a conversation's state, for the inbox history and for analytics.

    ``started`` (the gateway opened it, status bot), ``queued`` (handed to people: by the bot's
    handoff, or the gateway when the bot was unavailable and the customer asked for a person),
    ``claimed`` (an agent took it from the queue), ``transferred`` (to another agent),
    ``resolved`` (closed by an agent), ``handed_back`` (agent -> bot), ``reopened`` (a customer
    wrote in a closed conversation: back to the bot), ``rated`` (the customer rated it).
    """

    STARTED = "started"
    QUEUED = "queued"
    CLAIMED = "claimed"
    TRANSFERRED = "transferred"
    RESOLVED = "resolved"
    HANDED_BACK = "handed_back"
    REOPENED = "reopened"
    RATED = "rated"


class ConversationMessage(Base):
    """One message of a conversation, in the order the gateway stored it (``id``).

    Every customer message is stored here before it is routed anywhere. ``internal`` marks an
    agent's note: never shown or sent to the customer. ``client_message_id`` (the widget's
    ``client_id``, a messaging provider's update id) is unique per conversation, so a retried
    send is stored once.
    """

    __tablename__ = "conversation_message"
    __table_args__ = (
        UniqueConstraint("conversation_id", "client_message_id",
                         name="uq_conversation_message_client_message_id"),
        Index("ix_conversation_message_conversation_id_id", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("support_conversation.id", ondelete="CASCADE"))
    author: Mapped[MessageAuthor]
    #: The agent who wrote it (author ``agent``, or an internal note).
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent_user.id"))
    text: Mapped[str] = mapped_column(Text)
    #: A pressed button's payload (customer), sent to the bot instead of ``text``.
    payload: Mapped[str | None] = mapped_column(String(255))
    #: Quick-reply buttons offered with a bot or system message: ``[{"title", "payload"}]``.
    buttons: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    internal: Mapped[bool] = mapped_column(default=False)
    client_message_id: Mapped[str | None] = mapped_column(String(64))
    delivery_state: Mapped[DeliveryState | None]
    #: Metadata passed to the bot with a customer message (e.g. ``shop_token``).
    bot_metadata: Mapped[dict[str, Any] | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    delivered_at: Mapped[dt.datetime | None]


class ConversationEvent(Base):
    """The log of a conversation's state changes (see ``ConversationEventKind``).

    ``actor`` is ``"bot"``, ``"system"``, ``"customer"`` or ``"agent:<id>"``; ``agent_id`` the
    acting agent, ``target_agent_id`` the receiving agent of a transfer (or the claimer);
    ``from_status``/``to_status`` the conversation status around the change; ``reason`` a short
    code (the handoff reason, ``bot_unavailable``...); ``score`` the rating of a ``rated`` event.
    Analytics computes handoffs, time to first response, resolution time and ratings from it.
    """

    __tablename__ = "conversation_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("support_conversation.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ConversationEventKind] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent_user.id"))
    target_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent_user.id"))
    from_status: Mapped[ConversationStatus | None]
    to_status: Mapped[ConversationStatus | None]
    reason: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[int | None]
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class CannedReply(Base):
    """A prepared answer agents insert into a reply."""

    __tablename__ = "canned_reply"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100), unique=True)
    text: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# --- Outgoing messages to messaging channels (Telegram, ...): a durable outbox ---


class ChannelDeliveryState(enum.StrEnum):
    """Where an outgoing message to a messaging channel stands.

    ``pending``: stored, not sent yet (queued, or waiting out a 429/5xx); queued again when the
    gateway starts. ``sending``: a request is on the wire; found at start-up (the process
    stopped mid-request) it becomes ``uncertain``. ``sent``: the provider accepted it
    (``provider_message_id``). ``failed``: refused, or the provider stayed unavailable through
    every retry; kept for the inbox or a manual retry. ``uncertain``: the request may have
    reached the provider without an answer; never sent again automatically.
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


class ChannelDelivery(Base):
    """One message the gateway sends a customer through a messaging channel (its outbox row).

    Written before the provider is called, so nothing queued is lost when the process stops.
    ``delivery_key`` (unique per channel; None for frames without one, such as a rating prompt)
    sends each key at most once, across restarts. ``last_error`` is a short code, never the
    provider's text. A row goes with its conversation message (``ondelete`` cascade), so erasing
    a conversation erases what was sent in it.
    """

    __tablename__ = "channel_delivery"
    __table_args__ = (
        UniqueConstraint("channel", "delivery_key", name="uq_channel_delivery_channel_key"),
        Index("ix_channel_delivery_channel_state_id", "channel", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    #: The provider's conversation id (Telegram: the chat id).
    external_conversation_id: Mapped[str] = mapped_column(String(128))
    delivery_key: Mapped[str | None] = mapped_column(String(128))
    conversation_message_id: Mapped[int | None] = mapped_column(
        # Named here: the naming convention's name would pass PostgreSQL's 63-character limit.
        ForeignKey("conversation_message.id", ondelete="CASCADE",
                   name="fk_channel_delivery_conversation_message_id"),
        index=True,
    )
    text: Mapped[str] = mapped_column(Text)
    #: The provider's keyboard (Telegram: ``inline_keyboard`` rows).
    buttons: Mapped[list[list[dict[str, str]]] | None] = mapped_column(JSON)
    state: Mapped[ChannelDeliveryState] = mapped_column(default=ChannelDeliveryState.PENDING)
    #: Requests made so far (each retry after a 429 or 5xx counts).
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
    provider_message_id: Mapped[str | None] = mapped_column(String(64))
