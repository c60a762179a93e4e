"""Queue a conversation for the agents: the ``support_conversation`` row and its audit entry.

NOTE for the lead: this belongs in ``crm_connector`` (a ``services/conversations.py`` exported
as ``queue_conversation``, with the ORM models ``SupportConversation`` and ``AuditLog``). It
lives here only because ``crm_connector`` has no such service yet and ``actions`` may import
nothing but its public API; it therefore names the two tables with SQLAlchemy Core
(``table()``/``column()``, the column names and types of migration 0001) instead of importing
the models. Move it and this module shrinks to an import.

The signature to keep::

    queue_conversation(session, sender_id, channel, customer_public_id, reason, summary, now)
        -> QueuedConversation

Run it in ``crm_connector.write_transaction(sessions)``. One row per ``sender_id`` (unique in
the schema): a conversation that is new, with the bot, or closed becomes QUEUED with
``queued_at = now``; one already QUEUED keeps its place in the queue (``queued_at``) and gets the
newer reason and summary; one an agent already has stays with the agent. A concurrent insert of
the same sender id is resolved in a savepoint. Each call writes one ``audit_log`` row
(actor ``bot``, action ``conversation.queued``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, column, insert, select, table, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from crm_connector import BOT_ACTOR, InvalidInput

log = logging.getLogger(__name__)

QUEUED, AGENT, BOT, CLOSED = "queued", "agent", "bot", "closed"
MAX_SENDER_ID = 128
MAX_CHANNEL = 32
MAX_REASON = 64


class _UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes stored naive, as ``crm_connector``'s column type does."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise InvalidInput("a timezone-aware datetime is required")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


_customer = table("customer", column("id", Integer), column("public_id", String))
_conversation = table(
    "support_conversation",
    column("id", Integer), column("sender_id", String), column("channel", String),
    column("customer_id", Integer), column("status", String), column("handoff_reason", String),
    column("summary", Text), column("created_at", _UtcDateTime()),
    column("queued_at", _UtcDateTime()), column("closed_at", _UtcDateTime()),
    column("updated_at", _UtcDateTime()),
)
_audit = table(
    "audit_log",
    column("id", Integer), column("occurred_at", _UtcDateTime()), column("actor", String),
    column("action", String), column("entity_type", String), column("entity_id", Integer),
    column("before", JSON), column("after", JSON),
)


@dataclass(frozen=True, slots=True)
class QueuedConversation:
    sender_id: str
    status: str
    queued_at: dt.datetime | None
    handoff_reason: str | None
    #: False when the conversation was already queued or with an agent.
    newly_queued: bool


def stored_sender_id(sender_id: str) -> str:
    """The conversation id as stored: itself, or a hash when it exceeds the column."""
    if len(sender_id) <= MAX_SENDER_ID:
        return sender_id
    return "sha256:" + hashlib.sha256(sender_id.encode("utf-8", "replace")).hexdigest()


def queue_conversation(
    session: Session,
    sender_id: str,
    channel: str,
    customer_public_id: str | None,
    reason: str,
    summary: str,
    now: dt.datetime,
) -> QueuedConversation:
    """Put the conversation ``sender_id`` in the agents' queue; see the module docstring."""
    if not isinstance(sender_id, str) or not sender_id.strip():
        raise InvalidInput("The conversation id is missing.")
    if now.tzinfo is None:
        raise InvalidInput("now must be a timezone-aware datetime")
    sender = stored_sender_id(sender_id)
    customer_pk = None
    if customer_public_id:
        customer_pk = session.scalar(
            select(_customer.c.id).where(_customer.c.public_id == customer_public_id)
        )
    values: dict[str, Any] = {
        "channel": (channel or "web")[:MAX_CHANNEL], "handoff_reason": reason[:MAX_REASON],
        "summary": summary, "updated_at": now,
    }
    if customer_pk is not None:
        values["customer_id"] = customer_pk

    row = _locked_row(session, sender)
    if row is None:
        try:
            with session.begin_nested():
                conversation_id = session.execute(
                    insert(_conversation)
                    .values(sender_id=sender, status=QUEUED, created_at=now, queued_at=now,
                            **values)
                    .returning(_conversation.c.id)
                ).scalar_one()
            _audit_row(session, conversation_id, None, QUEUED, reason, now)
            log.info("conversation %s queued for an agent (%s)",
                     conversation_id, reason[:MAX_REASON])
            return QueuedConversation(sender, QUEUED, now, reason[:MAX_REASON], True)
        except IntegrityError:
            row = _locked_row(session, sender)  # a concurrent handoff inserted it first
            if row is None:
                raise

    conversation_id, status, queued_at = row.id, row.status, row.queued_at
    if status == AGENT:
        values = {"updated_at": now}  # an agent has it already: leave it with them
    elif status == QUEUED:
        pass  # keep its place in the queue; refresh reason and summary
    else:
        values.update(status=QUEUED, queued_at=now, closed_at=None)
        queued_at = now
    session.execute(
        update(_conversation).where(_conversation.c.id == conversation_id).values(**values))
    new_status = AGENT if status == AGENT else QUEUED
    _audit_row(session, conversation_id, status, new_status, reason, now)
    log.info("conversation %s handed over again (%s -> %s)", conversation_id, status, new_status)
    return QueuedConversation(sender, new_status, queued_at, reason[:MAX_REASON],
                              status not in (QUEUED, AGENT))


def _locked_row(session: Session, sender: str) -> Any:
    return session.execute(
        select(_conversation.c.id, _conversation.c.status, _conversation.c.queued_at)
        .where(_conversation.c.sender_id == sender)
        .with_for_update()
    ).first()


def _audit_row(
    session: Session, conversation_id: int, before: str | None, after: str, reason: str,
    now: dt.datetime,
) -> None:
    session.execute(insert(_audit).values(
        occurred_at=now, actor=BOT_ACTOR, action="conversation.queued",
        entity_type="support_conversation", entity_id=conversation_id,
        before=None if before is None else {"status": before},
        after={"status": after, "handoff_reason": reason[:MAX_REASON]},
    ))
