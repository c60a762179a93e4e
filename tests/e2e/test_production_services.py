"""The Rasa server in its production shape, as `crmbot up` starts it with the services set:
trackers in PostgreSQL (from the CRM's URL: host, user and database), conversation locks in
Redis shared by two Rasa workers, every event published to RabbitMQ, where the analytics
consumer takes them and the pipeline turns them into the same conversation as the tracker
store's events do. Real servers on loopback; the trained production model and the session's
action server."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from analytics import AnalyticsSettings
from analytics.broker import consume
from analytics.pipeline import run_pipeline
from analytics.schema import BrokerEvent, Turn, upgrade_analytics
from crm_connector import (
    CrmSettings,
    create_db_engine,
    create_session_factory,
    read_transaction,
    write_transaction,
)
from crmbot.runtime import rasa_endpoints
from crmbot.settings import PlatformSettings
from tests.conftest import RABBITMQ_URL, fresh_postgres_database, skip_or_fail
from tests.support.rasa_server import send_message
from tests.support.stack import REPO, start_platform_rasa

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

REDIS = ("127.0.0.1", 6379)
REDIS_DB = 11  # the test's own Redis database: its clients are told apart by it


def redis_command(*words: str) -> str:
    """One command to the real Redis on loopback, its reply's text (RESP over a socket: the
    platform environment has no Redis client, and needs none)."""
    request = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    try:
        with socket.create_connection(REDIS, timeout=5) as conn:
            conn.sendall(request.encode())
            reply = conn.makefile("rb")
            first = reply.readline().decode().rstrip("\r\n")
            if not first.startswith("$"):  # a status line (+PONG) or an error (-ERR ...)
                return first
            return reply.read(int(first[1:])).decode()
    except OSError as exc:
        skip_or_fail(f"Redis unreachable at {REDIS}: {exc}")
        raise


@pytest.fixture
def event_queue() -> Iterator[str]:
    """A queue name of this test's own (Rasa declares the queue, bound to its exchange
    `rasa-exchange`), deleted at the end."""
    import pika

    try:
        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    except pika.exceptions.AMQPError as exc:
        skip_or_fail(f"RabbitMQ unreachable at 127.0.0.1:5672: {type(exc).__name__}")
    channel = connection.channel()
    queue = f"crmbot_test_events_{uuid.uuid4().hex[:8]}"
    try:
        yield queue
    finally:
        channel.queue_delete(queue)
        connection.close()


def analytics_from_broker(database_url: str, queue: str, expected: int,
                          timeout: float = 30.0) -> tuple[list[tuple[str, float]], list[Any]]:
    """Run the analytics consumer on the queue until ``expected`` events are stored (Rasa
    publishes in the background), then the pipeline on them: the stored (type, timestamp)
    pairs and the conversations' turns."""
    engine = create_db_engine(CrmSettings(_env_file=None, database_url=database_url))
    sessions = create_session_factory(engine)
    settings = AnalyticsSettings(_env_file=None, broker_url=RABBITMQ_URL, broker_queue=queue,
                                 events_from="broker")
    try:
        upgrade_analytics(engine)
        deadline = time.monotonic() + timeout
        while True:
            consume(sessions, settings, until_empty=True)
            with read_transaction(sessions) as session:
                stored = session.execute(select(BrokerEvent.type_name, BrokerEvent.timestamp)
                                         .order_by(BrokerEvent.id)).all()
            if len(stored) >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        with write_transaction(sessions) as session:
            run_pipeline(session, settings)
        with read_transaction(sessions) as session:
            turns = session.execute(select(Turn.intent, Turn.text, Turn.source)
                                    .order_by(Turn.id)).all()
        return [tuple(row) for row in stored], [tuple(row) for row in turns]
    finally:
        engine.dispose()


def test_rasa_keeps_trackers_in_postgresql_locks_in_redis_and_publishes_events(
    e2e_platform: PlatformSettings, e2e_model: Path, action_server: str, tmp_path: Path,
    event_queue: str,
) -> None:
    queue = event_queue
    redis_command("PING")
    platform = e2e_platform.model_copy(update={
        "rasa_workers": 2,
        "rasa_lock_store_url": SecretStr(f"redis://{REDIS[0]}:{REDIS[1]}/{REDIS_DB}"),
        "rasa_event_broker_url": SecretStr(RABBITMQ_URL),
        "rasa_event_queue": queue,
    })
    with fresh_postgres_database("crmbot_tracker") as database_url:
        crm = CrmSettings(_env_file=None, database_url=database_url)
        endpoints = rasa_endpoints(platform)
        assert endpoints != REPO / "bot" / "endpoints.yml"
        server = start_platform_rasa(platform, crm, e2e_model, tmp_path, endpoints=endpoints)
        try:
            sender = f"prod-{uuid.uuid4().hex[:8]}"
            for words in ("hello", "how long does shipping take?"):
                replies = send_message(server.url, sender, words)
                assert replies and all(r.get("text") for r in replies), server.log_tail()
            clients = redis_command("CLIENT", "LIST")
            # The trackers are in PostgreSQL (the URL's host, user and database).
            engine = create_engine(database_url)
            try:
                with engine.connect() as conn:
                    rows = conn.execute(text(
                        "SELECT type_name, timestamp, data FROM events WHERE sender_id = :s "
                        "ORDER BY id"), {"s": sender}).all()
                    others = conn.execute(text(
                        "SELECT DISTINCT usename, host(client_addr) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()")).all()
            finally:
                engine.dispose()
            stored, turns = analytics_from_broker(database_url, queue, len(rows))
        finally:
            server.stop()

    # Rasa's connections: over TCP as the URL's user (not the local socket's default role).
    assert others == [(make_url(database_url).username, "127.0.0.1")]
    said = [json.loads(data)["text"] for kind, _, data in rows if kind == "user"]
    assert said == ["hello", "how long does shipping take?"]
    # The lock store is Redis: the Rasa workers hold connections to the test's database.
    assert f" db={REDIS_DB} " in clients, clients
    # Every event the tracker store saved was published to the queue, in order, and the
    # analytics consumer stored each once; the pipeline makes the customer's turns of them.
    assert stored == [(kind, pytest.approx(when)) for kind, when, _ in rows]
    assert [(text_, source) for _, text_, source in turns] == [(t, "broker") for t in said]
    assert [intent for intent, _, _ in turns] == ["greet", "ask_faq"]
