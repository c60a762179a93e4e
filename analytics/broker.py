"""Conversation events from RabbitMQ into ``analytics_broker_event`` (``crmbot analytics consume``).

The Rasa server's Pika event broker publishes every event of every conversation to the fanout
exchange ``rasa-exchange`` (setting ``broker_exchange``); a message body is the JSON
``{"sender_id": ..., **event.as_dict()}`` (``rasa.core.tracker_store.TrackerStore.
_stream_new_events``). This consumer declares that
exchange as Rasa does (fanout, not durable) and the durable queue ``broker_queue``, and binds
them, so it does not matter whether Rasa or the consumer starts first. Each event becomes a row
with the columns of Rasa's SQL tracker store table ``events``, filled the way that store fills
them; the pipeline reads the table with ``events_from=broker``.

Delivery: messages are acknowledged only after the transaction that stored them has committed,
so a crash, a lost connection or a database error loses nothing: RabbitMQ delivers the messages
again, and the unique ``dedupe_key`` (the sha256 of the body) stores a redelivered one once.
A message that is not an event (not JSON, not an object, no ``sender_id`` or ``event``, a
timestamp that is not a time) is logged by delivery tag and size (never its content), counted
in ``rejected`` and acknowledged: retrying it could never succeed. (It is not dead-lettered:
that needs queue arguments Rasa does not declare, and RabbitMQ refuses a queue declared twice
with different arguments.)

Modes: until the queue is empty, at most N messages, or until ``stop`` is set (the CLI sets it
on SIGINT/SIGTERM); messages taken but not yet stored when stopping go back to the queue.
A broker that cannot be reached at the start is an error (``BrokerUnavailable``); one that goes
away later is reconnected with backoff (1 s, doubling to 30 s) for up to ``reconnect_seconds``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from analytics.errors import AnalyticsError, BrokerError, BrokerUnavailable
from analytics.pipeline import stored_sender_id
from analytics.schema import BrokerEvent
from analytics.settings import AnalyticsSettings
from crm_connector import write_transaction

log = logging.getLogger(__name__)

#: The tracker store's string columns are 255 characters long.
MAX_COLUMN = 255
#: Errors after which a new connection may work (the broker restarted, the network dropped).
_CONNECTION_ERRORS = (pika.exceptions.AMQPConnectionError, pika.exceptions.ChannelWrongStateError,
                      pika.exceptions.ConsumerCancelled)


class BadMessage(ValueError):
    """A message that is not a Rasa event; the text says why without quoting it."""


@dataclass
class ConsumeResult:
    received: int = 0  # messages taken from the queue (redeliveries included)
    stored: int = 0  # new events stored
    duplicates: int = 0  # events stored before (a redelivery): acknowledged, not stored again
    rejected: int = 0  # not events: logged, acknowledged, not stored
    reconnects: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def broker_location(url: str) -> str:
    """The URL without user and password, for messages and logs."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path or '/'}"


def event_row(body: bytes, received_at: dt.datetime) -> dict[str, Any]:
    """The ``analytics_broker_event`` values of one message, as Rasa's SQL tracker store fills
    its ``events`` row from the same event; ``BadMessage`` when it is not an event."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise BadMessage("not JSON") from None
    if not isinstance(message, dict):
        raise BadMessage("not a JSON object")
    sender = message.pop("sender_id", None)
    kind = message.get("event")
    if not isinstance(sender, str) or not sender or "\x00" in sender:
        raise BadMessage("no sender_id")
    if not isinstance(kind, str) or not kind or "\x00" in kind:
        raise BadMessage("no event name")
    timestamp = message.get("timestamp")
    if timestamp is not None and not _is_time(timestamp):
        raise BadMessage("timestamp is not a time")
    parse = message.get("parse_data")
    intent = parse.get("intent") if isinstance(parse, dict) else None
    return {
        "sender_id": sender if len(sender) <= MAX_COLUMN else stored_sender_id(sender),
        "type_name": kind[:MAX_COLUMN],
        "timestamp": timestamp,
        "intent_name": _short(intent.get("name")) if isinstance(intent, dict) else None,
        "action_name": _short(message.get("name")),
        "data": json.dumps(message),
        "dedupe_key": hashlib.sha256(body).hexdigest(),
        "received_at": received_at,
    }


def _is_time(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    try:
        dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return False
    return True


def _short(value: Any) -> str | None:
    return value[:MAX_COLUMN] if isinstance(value, str) and "\x00" not in value else None


def store_events(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert the rows, skipping those whose ``dedupe_key`` is stored already; returns how many
    were new."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement = postgresql.insert(BrokerEvent.__table__).on_conflict_do_nothing(
            index_elements=["dedupe_key"])
    elif dialect == "sqlite":
        statement = sqlite.insert(BrokerEvent.__table__).on_conflict_do_nothing(
            index_elements=["dedupe_key"])
    else:  # pragma: no cover - the platform runs on SQLite or PostgreSQL
        raise AnalyticsError(f"storing broker events needs SQLite or PostgreSQL, not {dialect}")
    statement = statement.returning(BrokerEvent.__table__.c.id)
    connection = session.connection()
    # One by one, in arrival order (the ids are the pipeline's reading order); a row comes back
    # only when it was new.
    return sum(len(connection.execute(statement, row).all()) for row in rows)


def consume(
    sessions: sessionmaker[Session], settings: AnalyticsSettings, *, until_empty: bool = False,
    max_messages: int | None = None, stop: threading.Event | None = None,
    on_batch: Callable[[ConsumeResult], None] | None = None, batch_size: int = 100,
    idle_seconds: float = 1.0, reconnect_seconds: float = 300.0, first_backoff: float = 1.0,
) -> ConsumeResult:
    """Store the queue's events (see the module docstring) until the queue is empty
    (``until_empty``), ``max_messages`` were taken, or ``stop`` is set; without any of them it
    runs until stopped. ``on_batch`` is called after each commit with the running totals."""
    url = settings.broker_url.get_secret_value() if settings.broker_url is not None else None
    if not url:
        raise BrokerError("no RabbitMQ to read from: set ANALYTICS_BROKER_URL "
                          "(amqp://USER:PASSWORD@HOST[:PORT][/VHOST])")
    if max_messages is not None and max_messages < 1:
        raise AnalyticsError("max_messages must be at least 1")
    consumer = _Consumer(sessions, url, settings.broker_exchange, settings.broker_queue,
                         until_empty=until_empty, max_messages=max_messages,
                         stop=stop or threading.Event(), on_batch=on_batch,
                         batch_size=batch_size, idle_seconds=idle_seconds,
                         reconnect_seconds=reconnect_seconds, first_backoff=first_backoff)
    return consumer.run()


class _Consumer:
    def __init__(self, sessions: sessionmaker[Session], url: str, exchange: str, queue: str, *,
                 until_empty: bool, max_messages: int | None, stop: threading.Event,
                 on_batch: Callable[[ConsumeResult], None] | None, batch_size: int,
                 idle_seconds: float, reconnect_seconds: float, first_backoff: float) -> None:
        self.sessions = sessions
        self.url = url
        self.where = broker_location(url)
        self.exchange = exchange
        self.queue = queue
        self.until_empty = until_empty
        self.max_messages = max_messages
        self.stop = stop
        self.on_batch = on_batch
        self.prefetch = min(batch_size, max_messages or batch_size)
        self.idle_seconds = idle_seconds
        self.reconnect_seconds = reconnect_seconds
        self.first_backoff = first_backoff
        self.result = ConsumeResult()
        self.connection: pika.BlockingConnection | None = None
        self.channel: BlockingChannel | None = None
        self.pending: list[tuple[int, bytes]] = []  # (delivery tag, body), taken, not yet acked
        self.empty = False

    def run(self) -> ConsumeResult:
        try:
            self._connect()
        except _CONNECTION_ERRORS as exc:
            raise BrokerUnavailable(
                f"cannot reach RabbitMQ at {self.where} ({type(exc).__name__}); is it running, "
                "and are ANALYTICS_BROKER_URL's host, port, user and password right?") from exc
        try:
            while not self._finished():
                try:
                    self._consume()
                except _CONNECTION_ERRORS as exc:
                    self._reconnect(exc)
        except pika.exceptions.AMQPError as exc:
            raise BrokerError(f"RabbitMQ at {self.where} failed: {type(exc).__name__} "
                              f"{exc}") from exc
        finally:
            self._close()
        log.info("broker consumer (queue %s): %s", self.queue, self.result.as_dict())
        return self.result

    def _finished(self) -> bool:
        return (self.stop.is_set() or self.empty or (
            self.max_messages is not None and self.result.received >= self.max_messages))

    # --- connection ------------------------------------------------------------------------
    def _connect(self) -> None:
        parameters = pika.URLParameters(self.url)
        parameters.connection_attempts = 1
        parameters.socket_timeout = 5.0
        connection = pika.BlockingConnection(parameters)
        try:
            channel = connection.channel()
            # As Rasa's PikaEventBroker declares them (aio-pika defaults: the exchange is not
            # durable); RabbitMQ refuses a second declaration with other arguments.
            channel.exchange_declare(self.exchange, exchange_type="fanout")
            channel.queue_declare(self.queue, durable=True)
            channel.queue_bind(self.queue, self.exchange, routing_key="")
            channel.basic_qos(prefetch_count=self.prefetch)
        except pika.exceptions.ChannelClosedByBroker as exc:
            _close_quietly(connection)
            raise BrokerError(f"RabbitMQ at {self.where} refused to set up queue {self.queue!r}: "
                              f"{exc.reply_code} {exc.reply_text}") from exc
        except BaseException:
            _close_quietly(connection)
            raise
        self.connection, self.channel = connection, channel
        log.info("consuming queue %s at %s", self.queue, self.where)

    def _reconnect(self, exc: Exception) -> None:
        """Messages taken but not acknowledged go back to the queue with the old connection."""
        log.warning("lost RabbitMQ at %s (%s); reconnecting", self.where, type(exc).__name__)
        self._close()
        self.pending.clear()
        deadline = time.monotonic() + self.reconnect_seconds
        delay = self.first_backoff
        while not self.stop.wait(delay):
            try:
                self._connect()
            except _CONNECTION_ERRORS as error:
                if time.monotonic() + delay > deadline:
                    raise BrokerUnavailable(
                        f"lost RabbitMQ at {self.where} and could not reconnect within "
                        f"{self.reconnect_seconds:.0f} s ({type(error).__name__})") from error
                log.info("RabbitMQ at %s still unreachable (%s); next try in %.1f s",
                         self.where, type(error).__name__, min(delay * 2, 30.0))
                delay = min(delay * 2, 30.0)
            else:
                self.result.reconnects += 1
                return

    def _close(self) -> None:
        if self.connection is not None:
            _close_quietly(self.connection)
        self.connection = self.channel = None

    # --- messages --------------------------------------------------------------------------
    def _consume(self) -> None:
        channel = self._open_channel()
        for method, _properties, body in channel.consume(
                self.queue, inactivity_timeout=self.idle_seconds):
            if method is not None:
                self.pending.append((method.delivery_tag, body))
                self.result.received += 1
                if len(self.pending) >= self.prefetch or self._finished():
                    self._flush()
            else:  # nothing arrived for idle_seconds
                self._flush()
                if self.until_empty and self._queue_is_empty():
                    self.empty = True
            if self._finished():
                break
        else:  # RabbitMQ cancelled the consumer (the queue was deleted): set it up again
            raise pika.exceptions.ConsumerCancelled()
        self._flush()
        channel.cancel()  # messages delivered but not taken go back to the queue

    def _open_channel(self) -> BlockingChannel:
        if self.channel is None:
            raise pika.exceptions.ChannelWrongStateError("not connected")
        return self.channel

    def _queue_is_empty(self) -> bool:
        declared = self._open_channel().queue_declare(self.queue, durable=True, passive=True)
        return declared.method.message_count == 0

    def _flush(self) -> None:
        """Store the pending messages in one transaction, then acknowledge them."""
        if not self.pending:
            return
        channel = self._open_channel()
        now = dt.datetime.now(dt.UTC)
        rows = []
        for tag, body in self.pending:
            try:
                rows.append(event_row(body, now))
            except BadMessage as exc:
                log.warning("queue %s: message %d (%d bytes) is not a Rasa event (%s); "
                            "acknowledged without storing it", self.queue, tag, len(body), exc)
                self.result.rejected += 1
        with write_transaction(self.sessions) as session:
            stored = store_events(session, rows)
        self.result.stored += stored
        self.result.duplicates += len(rows) - stored
        channel.basic_ack(self.pending[-1][0], multiple=True)
        self.pending.clear()
        if self.on_batch is not None:
            self.on_batch(self.result)


def _close_quietly(connection: pika.BlockingConnection) -> None:
    try:
        if connection.is_open:
            connection.close()
    except (pika.exceptions.AMQPError, OSError) as exc:
        log.debug("closing the RabbitMQ connection: %s", type(exc).__name__)
