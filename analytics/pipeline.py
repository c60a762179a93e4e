"""Conversation log pipeline: tracker events and support conversations into analytics tables.

Sources, each with a watermark in ``analytics_watermark`` (how far it was read, and in
``updated_at`` when a run last read it: ``data_as_of`` is what the dashboard shows as the time
the conversation data is complete up to):

* ``tracker_events``: Rasa's SQL tracker store table ``events`` (id, sender_id, type_name,
  timestamp, intent_name, action_name, data) in the same database; only ids above the
  watermark are read, in id order. With ``events_from=broker`` the same events are read instead
  from ``analytics_broker_event`` (the same columns; filled from RabbitMQ by
  ``analytics.broker``), with its own watermark ``broker_events``.
* ``support_conversation``: the CRM's conversation row (handoff reason, agent, status,
  closing time, rating); rows whose ``(updated_at, id)`` is above the watermark are read.
* ``conversation_event`` / ``conversation_message``: the web gateway's state-change log
  (queued, claimed, transferred, resolved, rated) and transcript (agent replies: the agent's
  first response time); ids above the watermark. Customer and bot messages are taken from the
  tracker store, which has the intents.

A user event becomes a ``Turn`` (redacted text, intent, confidence, fallback and low-confidence
flags); the bot's actions and messages after it are tied to it (``Action`` rows, the time of the
first response, whether a FAQ answered it); a ``pause`` event is a ``Handoff``. Afterwards every
conversation that got something new is summarised again from its stored rows (``resolution``).
Everything happens in the caller's transaction, watermarks included, so a run is all or nothing;
running again reads nothing new and changes nothing but the watermarks' ``updated_at``. Unique
keys on the source event ids make a repeated load of the same events impossible even without the
watermark.

Resolution of a conversation:
``handed_off`` (the bot passed it to a person), else ``unresolved`` (its last customer message
was a fallback or a FAQ question nobody answered), else ``contained`` (the bot handled it alone);
``empty`` when the customer never wrote. Containment = contained / conversations with a message.

Known limits: on PostgreSQL an event id committed after a higher one was read is skipped (Rasa
writes one conversation's events in one transaction, so this needs two conversations saved at
the same instant).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    func,
    inspect,
    or_,
    select,
)
from sqlalchemy.orm import Session

from analytics.redact import Redactor
from analytics.schema import Action, BrokerEvent, Conversation, Handoff, Rating, Turn, Watermark
from analytics.settings import AnalyticsSettings
from crm_connector.models import (
    ConversationEvent,
    ConversationEventKind,
    ConversationMessage,
    MessageAuthor,
    SupportConversation,
)

log = logging.getLogger(__name__)

TRACKER_SOURCE = "tracker_events"
BROKER_SOURCE = "broker_events"
SUPPORT_SOURCE = "support_conversation"
GATEWAY_EVENT_SOURCE = "conversation_event"
GATEWAY_MESSAGE_SOURCE = "conversation_message"
#: Gateway messages that time the customer's wait for the first answer.
WAITED_FOR = (MessageAuthor.CUSTOMER, MessageAuthor.BOT)
#: A gateway ``queued`` event this close to a tracker ``pause`` is the same handoff.
SAME_HANDOFF = dt.timedelta(minutes=2)
#: Intents that mean the assistant could not serve the message.
FALLBACK_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})
FALLBACK_ACTION = "action_default_fallback"
FAQ_ACTION = "action_answer_faq"
HANDOFF_ACTION = "action_handoff"
#: Intents that say nothing about what a conversation is about.
GENERIC_INTENTS = frozenset({"greet", "goodbye", "thank", "affirm", "deny", "inform", "stop",
                             "chitchat", "bot_challenge", "nlu_fallback"})
#: How the action server names the FAQ an answer came from (actions/faq.py ``say_faq_answer``).
FAQ_SOURCE = re.compile(r"\(From our FAQ: \u201c(?P<question>.+?)\u201d\)\s*$", re.S)
_SKIPPED_ACTIONS = frozenset({"action_listen"})
_LOADED_EVENTS = frozenset({"user", "action", "bot", "pause"})
MAX_SENDER_ID = 128

_tracker_metadata = MetaData()
#: Rasa's SQL tracker store table (created by the Rasa server; read only here).
TRACKER_EVENTS = Table(
    "events", _tracker_metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("type_name", String(255)),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


@dataclass(frozen=True)
class EventSource:
    """A table with the tracker store's columns that conversation events are read from."""

    table: Table
    watermark: str  # its row in ``analytics_watermark``
    name: str  # the ``source`` of the turns, actions and handoffs made from its events


TRACKER = EventSource(TRACKER_EVENTS, TRACKER_SOURCE, "tracker")
BROKER = EventSource(BrokerEvent.__table__, BROKER_SOURCE, "broker")


def event_source(settings: AnalyticsSettings) -> EventSource:
    return BROKER if settings.events_from == "broker" else TRACKER


@dataclass
class PipelineResult:
    events_read: int = 0
    support_rows_read: int = 0
    gateway_events_read: int = 0
    gateway_messages_read: int = 0
    turns_added: int = 0
    actions_added: int = 0
    handoffs_added: int = 0
    ratings_saved: int = 0
    conversations_updated: int = 0
    touched: set[int] = field(default_factory=set, repr=False)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if k != "touched"}


def stored_sender_id(sender_id: str) -> str:
    """As ``crm_connector`` stores it: itself, or a hash when longer than the column."""
    if len(sender_id) <= MAX_SENDER_ID:
        return sender_id
    return "sha256:" + hashlib.sha256(sender_id.encode("utf-8", "replace")).hexdigest()


def run_pipeline(
    session: Session, settings: AnalyticsSettings, *, redactor: Redactor | None = None,
    now: dt.datetime | None = None, on_events: Callable[[int], None] | None = None,
) -> PipelineResult:
    """Load what is new since the last run; see the module docstring. Run it in a write
    transaction (``crm_connector.write_transaction``)."""
    redactor = redactor or Redactor(settings.redaction_key.get_secret_value(),
                                    max_chars=settings.max_text_chars)
    now = now or dt.datetime.now(dt.UTC)
    loader = _Loader(session, settings, redactor)
    loader.load_tracker_events(now, on_events)
    loader.load_support_rows(now)
    loader.load_gateway_events(now)
    loader.load_gateway_messages(now)
    loader.summarise()
    log.info("analytics pipeline: %s", loader.result.as_dict())
    return loader.result


def pending_tracker_events(session: Session, settings: AnalyticsSettings | None = None) -> int:
    """How many events the next run would read (for a progress bar)."""
    source = event_source(settings) if settings is not None else TRACKER
    if not _has_table(session, source.table.name):
        return 0
    mark = session.get(Watermark, source.watermark)
    after = mark.position if mark else 0
    return int(session.scalar(select(func.count()).select_from(source.table)
                              .where(source.table.c.id > after)) or 0)


def _has_table(session: Session, name: str) -> bool:
    return inspect(session.connection()).has_table(name)


def _watermark(session: Session, source: str, now: dt.datetime) -> Watermark:
    """The source's watermark, stamped with this run's time (it is read up to ``now``)."""
    mark = session.get(Watermark, source)
    if mark is None:
        mark = Watermark(source=source, position=0, position_at=None, updated_at=now)
        session.add(mark)
    mark.updated_at = now
    return mark


def data_as_of(session: Session, settings: AnalyticsSettings) -> dt.datetime | None:
    """When the last run started that read every source this configuration reads (the oldest
    of their watermarks' ``updated_at``): what happened before it is in the analytics tables.
    None before the first run."""
    if not _has_table(session, Watermark.__tablename__):
        return None
    sources = [event_source(settings).watermark, SUPPORT_SOURCE, GATEWAY_EVENT_SOURCE,
               GATEWAY_MESSAGE_SOURCE]
    return session.scalar(select(func.min(Watermark.updated_at))
                          .where(Watermark.source.in_(sources)))


def _epoch(value: float | None) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(value or 0.0), dt.UTC)


def _json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class _Loader:
    def __init__(self, session: Session, settings: AnalyticsSettings, redactor: Redactor) -> None:
        self.session = session
        self.settings = settings
        self.redactor = redactor
        self.events = event_source(settings)
        self.result = PipelineResult()
        self._conversations: dict[str, Conversation] = {}
        self._last_turn: dict[int, Turn | None] = {}

    # --- conversations and turns -------------------------------------------------------------
    def conversation(self, sender_id: str, when: dt.datetime) -> Conversation:
        sender = stored_sender_id(sender_id)
        conv = self._conversations.get(sender)
        if conv is None:
            conv = self.session.scalars(
                select(Conversation).where(Conversation.sender_id == sender)).one_or_none()
            if conv is None:
                conv = Conversation(sender_id=sender, started_at=when, last_event_at=when)
                self.session.add(conv)
                self.session.flush()
            self._conversations[sender] = conv
        if when < conv.started_at:
            conv.started_at = when
        if when > conv.last_event_at:
            conv.last_event_at = when
        self.result.touched.add(conv.id)
        return conv

    def last_turn(self, conv: Conversation) -> Turn | None:
        if conv.id not in self._last_turn:
            self._last_turn[conv.id] = self.session.scalars(
                select(Turn).where(Turn.conversation_id == conv.id)
                .order_by(Turn.sent_at.desc(), Turn.id.desc()).limit(1)).one_or_none()
        return self._last_turn[conv.id]

    # --- tracker events ----------------------------------------------------------------------
    def load_tracker_events(self, now: dt.datetime,
                            on_events: Callable[[int], None] | None) -> None:
        table = self.events.table
        if not _has_table(self.session, table.name):
            log.info("no table `%s` in this database: nothing to read", table.name)
            return
        mark = _watermark(self.session, self.events.watermark, now)
        while True:
            rows = self.session.execute(
                select(table).where(table.c.id > mark.position)
                .order_by(table.c.id).limit(self.settings.pipeline_batch_size)
            ).all()
            if not rows:
                break
            self._prefetch(rows)
            for row in rows:
                self._event(row)
            mark.position = rows[-1].id
            self.result.events_read += len(rows)
            self.session.flush()
            if on_events is not None:
                on_events(len(rows))

    def _prefetch(self, rows: list[Any]) -> None:
        """The batch's conversations in one query; new ones created with one flush."""
        first_seen: dict[str, dt.datetime] = {}
        for row in rows:
            if row.sender_id and row.type_name in _LOADED_EVENTS:
                first_seen.setdefault(stored_sender_id(row.sender_id), _epoch(row.timestamp))
        wanted = [s for s in first_seen if s not in self._conversations]
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            for conv in self.session.scalars(select(Conversation)
                                             .where(Conversation.sender_id.in_(chunk))):
                self._conversations[conv.sender_id] = conv
        new = [Conversation(sender_id=s, started_at=first_seen[s], last_event_at=first_seen[s])
               for s in wanted if s not in self._conversations]
        if new:
            self.session.add_all(new)
            self.session.flush()
            for conv in new:
                self._conversations[conv.sender_id] = conv
                self._last_turn[conv.id] = None  # a new conversation has no turns yet

    def _event(self, row: Any) -> None:
        kind = row.type_name
        if kind not in _LOADED_EVENTS or not row.sender_id:
            return
        when = _epoch(row.timestamp)
        conv = self.conversation(row.sender_id, when)
        data = _json(row.data)
        if kind == "user":
            self._user(conv, row, data, when)
        elif kind == "action":
            self._action(conv, row, when)
        elif kind == "bot":
            self._bot(conv, data, when)
        else:
            self.session.add(Handoff(conversation_id=conv.id, source=self.events.name,
                                     source_event_id=row.id, occurred_at=when))
            self.result.handoffs_added += 1

    def _user(self, conv: Conversation, row: Any, data: dict[str, Any], when: dt.datetime) -> None:
        parse = data.get("parse_data") if isinstance(data.get("parse_data"), dict) else {}
        intent_data = parse.get("intent") if isinstance(parse.get("intent"), dict) else {}
        intent = intent_data.get("name") or row.intent_name
        confidence = intent_data.get("confidence")
        confidence = float(confidence) if isinstance(confidence, int | float) else None
        channel = data.get("input_channel")
        if isinstance(channel, str) and channel and not conv.channel:
            conv.channel = channel[:32]
        text = data.get("text") if isinstance(data.get("text"), str) else ""
        low = intent == "nlu_fallback" or (
            confidence is not None and confidence < self.settings.low_confidence_threshold)
        turn = Turn(
            conversation_id=conv.id, source=self.events.name, source_event_id=row.id, sent_at=when,
            text=self.redactor.redact(text), intent=(intent or None) and str(intent)[:64],
            confidence=confidence, is_fallback=intent in FALLBACK_INTENTS,
            is_low_confidence=low, faq_asked=intent == "ask_faq",
        )
        self.session.add(turn)
        self._last_turn[conv.id] = turn
        self.result.turns_added += 1

    def _action(self, conv: Conversation, row: Any, when: dt.datetime) -> None:
        name = (row.action_name or "")[:64]
        if not name or name in _SKIPPED_ACTIONS:
            return
        turn = self.last_turn(conv)
        if turn is not None:
            if turn.id is None:
                self.session.flush()  # the turn needs its id
            if name == FALLBACK_ACTION:
                turn.is_fallback = True
            elif name == FAQ_ACTION:
                turn.faq_asked = True
        self.session.add(Action(conversation_id=conv.id, turn_id=turn.id if turn else None,
                                source=self.events.name, source_event_id=row.id,
                                occurred_at=when, name=name))
        self.result.actions_added += 1

    def _bot(self, conv: Conversation, data: dict[str, Any], when: dt.datetime) -> None:
        conv.bot_messages = (conv.bot_messages or 0) + 1
        turn = self.last_turn(conv)
        if turn is None:
            return
        if turn.first_response_at is None:
            turn.first_response_at = when
        text = data.get("text") if isinstance(data.get("text"), str) else ""
        match = FAQ_SOURCE.search(text or "")
        if match:
            turn.faq_asked = True
            turn.faq_answered = True
            turn.faq_question = self.redactor.redact(match.group("question"))[:255]

    # --- support conversations ---------------------------------------------------------------
    def load_support_rows(self, now: dt.datetime) -> None:
        mark = _watermark(self.session, SUPPORT_SOURCE, now)
        query = select(SupportConversation).order_by(
            SupportConversation.updated_at, SupportConversation.id)
        if mark.position_at is not None:
            query = query.where(or_(
                SupportConversation.updated_at > mark.position_at,
                and_(SupportConversation.updated_at == mark.position_at,
                     SupportConversation.id > mark.position)))
        for row in self.session.scalars(query):
            self._support(row)
            mark.position_at, mark.position = row.updated_at, row.id
            self.result.support_rows_read += 1
        self.session.flush()

    def _support(self, row: SupportConversation) -> None:
        conv = self.conversation(row.sender_id, row.created_at)
        conv.channel = conv.channel or row.channel
        conv.support_status = row.status.value
        conv.agent_id = row.assigned_agent_id or conv.agent_id
        conv.customer_id = row.customer_id
        conv.handoff_reason = row.handoff_reason
        if row.queued_at is not None:
            conv.handed_off = True
            exists = self.session.scalar(select(func.count()).select_from(Handoff)
                                         .where(Handoff.conversation_id == conv.id))
            if not exists:
                self.session.add(Handoff(conversation_id=conv.id, source="support",
                                         source_event_id=row.id, occurred_at=row.queued_at,
                                         reason=row.handoff_reason))
                self.result.handoffs_added += 1
        conv.resolved_at = row.closed_at if row.closed_at else conv.resolved_at
        if row.rating is not None:
            self._rating(conv, row)

    def _rating(self, conv: Conversation, row: SupportConversation) -> None:
        comment = self.redactor.redact(row.rating_comment) if row.rating_comment else None
        self._save_rating(conv, int(row.rating or 0), comment,
                          row.assigned_agent_id or conv.agent_id, row.updated_at)

    def _save_rating(self, conv: Conversation, score: int, comment: str | None,
                     agent_id: int | None, when: dt.datetime) -> None:
        self.session.flush()
        rating = self.session.scalars(
            select(Rating).where(Rating.conversation_id == conv.id)).one_or_none()
        if rating is None:
            rating = Rating(conversation_id=conv.id, score=score, rated_at=when)
            self.session.add(rating)
        elif rating.rated_at > when:
            return  # an older source row; the newer rating stands
        rating.score = score
        rating.comment = comment if comment is not None else rating.comment
        rating.agent_id = agent_id or rating.agent_id
        rating.rated_at = when
        conv.rating = score
        self.result.ratings_saved += 1

    # --- the web gateway's log and transcript ------------------------------------------------
    def _support_conversation(self, conversation_id: int) -> Conversation | None:
        row = self.session.get(SupportConversation, conversation_id)
        return None if row is None else self.conversation(row.sender_id, row.created_at)

    def load_gateway_events(self, now: dt.datetime) -> None:
        mark = _watermark(self.session, GATEWAY_EVENT_SOURCE, now)
        rows = list(self.session.scalars(select(ConversationEvent)
                                         .where(ConversationEvent.id > mark.position)
                                         .order_by(ConversationEvent.id)))
        for event in rows:
            conv = self._support_conversation(event.conversation_id)
            if conv is not None:
                self._gateway_event(conv, event)
            mark.position = event.id
        self.result.gateway_events_read += len(rows)
        self.session.flush()

    def _gateway_event(self, conv: Conversation, event: ConversationEvent) -> None:
        kind = event.kind
        if kind == ConversationEventKind.QUEUED:
            self.session.flush()
            near = self.session.scalar(select(func.count()).select_from(Handoff).where(
                Handoff.conversation_id == conv.id,
                Handoff.occurred_at >= event.occurred_at - SAME_HANDOFF,
                Handoff.occurred_at <= event.occurred_at + SAME_HANDOFF))
            if not near:
                self.session.add(Handoff(conversation_id=conv.id, source="gateway",
                                         source_event_id=event.id,
                                         occurred_at=event.occurred_at, reason=event.reason))
                self.result.handoffs_added += 1
            conv.handed_off = True
            conv.handoff_reason = event.reason or conv.handoff_reason
        elif kind == ConversationEventKind.CLAIMED:
            conv.claimed_at = conv.claimed_at or event.occurred_at
            conv.agent_id = event.target_agent_id or event.agent_id
        elif kind == ConversationEventKind.TRANSFERRED:
            conv.agent_id = event.target_agent_id or conv.agent_id
        elif kind == ConversationEventKind.RESOLVED:
            conv.resolved_at = event.occurred_at
            conv.agent_id = event.agent_id or conv.agent_id
        elif kind == ConversationEventKind.RATED and event.score is not None:
            self._save_rating(conv, int(event.score), None, event.agent_id or conv.agent_id,
                              event.occurred_at)

    def load_gateway_messages(self, now: dt.datetime) -> None:
        mark = _watermark(self.session, GATEWAY_MESSAGE_SOURCE, now)
        rows = self.session.execute(
            select(ConversationMessage.id, ConversationMessage.conversation_id,
                   ConversationMessage.created_at)
            .where(ConversationMessage.id > mark.position,
                   ConversationMessage.author == MessageAuthor.AGENT,
                   ConversationMessage.internal.is_(False))
            .order_by(ConversationMessage.id)).all()
        for message_id, conversation_id, created_at in rows:
            conv = self._support_conversation(conversation_id)
            if conv is not None:
                conv.agent_messages = (conv.agent_messages or 0) + 1
                if conv.agent_first_response_at is None or created_at < conv.agent_first_response_at:
                    conv.agent_first_response_at = created_at
            mark.position = message_id
        # Customer and bot messages re-summarise their conversation (the time to the first
        # answer comes from them); internal notes only move the watermark.
        for conversation_id in self.session.scalars(
                select(ConversationMessage.conversation_id).distinct()
                .where(ConversationMessage.id > mark.position,
                       ConversationMessage.author.in_(WAITED_FOR),
                       ConversationMessage.internal.is_(False))):
            self._support_conversation(conversation_id)
        last = self.session.scalar(select(func.max(ConversationMessage.id)))
        if last is not None and last > mark.position:
            mark.position = last
        self.result.gateway_messages_read += len(rows)
        self.session.flush()

    # --- summaries ---------------------------------------------------------------------------
    def summarise(self) -> None:
        self.session.flush()
        ids = sorted(self.result.touched)
        with self.session.no_autoflush:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                turns = _grouped(self.session.scalars(
                    select(Turn).where(Turn.conversation_id.in_(chunk))
                    .order_by(Turn.sent_at, Turn.id)))
                handoffs = _grouped(self.session.scalars(
                    select(Handoff).where(Handoff.conversation_id.in_(chunk))
                    .order_by(Handoff.occurred_at, Handoff.id)))
                ratings = {r.conversation_id: r for r in self.session.scalars(
                    select(Rating).where(Rating.conversation_id.in_(chunk)))}
                convs = list(self.session.scalars(select(Conversation)
                                                  .where(Conversation.id.in_(chunk))))
                waited = self._first_waits([c.sender_id for c in convs])
                for conv in convs:
                    summarise_conversation(conv, turns.get(conv.id, []),
                                           handoffs.get(conv.id, []), ratings.get(conv.id),
                                           first_wait=waited.get(conv.sender_id))
        self.result.conversations_updated = len(ids)
        self.session.flush()


    def _first_waits(self, senders: list[str]) -> dict[str, float]:
        """Per conversation the gateway holds: seconds from the customer's first message to the
        bot's first answer after it, as the gateway stored them (what the customer waited)."""
        if not senders:
            return {}
        message = ConversationMessage
        # only these senders' conversations: the whole table is not aggregated on every run
        first_ask = (select(SupportConversation.sender_id, SupportConversation.id.label("id"),
                            func.min(message.created_at).label("at"))
                     .join(message, message.conversation_id == SupportConversation.id)
                     .where(SupportConversation.sender_id.in_(senders),
                            message.author == MessageAuthor.CUSTOMER, message.internal.is_(False))
                     .group_by(SupportConversation.sender_id, SupportConversation.id).subquery())
        rows = self.session.execute(
            select(first_ask.c.sender_id, first_ask.c.at, func.min(message.created_at))
            .join(message, (message.conversation_id == first_ask.c.id)
                  & (message.author == MessageAuthor.BOT) & (message.created_at >= first_ask.c.at))
            .group_by(first_ask.c.sender_id, first_ask.c.at))
        return {sender: (_utc(answered) - _utc(asked)).total_seconds()
                for sender, asked, answered in rows}


def _utc(when: dt.datetime) -> dt.datetime:
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when


def _grouped(rows: Any) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for row in rows:
        out.setdefault(row.conversation_id, []).append(row)
    return out


def summarise_conversation(conv: Conversation, turns: list[Turn], handoffs: list[Handoff],
                           rating: Rating | None, *, first_wait: float | None = None) -> None:
    """Recompute a conversation's counts, resolution and durations from its stored rows
    (``turns`` in time order, ``handoffs`` oldest first). ``first_wait``: what the customer
    waited for the first answer, from the gateway's messages; without it (a conversation on
    Rasa's REST channel) the first response is timed on the tracker's events."""
    conv.user_turns = len(turns)
    conv.fallback_turns = sum(t.is_fallback for t in turns)
    conv.low_confidence_turns = sum(t.is_low_confidence for t in turns)
    conv.faq_asked = sum(t.faq_asked for t in turns)
    conv.faq_answered = sum(t.faq_answered for t in turns)
    specific = [t.intent for t in turns if t.intent and t.intent not in GENERIC_INTENTS]
    conv.main_intent = specific[0] if specific else next((t.intent for t in turns if t.intent),
                                                         None)
    for handoff in handoffs:
        if handoff.reason is None and conv.handoff_reason:
            handoff.reason = conv.handoff_reason
    if handoffs:
        conv.handed_off = True
        conv.handoff_at = handoffs[0].occurred_at
        conv.handoff_reason = conv.handoff_reason or handoffs[0].reason
    first = turns[0] if turns else None
    conv.first_response_seconds = first_wait if first_wait is not None else (
        (first.first_response_at - first.sent_at).total_seconds()
        if first is not None and first.first_response_at is not None else None)
    conv.agent_first_response_seconds = (
        (conv.agent_first_response_at - (conv.handoff_at or conv.claimed_at)).total_seconds()
        if conv.agent_first_response_at is not None and (conv.handoff_at or conv.claimed_at)
        else None)
    conv.resolution = resolution(conv, turns)
    if conv.resolution == "contained":
        conv.resolved_at = max((t.first_response_at for t in turns if t.first_response_at),
                               default=conv.last_event_at)
    elif conv.resolution == "handed_off":
        conv.resolved_at = conv.resolved_at if conv.support_status == "closed" else None
    else:
        conv.resolved_at = None
    conv.resolution_seconds = (
        (conv.resolved_at - first.sent_at).total_seconds()
        if first is not None and conv.resolved_at is not None else None)
    if rating is not None:
        rating.intent = conv.main_intent


def resolution(conv: Conversation, turns: list[Turn]) -> str:
    if not turns:
        return "handed_off" if conv.handed_off else "empty"
    if conv.handed_off:
        return "handed_off"
    last = turns[-1]
    if (last.is_fallback or last.faq_asked) and not last.faq_answered:
        return "unresolved"
    return "contained"
