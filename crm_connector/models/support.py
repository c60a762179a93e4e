"""Support conversations (tickets), agent users and the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, Text
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
