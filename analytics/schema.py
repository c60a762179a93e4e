"""Analytics tables: conversations, turns, actions, handoffs, ratings, load watermarks, and the
conversation events read from RabbitMQ (``analytics.broker``).

They live in the same database as the CRM by default but on their own ``MetaData`` (tables
prefixed ``analytics_``) with their own Alembic environment (``analytics/migrations``, version
table ``alembic_version_analytics``), so they never touch crm_connector's revision chain.
Stored text is redacted (``analytics.redact``) before it reaches these tables.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine, Float, ForeignKey, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_connector import migrate
from crm_connector.models.base import NAMING_CONVENTION, UtcDateTime


class AnalyticsBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UtcDateTime(), str: String(255)}


class Watermark(AnalyticsBase):
    """How far the pipeline has read one source (the last event id, or the last update time)."""

    __tablename__ = "analytics_watermark"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)
    position_at: Mapped[dt.datetime | None]
    #: When a pipeline run last read this source (every run sets it, new rows or not).
    updated_at: Mapped[dt.datetime]


class Conversation(AnalyticsBase):
    """One conversation (a Rasa ``sender_id``), summarised from its turns and its support row."""

    __tablename__ = "analytics_conversation"

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(128), unique=True)
    channel: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[dt.datetime] = mapped_column(index=True)
    last_event_at: Mapped[dt.datetime]
    user_turns: Mapped[int] = mapped_column(default=0)
    bot_messages: Mapped[int] = mapped_column(default=0)
    fallback_turns: Mapped[int] = mapped_column(default=0)
    low_confidence_turns: Mapped[int] = mapped_column(default=0)
    faq_asked: Mapped[int] = mapped_column(default=0)
    faq_answered: Mapped[int] = mapped_column(default=0)
    #: The first intent that says what the conversation was about (greetings etc. skipped).
    main_intent: Mapped[str | None] = mapped_column(String(64), index=True)
    handed_off: Mapped[bool] = mapped_column(default=False)
    handoff_reason: Mapped[str | None] = mapped_column(String(64))
    handoff_at: Mapped[dt.datetime | None]
    #: contained | handed_off | unresolved | empty (see ``analytics.pipeline.resolution``)
    resolution: Mapped[str] = mapped_column(String(16), default="empty", index=True)
    resolved_at: Mapped[dt.datetime | None]
    first_response_seconds: Mapped[float | None] = mapped_column(Float)
    resolution_seconds: Mapped[float | None] = mapped_column(Float)
    #: From the gateway: when an agent took it, their messages, how long the first one took.
    claimed_at: Mapped[dt.datetime | None]
    agent_messages: Mapped[int] = mapped_column(default=0)
    agent_first_response_at: Mapped[dt.datetime | None]
    agent_first_response_seconds: Mapped[float | None] = mapped_column(Float)
    support_status: Mapped[str | None] = mapped_column(String(16))
    agent_id: Mapped[int | None] = mapped_column(Integer, index=True)
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    rating: Mapped[int | None]


class Turn(AnalyticsBase):
    """One customer message with how the bot understood and answered it."""

    __tablename__ = "analytics_turn"
    __table_args__ = (UniqueConstraint("source", "source_event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("analytics_conversation.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16))  # tracker | broker | gateway
    source_event_id: Mapped[int]
    sent_at: Mapped[dt.datetime] = mapped_column(index=True)
    text: Mapped[str] = mapped_column(Text, default="")  # redacted
    intent: Mapped[str | None] = mapped_column(String(64), index=True)
    confidence: Mapped[float | None] = mapped_column(Float)
    is_fallback: Mapped[bool] = mapped_column(default=False)
    is_low_confidence: Mapped[bool] = mapped_column(default=False)
    faq_asked: Mapped[bool] = mapped_column(default=False)
    faq_answered: Mapped[bool] = mapped_column(default=False)
    faq_question: Mapped[str | None] = mapped_column(String(255))
    first_response_at: Mapped[dt.datetime | None]


class Action(AnalyticsBase):
    """An action the bot ran (``action_listen`` is left out), tied to the turn it answered."""

    __tablename__ = "analytics_action"
    __table_args__ = (UniqueConstraint("source", "source_event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("analytics_conversation.id", ondelete="CASCADE"), index=True)
    turn_id: Mapped[int | None] = mapped_column(
        ForeignKey("analytics_turn.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16), server_default="tracker")  # tracker | broker
    source_event_id: Mapped[int]
    occurred_at: Mapped[dt.datetime]
    name: Mapped[str] = mapped_column(String(64), index=True)


class Handoff(AnalyticsBase):
    """The bot passing a conversation to a person (a ``pause`` event in the tracker)."""

    __tablename__ = "analytics_handoff"
    __table_args__ = (UniqueConstraint("source", "source_event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("analytics_conversation.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16))  # tracker | broker | support | gateway
    source_event_id: Mapped[int]
    occurred_at: Mapped[dt.datetime]
    reason: Mapped[str | None] = mapped_column(String(64))


class Rating(AnalyticsBase):
    """The customer's rating of a conversation (1-5), with the agent who had it."""

    __tablename__ = "analytics_rating"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("analytics_conversation.id", ondelete="CASCADE"), unique=True)
    score: Mapped[int]
    comment: Mapped[str | None] = mapped_column(Text)  # redacted
    agent_id: Mapped[int | None]
    intent: Mapped[str | None] = mapped_column(String(64))
    rated_at: Mapped[dt.datetime]


class BrokerEvent(AnalyticsBase):
    """A conversation event that Rasa's event broker published to RabbitMQ, stored by
    ``analytics.broker`` with the columns of Rasa's tracker store table ``events`` (``data`` is
    the event's JSON without ``sender_id``, as that table has it), so the pipeline reads either
    table with the same code. ``id`` is the arrival order (never reused: the pipeline's
    watermark); ``dedupe_key`` (sha256 of the message body) stores a redelivered message once."""

    __tablename__ = "analytics_broker_event"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[str]
    type_name: Mapped[str]
    timestamp: Mapped[float | None] = mapped_column(Float)
    intent_name: Mapped[str | None]
    action_name: Mapped[str | None]
    data: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[dt.datetime]


ANALYTICS_TABLES = tuple(AnalyticsBase.metadata.sorted_tables)


# --- migrations -------------------------------------------------------------------------------

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version_analytics"


def upgrade_analytics(engine: Engine, revision: str = "head") -> None:
    """Bring the analytics tables to ``revision`` (their own chain; the CRM's is untouched)."""
    migrate.upgrade(engine, revision, migrations_dir=MIGRATIONS_DIR)


def downgrade_analytics(engine: Engine, revision: str) -> None:
    migrate.downgrade(engine, revision, migrations_dir=MIGRATIONS_DIR)


def analytics_revision(engine: Engine) -> str | None:
    return migrate.current_revision(engine, version_table=VERSION_TABLE)


def analytics_head(engine: Engine) -> str | None:
    return migrate.head_revision(engine, migrations_dir=MIGRATIONS_DIR)
