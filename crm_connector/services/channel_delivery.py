"""The outbox of the messaging channels (``channel_delivery``): what the gateway sends a customer
through Telegram and the like, recorded before the provider is called.

A delivery is ``pending`` until a request starts (``start_delivery_attempt``: ``sending``,
only one caller wins), back to ``pending`` when the provider's answer proves nothing was sent
(``release_delivery_attempt``: 429, 5xx, no connection), and ends ``sent``, ``failed`` or
``uncertain`` (``finish_channel_delivery``). At start-up ``resume_channel_deliveries`` hands back
the pending ones in order and turns those left ``sending`` (the process stopped mid-request)
into ``uncertain``: they may have reached the customer, so they are never sent again
automatically. A delivery key is recorded once per channel: the same key is never sent twice.
An agent may send a ``failed`` one again (``retry_channel_delivery``: back to ``pending``).

Functions take a ``Session``; run them in ``write_transaction``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_connector.db import db_boundary
from crm_connector.errors import ConversationNotFound, DeliveryNotRetryable, InvalidInput
from crm_connector.models import ChannelDelivery, ChannelDeliveryState, ConversationMessage
from crm_connector.services.validation import require_aware

log = logging.getLogger(__name__)

MAX_CHANNEL = 32
MAX_EXTERNAL_ID = 128
MAX_KEY = 128
MAX_ERROR = 64
#: How a delivery found ``sending`` at start-up is marked (its request was cut off).
INTERRUPTED = "interrupted"
FINAL_STATES = frozenset(
    {ChannelDeliveryState.SENT, ChannelDeliveryState.FAILED, ChannelDeliveryState.UNCERTAIN})


@dataclass(frozen=True, slots=True)
class ChannelDeliveryView:
    """One outbox row. The text and keyboard are left out of ``repr`` (personal data)."""

    id: int
    channel: str
    external_conversation_id: str
    delivery_key: str | None
    conversation_message_id: int | None
    text: str = field(repr=False)
    buttons: list[list[dict[str, str]]] | None = field(repr=False)
    state: ChannelDeliveryState
    attempts: int
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    provider_message_id: str | None


@dataclass(frozen=True, slots=True)
class RecordedDelivery:
    delivery: ChannelDeliveryView
    #: False when the key was recorded before (nothing new: the caller must not send it again).
    created: bool


@dataclass(frozen=True, slots=True)
class ResumedDeliveries:
    """What a channel finds at start-up: the pending deliveries in order (oldest first), and
    the ids of the uncertain ones (including those just found cut off mid-request)."""

    pending: tuple[ChannelDeliveryView, ...]
    uncertain_ids: tuple[int, ...]


def delivery_view(row: ChannelDelivery) -> ChannelDeliveryView:
    return ChannelDeliveryView(
        id=row.id, channel=row.channel, external_conversation_id=row.external_conversation_id,
        delivery_key=row.delivery_key, conversation_message_id=row.conversation_message_id,
        text=row.text, buttons=row.buttons, state=row.state, attempts=row.attempts,
        last_error=row.last_error, created_at=row.created_at, sent_at=row.sent_at,
        provider_message_id=row.provider_message_id,
    )


def _short(value: object, limit: int, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidInput(f"{what} must be text of 1 to {limit} characters.")
    return value


def _by_key(session: Session, channel: str, key: str) -> ChannelDelivery | None:
    return session.scalars(select(ChannelDelivery).where(
        ChannelDelivery.channel == channel, ChannelDelivery.delivery_key == key)).one_or_none()


@db_boundary
def record_channel_delivery(
    session: Session, *, channel: str, external_conversation_id: str, key: str | None, text: str,
    buttons: list[list[dict[str, str]]] | None, now: dt.datetime,
    conversation_message_id: int | None = None,
) -> RecordedDelivery:
    """Record a message to send, ``pending``. A ``key`` recorded before for this channel returns
    that row with ``created=False`` (whatever its state). A ``conversation_message_id`` that is
    not (or no longer) stored is left out."""
    require_aware(now)
    channel = _short(channel, MAX_CHANNEL, "The channel")
    external_conversation_id = _short(external_conversation_id, MAX_EXTERNAL_ID,
                                      "The conversation id")
    if key is not None:
        key = _short(key, MAX_KEY, "The delivery key")
        existing = _by_key(session, channel, key)
        if existing is not None:
            return RecordedDelivery(delivery_view(existing), created=False)
    if not isinstance(text, str):
        raise InvalidInput("A message must be text.")
    if conversation_message_id is not None and session.get(
            ConversationMessage, conversation_message_id) is None:
        conversation_message_id = None
    row = ChannelDelivery(
        channel=channel, external_conversation_id=external_conversation_id, delivery_key=key,
        conversation_message_id=conversation_message_id, text=text, buttons=buttons or None,
        state=ChannelDeliveryState.PENDING, attempts=0, created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = _by_key(session, channel, key) if key is not None else None
        if existing is None:
            raise
        return RecordedDelivery(delivery_view(existing), created=False)  # recorded concurrently
    return RecordedDelivery(delivery_view(row), created=True)


@db_boundary
def start_delivery_attempt(session: Session, delivery_id: int) -> bool:
    """Before each request: ``pending`` -> ``sending`` (one more attempt). False when the
    delivery is not pending any more (sent, given up, or taken by another worker): do not send."""
    result = session.execute(
        update(ChannelDelivery)
        .where(ChannelDelivery.id == delivery_id,
               ChannelDelivery.state == ChannelDeliveryState.PENDING)
        .values(state=ChannelDeliveryState.SENDING, attempts=ChannelDelivery.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


@db_boundary
def release_delivery_attempt(session: Session, delivery_id: int, error: str) -> None:
    """The provider's answer proves nothing was sent (429, 5xx, no connection):
    ``sending`` -> ``pending``, with the short ``error`` code."""
    session.execute(
        update(ChannelDelivery)
        .where(ChannelDelivery.id == delivery_id,
               ChannelDelivery.state == ChannelDeliveryState.SENDING)
        .values(state=ChannelDeliveryState.PENDING, last_error=error[:MAX_ERROR])
        .execution_options(synchronize_session=False)
    )


@db_boundary
def finish_channel_delivery(
    session: Session, delivery_id: int, state: ChannelDeliveryState, *, now: dt.datetime,
    provider_message_id: Any = None, error: str | None = None,
) -> bool:
    """Record how a delivery ended: ``sent`` (with the provider's message id), ``failed`` or
    ``uncertain`` (with a short ``error`` code). A delivery that already ended is left alone;
    returns whether this call changed it."""
    require_aware(now)
    if state not in FINAL_STATES:
        raise InvalidInput("A delivery ends sent, failed or uncertain.")
    values: dict[str, Any] = {"state": state}
    if state == ChannelDeliveryState.SENT:
        values.update(sent_at=now, last_error=None, provider_message_id=(
            None if provider_message_id is None else str(provider_message_id)[:64]))
    else:
        values["last_error"] = (error or state.value)[:MAX_ERROR]
    result = session.execute(
        update(ChannelDelivery)
        .where(ChannelDelivery.id == delivery_id, ChannelDelivery.state.not_in(FINAL_STATES))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


@db_boundary
def resume_channel_deliveries(session: Session, channel: str) -> ResumedDeliveries:
    """At start-up: deliveries left ``sending`` become ``uncertain`` (``interrupted``); returns
    the pending ones, oldest first, and the ids of all uncertain ones."""
    interrupted = session.execute(
        update(ChannelDelivery)
        .where(ChannelDelivery.channel == channel,
               ChannelDelivery.state == ChannelDeliveryState.SENDING)
        .values(state=ChannelDeliveryState.UNCERTAIN, last_error=INTERRUPTED)
        .execution_options(synchronize_session=False)
    ).rowcount
    if interrupted:
        log.warning("%s: %s deliveries were cut off mid-request and are now uncertain",
                    channel, interrupted)
    pending = session.scalars(
        select(ChannelDelivery)
        .where(ChannelDelivery.channel == channel,
               ChannelDelivery.state == ChannelDeliveryState.PENDING)
        .order_by(ChannelDelivery.id)
    ).all()
    uncertain = session.scalars(
        select(ChannelDelivery.id)
        .where(ChannelDelivery.channel == channel,
               ChannelDelivery.state == ChannelDeliveryState.UNCERTAIN)
        .order_by(ChannelDelivery.id)
    ).all()
    return ResumedDeliveries(tuple(delivery_view(r) for r in pending), tuple(uncertain))


@db_boundary
def delivery_states(session: Session, message_ids: Iterable[int]) -> dict[int, ChannelDeliveryView]:
    """The outbox row of each of ``message_ids`` that has one (for the inbox: was it delivered?),
    by conversation message id, in one query. Messages without a row (widget conversations,
    customer messages) are left out; should a message have several rows, the newest wins."""
    ids = set(message_ids)
    if not ids:
        return {}
    rows = session.scalars(
        select(ChannelDelivery)
        .where(ChannelDelivery.conversation_message_id.in_(ids))
        .order_by(ChannelDelivery.id)
    ).all()
    return {r.conversation_message_id: delivery_view(r) for r in rows
            if r.conversation_message_id is not None}


@db_boundary
def retry_channel_delivery(
    session: Session, message_id: int, *, conversation_id: int | None = None,
) -> ChannelDeliveryView:
    """An agent sends a message again: its outbox row (the newest, should it have several) goes
    from ``failed`` back to ``pending``; the attempts and the last error are kept. The caller
    queues the returned row with its channel. With ``conversation_id``, the message must belong
    to that conversation.

    Raises ``ConversationNotFound`` for an unknown message (or one of another conversation) and
    ``DeliveryNotRetryable`` when it has no row or its row is not ``failed``: an ``uncertain``
    one may have reached the customer and is never sent again from here."""
    message = session.get(ConversationMessage, message_id)
    if message is None or (conversation_id is not None
                           and message.conversation_id != conversation_id):
        raise ConversationNotFound("No such message in this conversation.")
    row = session.scalars(
        select(ChannelDelivery)
        .where(ChannelDelivery.conversation_message_id == message_id)
        .order_by(ChannelDelivery.id.desc())
        .limit(1)
    ).one_or_none()
    if row is None:
        raise DeliveryNotRetryable("This message did not go to a messaging channel.")
    changed = session.execute(
        update(ChannelDelivery)
        .where(ChannelDelivery.id == row.id,
               ChannelDelivery.state == ChannelDeliveryState.FAILED)
        .values(state=ChannelDeliveryState.PENDING)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        session.refresh(row)
        raise DeliveryNotRetryable(
            f"Only a message that was not delivered can be sent again; this one is "
            f"{row.state.value}.")
    session.refresh(row)
    log.info("%s: delivery %s of message %s queued again by an agent",
             row.channel, row.id, message_id)
    return delivery_view(row)
