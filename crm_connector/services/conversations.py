"""Support conversations: putting one in the agents' queue when the bot hands over.

Run ``queue_conversation`` in ``write_transaction``. There is one ``support_conversation`` row
per ``sender_id`` (unique in the schema):

* a conversation that is new, with the bot, or closed becomes QUEUED with ``queued_at = now``;
* one already QUEUED keeps its place in the queue (``queued_at``) and gets the newer reason
  and summary;
* one an agent already has stays with the agent (only ``updated_at`` changes).

The row is locked (``SELECT ... FOR UPDATE`` on PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite) and
a concurrent insert of the same sender id is resolved in a savepoint, so concurrent handoffs of
one conversation make one row. Sender ids longer than the column are stored as a hash. Each
call writes one audit entry (actor ``bot``, action ``conversation.queued``) with the status
before and after and the handoff reason (a code, not personal data).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_connector.db import db_boundary
from crm_connector.errors import InvalidInput
from crm_connector.models import ConversationStatus, Customer, SupportConversation
from crm_connector.services.audit import BOT_ACTOR, ENTITY_CONVERSATION, record_audit
from crm_connector.services.validation import require_aware
from crm_connector.services.views import QueuedConversation

log = logging.getLogger(__name__)

MAX_SENDER_ID = 128
MAX_CHANNEL = 32
MAX_REASON = 64
DEFAULT_CHANNEL = "web"


def stored_sender_id(sender_id: str) -> str:
    """The conversation id as stored: itself, or a hash when it exceeds the column."""
    if len(sender_id) <= MAX_SENDER_ID:
        return sender_id
    return "sha256:" + hashlib.sha256(sender_id.encode("utf-8", "replace")).hexdigest()


@db_boundary
def queue_conversation(
    session: Session,
    sender_id: str,
    channel: str,
    customer_public_id: str | None,
    reason: str,
    summary: str,
    now: dt.datetime,
) -> QueuedConversation:
    """Put the conversation ``sender_id`` in the agents' queue; see the module docstring.

    ``customer_public_id`` is the verified customer, if any (an unknown one is not linked);
    ``reason`` is a short code such as ``"complaint"``; ``summary`` is for the agent.
    """
    if not isinstance(sender_id, str) or not sender_id.strip():
        raise InvalidInput("The conversation id is missing.")
    require_aware(now)
    sender = stored_sender_id(sender_id)
    reason = reason[:MAX_REASON]
    customer_pk = None
    if customer_public_id:
        customer_pk = session.scalar(
            select(Customer.id).where(Customer.public_id == customer_public_id)
        )

    conversation = _locked(session, sender)
    if conversation is None:
        conversation = SupportConversation(
            sender_id=sender, channel=(channel or DEFAULT_CHANNEL)[:MAX_CHANNEL],
            customer_id=customer_pk, status=ConversationStatus.QUEUED, handoff_reason=reason,
            summary=summary, created_at=now, queued_at=now, updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(conversation)
        except IntegrityError:
            conversation = _locked(session, sender)  # a concurrent handoff inserted it first
            if conversation is None:
                raise
        else:
            _audit(session, conversation, None, reason, now)
            log.info("conversation %s queued for an agent (%s)", conversation.id, reason)
            return _view(conversation, reason, newly_queued=True)

    before = conversation.status
    conversation.updated_at = now
    if before != ConversationStatus.AGENT:  # an agent has it already: leave it with them
        conversation.channel = (channel or DEFAULT_CHANNEL)[:MAX_CHANNEL]
        conversation.handoff_reason = reason
        conversation.summary = summary
        if customer_pk is not None:
            conversation.customer_id = customer_pk
        if before != ConversationStatus.QUEUED:  # QUEUED keeps its place in the queue
            conversation.status = ConversationStatus.QUEUED
            conversation.queued_at = now
            conversation.closed_at = None
    session.flush()
    _audit(session, conversation, before, reason, now)
    log.info("conversation %s handed over again (%s -> %s)",
             conversation.id, before.value, conversation.status.value)
    return _view(conversation, reason, newly_queued=before not in (
        ConversationStatus.QUEUED, ConversationStatus.AGENT))


def _locked(session: Session, sender: str) -> SupportConversation | None:
    return session.scalars(
        select(SupportConversation)
        .where(SupportConversation.sender_id == sender)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()


def _audit(
    session: Session, conversation: SupportConversation, before: ConversationStatus | None,
    reason: str, now: dt.datetime,
) -> None:
    record_audit(
        session, actor=BOT_ACTOR, action="conversation.queued",
        entity_type=ENTITY_CONVERSATION, entity_id=conversation.id,
        before=None if before is None else {"status": before},
        after={"status": conversation.status, "handoff_reason": reason}, now=now,
    )


def _view(
    conversation: SupportConversation, reason: str, *, newly_queued: bool
) -> QueuedConversation:
    return QueuedConversation(
        sender_id=conversation.sender_id,
        status=conversation.status,
        queued_at=conversation.queued_at,
        handoff_reason=reason,
        newly_queued=newly_queued,
    )
