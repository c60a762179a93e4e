"""Rasa's events through RabbitMQ into the analytics tables, on SQLite and PostgreSQL.

Messages are published with pika as Rasa's ``PikaEventBroker`` publishes them: to a fanout
exchange, persistent, the body ``{"sender_id": ..., **event.as_dict()}``, built from the same
event dicts Rasa's SQL tracker store keeps in ``events.data`` (``tracker_rows``). The consumer
reads the real RabbitMQ on loopback; each test has its own exchange and queue (deleted at the
end), so a Rasa server publishing to ``rasa-exchange`` on the same broker cannot disturb it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pika
import pika.exceptions
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from pydantic import ValidationError
from sqlalchemy import delete, func, select

from analytics import AnalyticsSettings
from analytics.broker import consume
from analytics.errors import BrokerUnavailable
from analytics.pipeline import TRACKER_EVENTS, pending_tracker_events, run_pipeline
from analytics.schema import (
    Action,
    AnalyticsBase,
    BrokerEvent,
    Conversation,
    Handoff,
    Rating,
    Turn,
    Watermark,
    analytics_head,
    analytics_revision,
    downgrade_analytics,
    upgrade_analytics,
)
from crm_connector import read_transaction, write_transaction
from crmbot.cli import main
from tests.analytics.snapshots import analytics_snapshot, clear_analytics
from tests.analytics.tracker_rows import Tracker
from tests.conftest import RABBITMQ_URL, skip_or_fail

PROJECT = Path(__file__).resolve().parents[2]
#: Seconds without a message before the consumer looks whether the queue is empty.
IDLE = 0.3


@dataclass
class Rabbit:
    """This test's exchange and queue on the real RabbitMQ, declared as Rasa declares them."""

    channel: Any
    exchange: str
    queue: str

    def settings(self, tmp_path: Path, url: str = RABBITMQ_URL, **values: Any) -> AnalyticsSettings:
        return AnalyticsSettings(artifacts_dir=tmp_path / "a", redaction_key="k-test",
                                 broker_url=url, broker_exchange=self.exchange,
                                 broker_queue=self.queue, **values)

    def env(self) -> dict[str, str]:
        return {"ANALYTICS_BROKER_URL": RABBITMQ_URL, "ANALYTICS_BROKER_EXCHANGE": self.exchange,
                "ANALYTICS_BROKER_QUEUE": self.queue, "ANALYTICS_REDACTION_KEY": "k-test"}

    def publish(self, body: bytes) -> None:
        self.channel.basic_publish(self.exchange, "", body,
                                   pika.BasicProperties(delivery_mode=2))  # PERSISTENT

    def publish_event(self, sender_id: str, event: dict[str, Any]) -> bytes:
        """What ``TrackerStore._stream_new_events`` publishes for one event."""
        body = json.dumps({"sender_id": sender_id, **event}).encode()
        self.publish(body)
        return body

    def ready(self) -> int:
        """Messages waiting in the queue (not taken by a consumer)."""
        return self.channel.queue_declare(self.queue, passive=True).method.message_count


def _connect() -> pika.BlockingConnection:
    parameters = pika.URLParameters(RABBITMQ_URL)
    parameters.connection_attempts = 1
    return pika.BlockingConnection(parameters)


@pytest.fixture
def rabbit() -> Iterator[Rabbit]:
    try:
        connection = _connect()
    except pika.exceptions.AMQPError as exc:
        skip_or_fail(f"RabbitMQ unreachable at {urlsplit(RABBITMQ_URL).hostname}: "
                     f"{type(exc).__name__}")
    name = f"crmbot_test_{uuid.uuid4().hex[:12]}"
    channel = connection.channel()
    # What Rasa's PikaEventBroker declares at its start (aio-pika: the exchange is not durable).
    channel.exchange_declare(f"{name}_exchange", exchange_type="fanout")
    channel.queue_declare(name, durable=True)
    channel.queue_bind(name, f"{name}_exchange", routing_key="")
    try:
        yield Rabbit(channel, f"{name}_exchange", name)
    finally:
        channel.queue_delete(name)
        channel.exchange_delete(f"{name}_exchange")
        connection.close()


@pytest.fixture
def migrated(engine, sessions):  # type: ignore[no-untyped-def]
    upgrade_analytics(engine)
    clear_analytics(engine)  # the PostgreSQL database is shared by the session's tests
    return sessions


def _conversations(engine) -> list[Any]:  # type: ignore[no-untyped-def]
    """The scripted conversations of ``test_pipeline`` as tracker store rows (id order)."""
    Tracker(engine, "faq").faq("how long does delivery take?", "How long does delivery take?")
    (Tracker(engine, "lost").user("capital of peru? mail me at anna@example.com",
                                  "nlu_fallback", 0.21)
     .action("action_default_fallback").bot("Sorry, could you rephrase that?")
     .action("action_listen"))
    (Tracker(engine, "person").user("hi", "greet").action("utter_greet").bot("Hi!")
     .slot("order_number", "10000101")
     .user("I want a human", "human_handoff").action("action_handoff")
     .bot("A colleague will take over.").pause())
    (Tracker(engine, "rescued").user("do u ship 2 norway", "nlu_fallback", 0.3)
     .action("action_default_fallback")
     .bot("We ship to the EU.\n\n(From our FAQ: \u201cWhich countries do you ship to?\u201d)"))
    with engine.connect() as conn:
        return conn.execute(select(TRACKER_EVENTS).order_by(TRACKER_EVENTS.c.id)).all()


def _event(sender: str, text: str, clock: float) -> tuple[str, dict[str, Any]]:
    """A user event as ``UserUttered.as_dict()`` gives it."""
    parse = {"text": text, "intent": {"name": "greet", "confidence": 0.9}, "entities": [],
             "intent_ranking": [{"name": "greet", "confidence": 0.9}], "message_id": "m1",
             "metadata": {}}
    return sender, {"event": "user", "timestamp": clock, "text": text, "parse_data": parse,
                    "input_channel": "rest", "message_id": "m1", "metadata": {}}


def _outcome(session) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Every analytics row the events gave, by sender and time (no ids, no source labels)."""
    sender = dict(session.execute(select(Conversation.id, Conversation.sender_id)).all())
    turn_at = dict(session.execute(select(Turn.id, Turn.sent_at)).all())

    def values(row: Any, *skip: str) -> tuple[Any, ...]:
        return tuple(getattr(row, c.key) for c in row.__table__.columns
                     if c.key not in {"id", "conversation_id", "turn_id", "source",
                                      "source_event_id", *skip})

    return {
        "conversations": sorted((c.sender_id, values(c, "sender_id"))
                                for c in session.scalars(select(Conversation))),
        "turns": sorted((sender[t.conversation_id], values(t))
                        for t in session.scalars(select(Turn))),
        "actions": sorted((sender[a.conversation_id], turn_at.get(a.turn_id), values(a))
                          for a in session.scalars(select(Action))),
        "handoffs": sorted((sender[h.conversation_id], values(h))
                           for h in session.scalars(select(Handoff))),
    }


def _clear_derived(engine) -> None:  # type: ignore[no-untyped-def]
    """Empty what the pipeline wrote, and the tracker store: only the broker's events are left."""
    with engine.begin() as conn:
        for model in (Action, Handoff, Rating, Turn, Conversation, Watermark):
            conn.execute(delete(model))
        conn.execute(delete(TRACKER_EVENTS))


def _run(sessions, settings):  # type: ignore[no-untyped-def]
    with write_transaction(sessions) as session:
        return run_pipeline(session, settings)


def _stored(sessions) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    with read_transaction(sessions) as session:
        return [tuple(r) for r in session.execute(
            select(BrokerEvent.sender_id, BrokerEvent.type_name, BrokerEvent.timestamp,
                   BrokerEvent.intent_name, BrokerEvent.action_name, BrokerEvent.data)
            .order_by(BrokerEvent.id))]


def test_broker_events_give_what_the_tracker_store_gives(engine, migrated, rabbit, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = _conversations(engine)
    for row in rows:
        rabbit.publish_event(row.sender_id, json.loads(row.data))

    consumed = consume(migrated, rabbit.settings(tmp_path), until_empty=True, idle_seconds=IDLE)
    assert consumed.as_dict() == {"received": len(rows), "stored": len(rows), "duplicates": 0,
                                  "rejected": 0, "reconnects": 0}
    assert rabbit.ready() == 0
    # The columns Rasa's SQL tracker store writes for the same events (its ``action_name`` is
    # the event's ``name``, a slot's included; ``tracker_rows`` leaves a slot's empty).
    assert _stored(migrated) == [(r.sender_id, r.type_name, r.timestamp, r.intent_name,
                                  json.loads(r.data).get("name"), r.data) for r in rows]

    via_tracker = _run(migrated, rabbit.settings(tmp_path, events_from="tracker"))
    with read_transaction(migrated) as session:
        expected = _outcome(session)
    _clear_derived(engine)
    broker = rabbit.settings(tmp_path, events_from="broker")
    with read_transaction(migrated) as session:
        assert pending_tracker_events(session, broker) == len(rows)
    via_broker = _run(migrated, broker)
    assert via_broker.as_dict() == via_tracker.as_dict()
    assert via_broker.turns_added == 5 and via_broker.handoffs_added == 1
    with read_transaction(migrated) as session:
        assert _outcome(session) == expected
        resolutions = dict(session.execute(select(Conversation.sender_id,
                                                  Conversation.resolution)).all())
        assert set(session.scalars(select(Turn.source))) == {"broker"}
        assert set(session.scalars(select(Action.source))) == {"broker"}
        assert "anna@" not in " ".join(session.scalars(select(Turn.text)))
        before = analytics_snapshot(session)
    assert resolutions == {"faq": "contained", "lost": "unresolved", "person": "handed_off",
                           "rescued": "contained"}

    again = _run(migrated, broker)
    assert again.as_dict() == {k: 0 for k in again.as_dict()}
    with read_transaction(migrated) as session:
        assert analytics_snapshot(session) == before


def test_a_redelivered_message_is_stored_once(migrated, rabbit, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sender, event = _event("twice", "hello", 1_790_000_000.0)
    body = rabbit.publish_event(sender, event)
    rabbit.publish(body)  # delivered again before the first was stored (the same batch)
    settings = rabbit.settings(tmp_path, events_from="broker")
    first = consume(migrated, settings, until_empty=True, idle_seconds=IDLE)
    assert (first.received, first.stored, first.duplicates) == (2, 1, 1)
    rabbit.publish(body)  # and after it was stored (its acknowledgement was lost, say)
    second = consume(migrated, settings, until_empty=True, idle_seconds=IDLE)
    assert (second.received, second.stored, second.duplicates) == (1, 0, 1)
    assert len(_stored(migrated)) == 1 and rabbit.ready() == 0
    assert _run(migrated, settings).turns_added == 1


def test_messages_that_are_not_events_are_counted_and_the_others_stored(
        migrated, rabbit, tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    bad = [b"{not json secret-1", b'["a", "list"]', b'"just text"', b"\xff\xfe secret-2",
           json.dumps({"event": "user", "timestamp": 1.0, "text": "secret-3"}).encode(),
           json.dumps({"sender_id": "s", "timestamp": 1.0}).encode(),
           json.dumps({"sender_id": 7, "event": "user", "timestamp": 1.0}).encode(),
           b'{"sender_id": "s", "event": "user", "timestamp": NaN}',
           json.dumps({"sender_id": "s", "event": "user", "timestamp": "yesterday"}).encode(),
           json.dumps({"sender_id": "s", "event": "user", "timestamp": 1e300}).encode()]
    rabbit.publish_event(*_event("good", "first", 1_790_000_000.0))
    for body in bad:
        rabbit.publish(body)
    rabbit.publish_event(*_event("good", "second", 1_790_000_001.0))
    settings = rabbit.settings(tmp_path, events_from="broker")

    with caplog.at_level(logging.WARNING, logger="analytics.broker"):
        result = consume(migrated, settings, until_empty=True, idle_seconds=IDLE)
    assert (result.received, result.stored, result.rejected) == (len(bad) + 2, 2, len(bad))
    assert rabbit.ready() == 0  # acknowledged, not retried forever
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(bad)
    assert "secret" not in caplog.text and "yesterday" not in caplog.text
    assert _run(migrated, settings).turns_added == 2
    with read_transaction(migrated) as session:
        assert session.scalars(select(Conversation.user_turns)).one() == 2


def test_max_messages_leaves_the_rest_in_the_queue(migrated, rabbit, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for n in range(5):
        rabbit.publish_event(*_event("five", f"message {n}", 1_790_000_000.0 + n))
    settings = rabbit.settings(tmp_path)
    first = consume(migrated, settings, max_messages=3, idle_seconds=IDLE)
    assert (first.received, first.stored) == (3, 3)
    assert rabbit.ready() == 2
    rest = consume(migrated, settings, until_empty=True, idle_seconds=IDLE)
    assert (rest.received, rest.stored) == (2, 2)
    texts = [json.loads(row[-1])["text"] for row in _stored(migrated)]
    assert texts == [f"message {n}" for n in range(5)]  # in the order they were published


def test_an_unreachable_broker_is_a_clear_error(sqlite_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from crm_connector import create_db_engine, create_session_factory

    engine = create_db_engine(sqlite_settings)
    settings = AnalyticsSettings(broker_url="amqp://guest:s3cret-pw@127.0.0.1:1/")
    with pytest.raises(BrokerUnavailable) as error:
        consume(create_session_factory(engine), settings, until_empty=True)
    engine.dispose()
    assert "cannot reach RabbitMQ at amqp://127.0.0.1:1/" in str(error.value)
    assert "s3cret" not in str(error.value)

    result = CliRunner().invoke(main, ["analytics", "consume", "--until-empty"], env={
        "CRM_DATABASE_URL": sqlite_settings.database_url,
        "ANALYTICS_BROKER_URL": "amqp://guest:s3cret-pw@127.0.0.1:1/"})
    assert result.exit_code == 1
    assert "cannot reach RabbitMQ at amqp://127.0.0.1:1/" in result.output
    assert "s3cret" not in result.output


def test_the_broker_source_needs_a_url(sqlite_settings) -> None:  # type: ignore[no-untyped-def]
    # The pipeline reads the stored events (no broker needed); the consumer needs one.
    assert AnalyticsSettings(events_from="broker").broker_url is None
    with pytest.raises(ValidationError, match="must look like amqp://"):
        AnalyticsSettings(broker_url="http://guest:s3cret-pw@127.0.0.1/")
    result = CliRunner().invoke(main, ["analytics", "consume", "--until-empty"], env={
        "CRM_DATABASE_URL": sqlite_settings.database_url, "ANALYTICS_BROKER_URL": ""})
    assert result.exit_code == 1 and "set ANALYTICS_BROKER_URL" in result.output


class _Relay:
    """A TCP relay on loopback in front of RabbitMQ that can cut every connection through it
    (what the consumer sees when RabbitMQ restarts) and stop listening (RabbitMQ stays down)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.1)
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.closing = threading.Event()
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                sock.close()

    def cut(self) -> None:
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sockets.clear()

    def close(self) -> None:
        self.closing.set()
        self.acceptor.join()
        self.server.close()
        self.cut()


def _wait_for(check, seconds: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_reconnects_when_rabbitmq_goes_away_then_gives_up(sqlite_settings, rabbit, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from crm_connector import create_db_engine, create_session_factory

    engine = create_db_engine(sqlite_settings)
    upgrade_analytics(engine)
    sessions = create_session_factory(engine)
    parts = urlsplit(RABBITMQ_URL)
    relay = _Relay(parts.hostname or "127.0.0.1", parts.port or 5672)
    settings = rabbit.settings(tmp_path, url=f"amqp://guest:guest@127.0.0.1:{relay.port}/%2F")
    outcome: dict[str, Any] = {}
    stop = threading.Event()

    def run() -> None:
        try:
            outcome["result"] = consume(sessions, settings, idle_seconds=IDLE, stop=stop,
                                        reconnect_seconds=2.0, first_backoff=0.2)
        except BrokerUnavailable as exc:
            outcome["error"] = exc

    def stored() -> int:
        with read_transaction(sessions) as session:
            return session.scalar(select(func.count()).select_from(BrokerEvent))

    consumer = threading.Thread(target=run, daemon=True)
    consumer.start()
    try:
        for n in range(3):
            rabbit.publish_event(*_event("relayed", f"before {n}", 1_790_000_000.0 + n))
        _wait_for(lambda: stored() == 3)
        relay.cut()
        for n in range(3):
            rabbit.publish_event(*_event("relayed", f"after {n}", 1_790_000_010.0 + n))
        _wait_for(lambda: stored() == 6)
        relay.close()
        consumer.join(timeout=20)
        assert not consumer.is_alive()
    finally:
        stop.set()  # a consumer that did not give up stops here
        relay.close()
        consumer.join(timeout=20)
        engine.dispose()
    assert "could not reconnect within 2 s" in str(outcome["error"])
    assert rabbit.ready() == 0


def test_cli_consume_until_empty_then_refresh_from_the_broker(sqlite_settings, rabbit) -> None:  # type: ignore[no-untyped-def]
    env = {"CRM_DATABASE_URL": sqlite_settings.database_url, **rabbit.env()}
    rabbit.publish_event(*_event("cli", "hello", 1_790_000_000.0))
    rabbit.publish_event("cli", {"event": "action", "timestamp": 1_790_000_000.5,
                                 "name": "utter_greet", "policy": "RulePolicy", "confidence": 1.0})
    rabbit.publish_event("cli", {"event": "bot", "timestamp": 1_790_000_000.8, "text": "Hi!",
                                 "data": {}, "metadata": {}})
    rabbit.publish(b"not an event")

    result = CliRunner().invoke(main, ["analytics", "consume", "--until-empty"], env=env)
    assert result.exit_code == 0, result.output
    assert ("queue read: 4 messages, 3 events stored, 0 duplicates, 1 rejected, 0 reconnects"
            in result.stdout)
    assert "1 messages were not Rasa events" in result.stderr
    assert rabbit.ready() == 0

    result = CliRunner().invoke(main, ["analytics", "refresh", "--only", "conversations",
                                       "--no-progress"],
                                env={**env, "ANALYTICS_EVENTS_FROM": "broker"})
    assert result.exit_code == 0, result.output
    from crm_connector import create_db_engine, create_session_factory

    engine = create_db_engine(sqlite_settings)
    with read_transaction(create_session_factory(engine)) as session:
        conv = session.scalars(select(Conversation)).one()
    engine.dispose()
    assert (conv.sender_id, conv.user_turns, conv.bot_messages, conv.resolution) == (
        "cli", 1, 1, "contained")
    assert conv.first_response_seconds == pytest.approx(0.8)


def test_cli_help_names_the_modes() -> None:
    result = CliRunner().invoke(main, ["analytics", "consume", "--help"])
    assert result.exit_code == 0
    assert "--until-empty" in result.output and "--max-messages N" in result.output
    assert "SIGTERM" in result.output


@pytest.mark.slow
def test_the_service_stops_cleanly_on_sigterm(sqlite_settings, rabbit) -> None:  # type: ignore[no-untyped-def]
    """``crmbot analytics consume`` without a bound runs until SIGTERM, storing as it goes."""
    env = {**os.environ, "CRM_DATABASE_URL": sqlite_settings.database_url, **rabbit.env()}
    process = subprocess.Popen([str(PROJECT / ".venv" / "bin" / "crmbot"), "analytics", "consume"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    from crm_connector import create_db_engine, create_session_factory

    engine = create_db_engine(sqlite_settings)
    sessions = create_session_factory(engine)

    def stored() -> int:
        with read_transaction(sessions) as session:
            if not session.connection().dialect.has_table(session.connection(),
                                                          BrokerEvent.__tablename__):
                return 0
            return session.scalar(select(func.count()).select_from(BrokerEvent))

    try:
        rabbit.publish_event(*_event("svc", "one", 1_790_000_000.0))
        rabbit.publish_event(*_event("svc", "two", 1_790_000_001.0))
        _wait_for(lambda: stored() == 2, seconds=60)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        engine.dispose()
    assert process.returncode == 0, err
    assert "2 events stored" in out and "(stopped)" in out


def test_migration_matches_the_models_and_goes_back(engine) -> None:  # type: ignore[no-untyped-def]
    upgrade_analytics(engine)
    assert analytics_revision(engine) == analytics_head(engine) == "a0002"

    def differences() -> list[Any]:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "include_name": lambda name, type_, parents: type_ != "table"
                or name.startswith("analytics_")})
            return compare_metadata(context, AnalyticsBase.metadata)

    assert differences() == []
    downgrade_analytics(engine, "a0001")
    with engine.connect() as conn:
        assert not conn.dialect.has_table(conn, BrokerEvent.__tablename__)
    upgrade_analytics(engine)
    assert differences() == []
