"""The agent inbox: the queue, claiming, replies, internal notes, transfers, resolving, handing
back to the bot, canned replies, and the customer profile beside a conversation.

State machine (``support_conversation.status``)::

    bot --handoff--> queued --claim--> agent --resolve--> closed
                                        |  ^ transfer (other owner)
                                        +--hand back--> bot
    closed --customer writes--> bot (reopened)

Only the owning agent may reply, resolve, hand back or transfer; a manager or an admin may also
act on a conversation somebody else owns (transfer, resolve, hand back). Notes are internal:
the customer never sees them. Every change writes a ``conversation_event`` row. Refused
transitions raise ``ConversationStateConflict`` (HTTP 409 in the web layer).

Run the changing functions in ``write_transaction``, the listings in ``read_transaction``.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_connector.db import db_boundary
from crm_connector.errors import (
    AgentNotFound,
    ConversationNotFound,
    ConversationStateConflict,
    InvalidInput,
)
from crm_connector.models import (
    AgentRole,
    AgentUser,
    CannedReply,
    ConversationEventKind,
    ConversationStatus,
    Refund,
    SalesOrder,
    SupportConversation,
)
from crm_connector.models.support import MessageAuthor
from crm_connector.services.agents import agent_view
from crm_connector.services.inbox_messages import (
    clean_text,
    conversation_view,
    locked_conversation,
    record_event,
    store_outgoing_message,
)
from crm_connector.services.inbox_views import (
    AgentView,
    CannedReplyView,
    ConversationView,
    CustomerProfile,
    MessageView,
    PastConversation,
    ProfileOrder,
    ProfileRefund,
)

log = logging.getLogger(__name__)

PROFILE_ORDERS = 20
PROFILE_CONVERSATIONS = 20
LIST_LIMIT = 200


class InboxView(enum.StrEnum):
    QUEUE = "queue"    # waiting for an agent, longest waiting first
    MINE = "mine"      # owned by the asking agent
    ALL = "all"        # every open conversation (bot, queued, agent), newest first
    CLOSED = "closed"  # resolved, newest first


def _actor(agent: AgentView) -> str:
    return f"agent:{agent.id}"


def _is_supervisor(agent: AgentView) -> bool:
    return agent.role in (AgentRole.MANAGER, AgentRole.ADMIN)


@db_boundary
def list_conversations(session: Session, view: InboxView | str, agent: AgentView, *, now: dt.datetime) -> list[ConversationView]:
    try:
        view = InboxView(view)
    except ValueError:
        raise InvalidInput("view must be queue, mine, all or closed.") from None
    query = select(SupportConversation)
    if view == InboxView.QUEUE:
        query = query.where(SupportConversation.status == ConversationStatus.QUEUED).order_by(
            SupportConversation.queued_at, SupportConversation.id)
    elif view == InboxView.MINE:
        query = query.where(SupportConversation.status == ConversationStatus.AGENT,
                            SupportConversation.assigned_agent_id == agent.id).order_by(
            SupportConversation.updated_at.desc())
    elif view == InboxView.ALL:
        query = query.where(SupportConversation.status != ConversationStatus.CLOSED).order_by(
            SupportConversation.updated_at.desc())
    else:
        query = query.where(SupportConversation.status == ConversationStatus.CLOSED).order_by(
            SupportConversation.closed_at.desc())
    return [conversation_view(session, row, now) for row in session.scalars(query.limit(LIST_LIMIT))]


@db_boundary
def get_conversation(session: Session, conversation_id: int, *, now: dt.datetime) -> ConversationView:
    row = session.get(SupportConversation, conversation_id)
    if row is None:
        raise ConversationNotFound("No such conversation.")
    return conversation_view(session, row, now)


def _owned(row: SupportConversation, agent: AgentView, *, supervisor_ok: bool) -> None:
    if row.status != ConversationStatus.AGENT:
        raise ConversationStateConflict(f"The conversation is {row.status.value}, not with an agent.")
    if row.assigned_agent_id != agent.id and not (supervisor_ok and _is_supervisor(agent)):
        raise ConversationStateConflict("Another agent owns this conversation.")


@db_boundary
def claim_conversation(session: Session, conversation_id: int, agent: AgentView, *, now: dt.datetime) -> ConversationView:
    """Take a queued conversation. Claiming one you own already changes nothing."""
    row = locked_conversation(session, conversation_id)
    if row.status == ConversationStatus.AGENT and row.assigned_agent_id == agent.id:
        return conversation_view(session, row, now)
    if row.status != ConversationStatus.QUEUED:
        raise ConversationStateConflict(
            "Another agent has claimed this conversation." if row.status == ConversationStatus.AGENT
            else f"The conversation is {row.status.value}, not waiting in the queue.")
    before = row.status
    row.status = ConversationStatus.AGENT
    row.assigned_agent_id = agent.id
    row.updated_at = now
    record_event(session, row, ConversationEventKind.CLAIMED, actor=_actor(agent), now=now,
                 from_status=before, agent_id=agent.id, target_agent_id=agent.id)
    session.flush()
    log.info("conversation %s claimed by agent %s", row.id, agent.id)
    return conversation_view(session, row, now)


@db_boundary
def agent_reply(session: Session, conversation_id: int, agent: AgentView, text: str, *, now: dt.datetime) -> MessageView:
    """A reply the customer sees; only the owner replies."""
    text = clean_text(text, what="A reply")
    row = locked_conversation(session, conversation_id)
    _owned(row, agent, supervisor_ok=False)
    row.updated_at = now
    return store_outgoing_message(session, row.id, MessageAuthor.AGENT, text, now=now, agent_id=agent.id)


@db_boundary
def add_note(session: Session, conversation_id: int, agent: AgentView, text: str, *, now: dt.datetime) -> MessageView:
    """An internal note for colleagues (any state); never sent to the customer."""
    text = clean_text(text, what="A note")
    row = locked_conversation(session, conversation_id)
    return store_outgoing_message(session, row.id, MessageAuthor.AGENT, text, now=now,
                                  agent_id=agent.id, internal=True)


def _act_on_owned(
    session: Session, conversation_id: int, agent: AgentView, kind: ConversationEventKind,
    change: Callable[[SupportConversation], None], *, now: dt.datetime, **event: Any,
) -> ConversationView:
    """An agent's (or a supervisor's) step on a conversation they may act on: lock it, apply
    ``change``, and record ``kind`` with the status it had before."""
    row = locked_conversation(session, conversation_id)
    _owned(row, agent, supervisor_ok=True)
    before = row.status
    change(row)
    row.updated_at = now
    record_event(session, row, kind, actor=_actor(agent), now=now, from_status=before,
                 agent_id=agent.id, **event)
    session.flush()
    return conversation_view(session, row, now)


@db_boundary
def transfer_conversation(
    session: Session, conversation_id: int, agent: AgentView, target_agent_id: int, *, now: dt.datetime,
) -> ConversationView:
    if isinstance(target_agent_id, bool) or not isinstance(target_agent_id, int):
        raise InvalidInput("agent_id must be a number.")
    target = session.get(AgentUser, target_agent_id)
    if target is None or not target.active:
        raise AgentNotFound("No active agent with that id.")

    previous: list[int | None] = []

    def reassign(row: SupportConversation) -> None:
        if row.assigned_agent_id == target.id:
            raise ConversationStateConflict("That agent owns the conversation already.")
        previous.append(row.assigned_agent_id)
        row.assigned_agent_id = target.id

    view = _act_on_owned(session, conversation_id, agent, ConversationEventKind.TRANSFERRED,
                         reassign, now=now, target_agent_id=target.id)
    log.info("conversation %s transferred from agent %s to agent %s", view.id, previous[0], target.id)
    return view


@db_boundary
def resolve_conversation(session: Session, conversation_id: int, agent: AgentView, *, now: dt.datetime) -> ConversationView:
    def close(row: SupportConversation) -> None:
        row.status = ConversationStatus.CLOSED
        row.closed_at = now
        row.rating = None
        row.rating_comment = None

    view = _act_on_owned(session, conversation_id, agent, ConversationEventKind.RESOLVED, close, now=now)
    log.info("conversation %s resolved by agent %s", view.id, agent.id)
    return view


@db_boundary
def hand_back_to_bot(session: Session, conversation_id: int, agent: AgentView, *, now: dt.datetime) -> ConversationView:
    def to_bot(row: SupportConversation) -> None:
        row.status = ConversationStatus.BOT
        row.assigned_agent_id = None

    view = _act_on_owned(session, conversation_id, agent, ConversationEventKind.HANDED_BACK, to_bot,
                         now=now)
    log.info("conversation %s handed back to the bot by agent %s", view.id, agent.id)
    return view


@db_boundary
def list_canned_replies(session: Session) -> list[CannedReplyView]:
    rows = session.scalars(select(CannedReply).where(CannedReply.active.is_(True)).order_by(CannedReply.title))
    return [CannedReplyView(id=r.id, title=r.title, text=r.text) for r in rows]


@db_boundary
def add_canned_reply(session: Session, title: str, text: str, *, now: dt.datetime) -> CannedReplyView:
    title = clean_text(title, limit=100, what="A title")
    text = clean_text(text, what="A canned reply")
    row = CannedReply(title=title, text=text, active=True, created_at=now)
    session.add(row)
    session.flush()
    return CannedReplyView(id=row.id, title=row.title, text=row.text)


@db_boundary
def list_active_agents(session: Session) -> list[AgentView]:
    rows = session.scalars(select(AgentUser).where(AgentUser.active.is_(True)).order_by(AgentUser.display_name))
    return [agent_view(r) for r in rows]


@db_boundary
def customer_profile(session: Session, conversation_id: int) -> CustomerProfile:
    """The CRM side of a conversation: the verified customer, their orders (newest first),
    refunds and other conversations. An unverified visitor gives an empty profile."""
    row = session.get(SupportConversation, conversation_id)
    if row is None:
        raise ConversationNotFound("No such conversation.")
    customer = row.customer
    if customer is None:
        return CustomerProfile(public_id=None, name=None, email=None, orders=(), refunds=(),
                               past_conversations=())
    orders = session.scalars(select(SalesOrder).where(SalesOrder.customer_id == customer.id)
                             .order_by(SalesOrder.placed_at.desc()).limit(PROFILE_ORDERS))
    refunds = session.execute(
        select(Refund, SalesOrder.number).join(SalesOrder, Refund.order_id == SalesOrder.id)
        .where(SalesOrder.customer_id == customer.id).order_by(Refund.created_at.desc()))
    past = session.scalars(select(SupportConversation).where(
        SupportConversation.customer_id == customer.id, SupportConversation.id != row.id,
    ).order_by(SupportConversation.created_at.desc()).limit(PROFILE_CONVERSATIONS))
    return CustomerProfile(
        public_id=customer.public_id, name=customer.display_name, email=customer.email,
        orders=tuple(ProfileOrder(number=o.number, status=o.status.value, placed_at=o.placed_at,
                                  total_cents=o.total_cents, currency=o.currency) for o in orders),
        refunds=tuple(ProfileRefund(order_number=number, amount_cents=r.amount_cents,
                                    currency=r.currency, status=r.status.value, created_at=r.created_at)
                      for r, number in refunds),
        past_conversations=tuple(PastConversation(
            id=c.id, status=c.status, channel=c.channel, handoff_reason=c.handoff_reason,
            created_at=c.created_at, closed_at=c.closed_at, rating=c.rating) for c in past),
    )
