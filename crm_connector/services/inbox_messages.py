"""The gateway's side of a support conversation: open it, store every message, track delivery
to the bot, hand it to people, rate it.

Every customer message is stored (``store_customer_message``) before it is routed anywhere;
``client_message_id`` makes a retried send a no-op. Customer messages start ``pending`` while
the bot owns the conversation and become ``delivered`` once the bot answered them
(``mark_delivered``), or ``handed_over`` when the conversation goes to a person first.
Each state change writes a ``conversation_event`` row (see ``ConversationEventKind``).

Functions take a ``Session``; run them in ``write_transaction`` (they lock the conversation row
on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_connector.db import db_boundary
from crm_connector.errors import ConversationNotFound, ConversationStateConflict, InvalidInput
from crm_connector.models import (
    AgentUser,
    ConversationEvent,
    ConversationEventKind,
    ConversationMessage,
    ConversationStatus,
    Customer,
    DeliveryState,
    MessageAuthor,
    SupportConversation,
)
from crm_connector.services.conversations import queue_conversation, stored_sender_id
from crm_connector.services.inbox_views import ConversationView, MessageView, StoredCustomerMessage
from crm_connector.services.validation import require_aware

log = logging.getLogger(__name__)

MAX_TEXT = 4000
MAX_CLIENT_ID = 64
MAX_PAYLOAD = 255
MAX_COMMENT = 1000
PREVIEW_CHARS = 120
SUMMARY_MESSAGES = 6
CUSTOMER_ACTOR = "customer"


# ----------------------------------------------------------------------------- views


def message_view(message: ConversationMessage, agent_names: dict[int, str] | None = None) -> MessageView:
    names = agent_names or {}
    return MessageView(
        id=message.id, conversation_id=message.conversation_id, author=message.author,
        text=message.text, buttons=tuple(message.buttons or ()), internal=message.internal,
        created_at=message.created_at, client_message_id=message.client_message_id,
        payload=message.payload, agent_id=message.agent_id,
        agent_name=names.get(message.agent_id) if message.agent_id else None,
        delivery_state=message.delivery_state, bot_metadata=message.bot_metadata,
    )


def conversation_view(session: Session, row: SupportConversation, now: dt.datetime | None = None) -> ConversationView:
    last = session.scalars(
        select(ConversationMessage)
        .where(ConversationMessage.conversation_id == row.id, ConversationMessage.internal.is_(False))
        .order_by(ConversationMessage.id.desc()).limit(1)
    ).first()
    customer = session.get(Customer, row.customer_id) if row.customer_id else None
    agent = session.get(AgentUser, row.assigned_agent_id) if row.assigned_agent_id else None
    waiting = None
    if row.status == ConversationStatus.QUEUED and row.queued_at is not None and now is not None:
        waiting = max(0, int((now - row.queued_at).total_seconds()))
    return ConversationView(
        id=row.id, sender_id=row.sender_id, channel=row.channel, status=row.status,
        customer_public_id=customer.public_id if customer else None,
        customer_name=customer.display_name if customer else None,
        handoff_reason=row.handoff_reason, summary=row.summary,
        assigned_agent_id=row.assigned_agent_id,
        assigned_agent_name=agent.display_name if agent else None,
        created_at=row.created_at, queued_at=row.queued_at, closed_at=row.closed_at,
        last_message_at=last.created_at if last else None,
        preview=(last.text[:PREVIEW_CHARS] if last else None),
        rating=row.rating, rating_comment=row.rating_comment, waiting_seconds=waiting,
    )


def agent_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(AgentUser.id, AgentUser.display_name).where(AgentUser.id.in_(ids)))
    return {i: name for i, name in rows}


# ----------------------------------------------------------------------------- helpers


def record_event(
    session: Session, row: SupportConversation, kind: ConversationEventKind, *, actor: str,
    now: dt.datetime, from_status: ConversationStatus | None, agent_id: int | None = None,
    target_agent_id: int | None = None, reason: str | None = None, score: int | None = None,
) -> None:
    session.add(ConversationEvent(
        conversation_id=row.id, kind=kind, actor=actor[:64], agent_id=agent_id,
        target_agent_id=target_agent_id, from_status=from_status, to_status=row.status,
        reason=reason[:64] if reason else None, score=score, occurred_at=now,
    ))


def locked_conversation(session: Session, conversation_id: int) -> SupportConversation:
    row = session.scalars(
        select(SupportConversation).where(SupportConversation.id == conversation_id)
        .with_for_update().execution_options(populate_existing=True)
    ).one_or_none()
    if row is None:
        raise ConversationNotFound("No such conversation.")
    return row


def _by_sender(session: Session, sender_id: str, *, lock: bool = True) -> SupportConversation | None:
    query = select(SupportConversation).where(SupportConversation.sender_id == stored_sender_id(sender_id))
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).one_or_none()


def _require_sender(session: Session, sender_id: str) -> SupportConversation:
    row = _by_sender(session, sender_id)
    if row is None:
        raise ConversationNotFound("No such conversation.")
    return row


def clean_text(text: object, *, limit: int = MAX_TEXT, what: str = "A message") -> str:
    if not isinstance(text, str):
        raise InvalidInput(f"{what} must be text.")
    text = text.replace("\x00", "").strip()
    if not text:
        raise InvalidInput(f"{what} is empty.")
    if len(text) > limit:
        raise InvalidInput(f"{what} is too long (at most {limit} characters).")
    return text


# ----------------------------------------------------------------------------- gateway side


@db_boundary
def open_conversation(
    session: Session, sender_id: str, channel: str, *, now: dt.datetime,
    customer_public_id: str | None = None,
) -> ConversationView:
    """The conversation ``sender_id``, created (status ``bot``) when new. A verified customer
    (``customer_public_id``) is linked to it."""
    require_aware(now)
    if not isinstance(sender_id, str) or not sender_id.strip():
        raise InvalidInput("The conversation id is missing.")
    row = _by_sender(session, sender_id)
    customer_pk = None
    if customer_public_id:
        customer_pk = session.scalar(select(Customer.id).where(Customer.public_id == customer_public_id))
    if row is None:
        row = SupportConversation(sender_id=stored_sender_id(sender_id), channel=channel[:32],
                                  customer_id=customer_pk, status=ConversationStatus.BOT,
                                  created_at=now, updated_at=now)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            row = _require_sender(session, sender_id)  # opened concurrently
        else:
            record_event(session, row, ConversationEventKind.STARTED, actor="system", now=now,
                         from_status=None)
            log.info("conversation %s started on %s", row.id, row.channel)
    elif customer_pk is not None and row.customer_id is None:
        row.customer_id = customer_pk
    session.flush()
    return conversation_view(session, row, now)


@db_boundary
def find_conversation(session: Session, sender_id: str, now: dt.datetime | None = None) -> ConversationView | None:
    row = _by_sender(session, sender_id, lock=False)
    return None if row is None else conversation_view(session, row, now)


@db_boundary
def store_customer_message(
    session: Session, sender_id: str, text: str, client_message_id: str | None, *,
    now: dt.datetime, payload: str | None = None, bot_metadata: dict[str, Any] | None = None,
) -> StoredCustomerMessage:
    """Store a customer message before anything else happens to it.

    A ``client_message_id`` seen before in this conversation returns the stored message with
    ``created=False``. A message in a ``closed`` conversation reopens it with the bot.
    """
    require_aware(now)
    text = clean_text(text)
    if client_message_id is not None:
        if not isinstance(client_message_id, str) or not 0 < len(client_message_id) <= MAX_CLIENT_ID:
            raise InvalidInput(f"A client message id has 1-{MAX_CLIENT_ID} characters.")
    if payload is not None and (not isinstance(payload, str) or len(payload) > MAX_PAYLOAD):
        raise InvalidInput(f"A button payload has at most {MAX_PAYLOAD} characters.")
    row = _require_sender(session, sender_id)
    if client_message_id is not None:
        existing = session.scalars(select(ConversationMessage).where(
            ConversationMessage.conversation_id == row.id,
            ConversationMessage.client_message_id == client_message_id)).one_or_none()
        if existing is not None:
            return StoredCustomerMessage(message_view(existing), created=False, status=row.status)
    reopened = False
    if row.status == ConversationStatus.CLOSED:
        row.status = ConversationStatus.BOT
        row.assigned_agent_id = None
        row.updated_at = now
        record_event(session, row, ConversationEventKind.REOPENED, actor=CUSTOMER_ACTOR, now=now,
                     from_status=ConversationStatus.CLOSED)
        reopened = True
    state = DeliveryState.PENDING if row.status == ConversationStatus.BOT else DeliveryState.DELIVERED
    message = ConversationMessage(
        conversation_id=row.id, author=MessageAuthor.CUSTOMER, text=text, payload=payload or None,
        client_message_id=client_message_id, delivery_state=state, bot_metadata=bot_metadata or None,
        internal=False, created_at=now, delivered_at=None if state == DeliveryState.PENDING else now,
    )
    session.add(message)
    row.updated_at = now
    session.flush()
    return StoredCustomerMessage(message_view(message), created=True, status=row.status, reopened=reopened)


@db_boundary
def store_outgoing_message(
    session: Session, conversation_id: int, author: MessageAuthor | str, text: str, *,
    now: dt.datetime, buttons: list[dict[str, str]] | None = None, agent_id: int | None = None,
    internal: bool = False,
) -> MessageView:
    """A bot, system or agent message (``internal`` for an agent's note)."""
    author = MessageAuthor(author)
    if author == MessageAuthor.CUSTOMER:
        raise InvalidInput("Customer messages go through store_customer_message.")
    clean_buttons = [{"title": str(b.get("title", ""))[:MAX_PAYLOAD], "payload": str(b.get("payload", ""))[:MAX_PAYLOAD]}
                     for b in (buttons or []) if isinstance(b, dict) and b.get("title")]
    text = text.strip() if isinstance(text, str) else ""
    if not text and not clean_buttons:
        raise InvalidInput("A message is empty.")
    if len(text) > MAX_TEXT * 4:
        text = text[: MAX_TEXT * 4]
    message = ConversationMessage(
        conversation_id=conversation_id, author=author, text=text, buttons=clean_buttons or None,
        agent_id=agent_id, internal=internal, created_at=require_aware(now),
    )
    session.add(message)
    session.flush()
    return message_view(message, agent_names(session, {agent_id} if agent_id else set()))


@db_boundary
def pending_customer_messages(session: Session, conversation_id: int) -> list[MessageView]:
    """Customer messages the bot has not answered yet, oldest first."""
    rows = session.scalars(select(ConversationMessage).where(
        ConversationMessage.conversation_id == conversation_id,
        ConversationMessage.delivery_state == DeliveryState.PENDING,
    ).order_by(ConversationMessage.id))
    return [message_view(m) for m in rows]


@db_boundary
def conversations_with_pending(session: Session) -> list[str]:
    """Sender ids of conversations with the bot that have pending customer messages."""
    rows = session.execute(
        select(SupportConversation.sender_id, func.min(ConversationMessage.id))
        .join(ConversationMessage, ConversationMessage.conversation_id == SupportConversation.id)
        .where(ConversationMessage.delivery_state == DeliveryState.PENDING,
               SupportConversation.status == ConversationStatus.BOT)
        .group_by(SupportConversation.sender_id).order_by(func.min(ConversationMessage.id)))
    return [sender for sender, _ in rows]


@db_boundary
def mark_delivered(session: Session, message_id: int, *, now: dt.datetime,
                   state: DeliveryState = DeliveryState.DELIVERED) -> None:
    message = session.get(ConversationMessage, message_id)
    if message is None:
        raise InvalidInput("No such message.")
    message.delivery_state = state
    message.delivered_at = require_aware(now)


@db_boundary
def sync_after_bot_turn(session: Session, sender_id: str, channel: str, *, now: dt.datetime) -> ConversationView:
    """After the bot answered: if its handoff (``queue_conversation``, called by the action
    server) queued the conversation, record the ``queued`` event (once per queueing) and hand
    the remaining pending messages over; keep the gateway's channel name (the bot sees ``rest``)."""
    row = _require_sender(session, sender_id)
    if row.channel != channel:
        row.channel = channel[:32]
    if row.status == ConversationStatus.QUEUED and row.queued_at is not None:
        seen = session.scalar(select(ConversationEvent.id).where(
            ConversationEvent.conversation_id == row.id,
            ConversationEvent.kind == ConversationEventKind.QUEUED,
            ConversationEvent.occurred_at >= row.queued_at))
        if seen is None:
            record_event(session, row, ConversationEventKind.QUEUED, actor="bot",
                         now=row.queued_at, from_status=ConversationStatus.BOT,
                         reason=row.handoff_reason)
        _hand_over_pending(session, row.id, now)
    session.flush()
    return conversation_view(session, row, now)


def _hand_over_pending(session: Session, conversation_id: int, now: dt.datetime) -> None:
    for message in session.scalars(select(ConversationMessage).where(
            ConversationMessage.conversation_id == conversation_id,
            ConversationMessage.delivery_state == DeliveryState.PENDING)):
        message.delivery_state = DeliveryState.HANDED_OVER
        message.delivered_at = now


@db_boundary
def queue_for_person(session: Session, sender_id: str, reason: str, *, now: dt.datetime) -> ConversationView:
    """The gateway hands the conversation to people itself (the bot is unavailable and the
    customer asked for a person). The summary lists the customer's latest messages."""
    row = _require_sender(session, sender_id)
    before = row.status
    if before in (ConversationStatus.QUEUED, ConversationStatus.AGENT):
        return conversation_view(session, row, now)
    texts = session.scalars(select(ConversationMessage.text).where(
        ConversationMessage.conversation_id == row.id,
        ConversationMessage.author == MessageAuthor.CUSTOMER,
    ).order_by(ConversationMessage.id.desc()).limit(SUMMARY_MESSAGES)).all()
    summary = "The assistant was unavailable. The customer wrote:\n" + "\n".join(
        f"- {t[:200]}" for t in reversed(texts))
    customer = session.get(Customer, row.customer_id) if row.customer_id else None
    queue_conversation(session, sender_id, row.channel, customer.public_id if customer else None,
                       reason, summary, now)
    row = _require_sender(session, sender_id)
    record_event(session, row, ConversationEventKind.QUEUED, actor="system", now=now,
                 from_status=before, reason=reason)
    _hand_over_pending(session, row.id, now)
    session.flush()
    log.info("conversation %s queued by the gateway (%s)", row.id, reason)
    return conversation_view(session, row, now)


@db_boundary
def rate_conversation(
    session: Session, sender_id: str, score: int, comment: str | None, *, now: dt.datetime,
) -> ConversationView:
    """Store the customer's rating (1-5, optional comment) of a resolved conversation, once."""
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise InvalidInput("A rating is a whole number from 1 to 5.")
    if comment is not None:
        if not isinstance(comment, str):
            raise InvalidInput("A rating comment must be text.")
        comment = comment.replace("\x00", "").strip()
        if len(comment) > MAX_COMMENT:
            raise InvalidInput(f"A rating comment has at most {MAX_COMMENT} characters.")
    row = _require_sender(session, sender_id)
    if row.status != ConversationStatus.CLOSED:
        raise ConversationStateConflict("Only a resolved conversation can be rated.")
    if row.rating is not None:
        raise ConversationStateConflict("This conversation has been rated already.")
    row.rating = score
    row.rating_comment = comment or None
    row.updated_at = now
    record_event(session, row, ConversationEventKind.RATED, actor=CUSTOMER_ACTOR, now=now,
                 from_status=row.status, score=score,
                 agent_id=_last_agent(session, row))
    session.flush()
    log.info("conversation %s rated %s", row.id, score)
    return conversation_view(session, row, now)


def _last_agent(session: Session, row: SupportConversation) -> int | None:
    return session.scalar(select(ConversationEvent.agent_id).where(
        ConversationEvent.conversation_id == row.id,
        ConversationEvent.kind == ConversationEventKind.RESOLVED,
    ).order_by(ConversationEvent.id.desc()).limit(1))


@db_boundary
def conversation_history(session: Session, conversation_id: int, *, include_internal: bool) -> list[MessageView]:
    query = select(ConversationMessage).where(ConversationMessage.conversation_id == conversation_id)
    if not include_internal:
        query = query.where(ConversationMessage.internal.is_(False))
    rows = list(session.scalars(query.order_by(ConversationMessage.id)))
    names = agent_names(session, {m.agent_id for m in rows if m.agent_id})
    return [message_view(m, names) for m in rows]
