"""The Telegram outbox survives a restart: the real app on a real SQLite file, stopped and started
again on the same database, with the fake Bot API on loopback. Nothing queued for a customer is
lost, nothing sent (or possibly sent) goes out twice. Plus the ``channel_delivery`` migration
and service on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from crm_connector import (
    CrmSettings,
    conversation_history,
    create_db_engine,
    create_session_factory,
    find_conversation,
    read_transaction,
    write_transaction,
)
from crm_connector.migrate import downgrade, upgrade
from crm_connector.models import ChannelDelivery, ChannelDeliveryState
from crm_connector.services.channel_delivery import (
    finish_channel_delivery,
    record_channel_delivery,
    release_delivery_attempt,
    resume_channel_deliveries,
    start_delivery_attempt,
)
from tests.support.fake_telegram import FakeTelegram, running_fake_telegram, text_update
from tests.web.conftest import make_web_settings
from web import WebSettings, init_app
from web.channels import TELEGRAM, WEBHOOK_PATH
from web.channels.telegram import NOT_TEXT
from web.gateway import APOLOGY
from web.serialize import message_json

SECRET = "telegram-outbox-secret_1"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
PENDING, SENDING, SENT, UNCERTAIN = (
    ChannelDeliveryState.PENDING,
    ChannelDeliveryState.SENDING,
    ChannelDeliveryState.SENT,
    ChannelDeliveryState.UNCERTAIN,
)
_update_ids = itertools.count(5000)

fake_telegram = pytest.fixture(running_fake_telegram)


@pytest.fixture
def web_settings(fake_telegram: FakeTelegram) -> WebSettings:
    """Telegram pointed at the fake; Rasa is down, and the gateway does not retry it during a
    test (a new process would apologise again: that is the gateway's business, not the outbox's)."""
    return make_web_settings(
        telegram_bot_token=fake_telegram.token,
        telegram_secret=SECRET,
        telegram_api_url=fake_telegram.url,
        redeliver_interval_seconds=600,
    )


@pytest.fixture
def start(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    web_settings: WebSettings,
    web_crm: CrmSettings,
    static_dir: Path,
) -> Callable[[], Awaitable[TestClient]]:
    """``await start()``: a gateway process on the test's database (call again to restart)."""

    async def run() -> TestClient:
        return await aiohttp_client(init_app(web_settings, web_crm, static_dir=static_dir))

    return run


@pytest.fixture
def outbox(web_crm: CrmSettings) -> Iterator[Callable[[int], list[ChannelDelivery]]]:
    """``outbox(chat)``: the chat's ``channel_delivery`` rows, oldest first, read with an
    engine of the test's own (so it works while no gateway is running)."""
    engine = create_db_engine(web_crm)
    sessions = create_session_factory(engine)

    def rows(chat: int) -> list[ChannelDelivery]:
        with read_transaction(sessions) as session:
            return list(session.scalars(
                select(ChannelDelivery)
                .where(ChannelDelivery.external_conversation_id == str(chat))
                .order_by(ChannelDelivery.id)
            ))

    yield rows
    engine.dispose()




def photo_update(chat_id: int) -> dict[str, Any]:
    """A message the channel cannot read: answered with ``NOT_TEXT`` (key ``notice-<update>``)."""
    return {
        "update_id": next(_update_ids),
        "message": {"message_id": 2, "date": 0, "chat": {"id": chat_id},
                    "photo": [{"file_id": "f"}]},
    }


async def post(client: TestClient, update: dict[str, Any]) -> None:
    response = await client.post(WEBHOOK_PATH, json=update, headers=HEADERS)
    assert response.status == 200, await response.text()


def stored_apology(client: TestClient, chat: int) -> Any:
    """The one system message (the bot-unavailable apology) stored in the chat's conversation."""
    with read_transaction(client.app[TELEGRAM].gateway.sessions) as session:
        conversation = find_conversation(session, f"telegram-{chat}")
        assert conversation is not None
        [apology] = [m for m in conversation_history(session, conversation.id,
                                                      include_internal=False)
                     if m.author.value == "system"]
    return apology


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------------- across a restart


async def test_a_reply_held_up_by_telegram_is_sent_once_after_a_restart(
    start, fake_telegram, outbox
) -> None:  # type: ignore[no-untyped-def]
    chat = 81
    fake_telegram.fail_next(1, status=500)
    fake_telegram.fail_next(50, status=429, retry_after=30)  # Telegram says: wait 30 s
    first = await start()
    await post(first, text_update(chat, "where is my parcel?"))
    await wait_until(lambda: len(outbox(chat)) == 1, "the apology in the outbox")
    await post(first, photo_update(chat))  # queued behind the apology
    await wait_until(
        lambda: [(r.state, r.attempts) for r in outbox(chat)] == [(PENDING, 2), (PENDING, 0)],
        "a 500, then a 429 (the worker now waits out retry_after)",
    )
    await first.close()  # the process stops before Telegram took the messages

    assert fake_telegram.sent_messages == []
    held = outbox(chat)
    assert [r.state for r in held] == [PENDING, PENDING]
    assert held[0].last_error == "http_429"
    assert [a.status for a in fake_telegram.attempts_of("sendMessage")] == [500, 429]

    fake_telegram.clear_failures()  # Telegram is fine again
    second = await start()
    await fake_telegram.wait_for_messages(chat, 2)
    await post(second, text_update(chat, "x" * 5000))  # the next reply: "too long"
    texts = await fake_telegram.wait_for_messages(chat, 3)
    await second.app[TELEGRAM].idle()

    assert fake_telegram.texts_to(chat) == texts  # nothing more came
    assert texts[:2] == [APOLOGY, NOT_TEXT]
    assert "too long" in texts[2]
    rows = outbox(chat)
    assert [r.state for r in rows] == [SENT, SENT, SENT]
    assert [r.provider_message_id for r in rows] == ["1", "2", "3"]  # the fake's message_ids
    apology = stored_apology(second, chat)
    assert rows[0].conversation_message_id == apology.id
    assert rows[0].attempts == 3 and rows[0].last_error is None


async def test_a_key_sent_before_a_restart_is_not_sent_again(
    start, fake_telegram, outbox
) -> None:  # type: ignore[no-untyped-def]
    chat = 82
    first = await start()
    await post(first, text_update(chat, "hello"))
    await fake_telegram.wait_for_messages(chat, 1)
    photo = photo_update(chat)
    await post(first, photo)
    await fake_telegram.wait_for_messages(chat, 2)
    await first.app[TELEGRAM].idle()
    assert [r.state for r in outbox(chat)] == [SENT, SENT]
    await first.close()

    second = await start()
    await post(second, photo)  # Telegram retries the update after the restart
    # The gateway publishes the stored apology again (e.g. a replay after a restart).
    apology = stored_apology(second, chat)
    await second.app[TELEGRAM].deliver(
        str(chat), {"type": "message", "message": message_json(apology)}
    )
    await post(second, photo_update(chat))  # a new photo: answered, so the channel works
    await fake_telegram.wait_for_messages(chat, 3)
    await second.app[TELEGRAM].idle()

    assert fake_telegram.texts_to(chat) == [APOLOGY, NOT_TEXT, NOT_TEXT]
    assert len(fake_telegram.attempts_of("sendMessage")) == 3
    assert [r.state for r in outbox(chat)] == [SENT, SENT, SENT]


async def test_an_uncertain_delivery_is_not_sent_again_after_a_restart(
    start, fake_telegram, outbox, caplog
) -> None:  # type: ignore[no-untyped-def]
    chat = 83
    fake_telegram.drop_next(1)  # reads the request, closes the connection: sent or not?
    first = await start()
    await post(first, text_update(chat, "my address is 1 Main Street"))
    await wait_until(lambda: [r.state for r in outbox(chat)] == [UNCERTAIN], "uncertain")
    await first.app[TELEGRAM].idle()
    await first.close()
    [row] = outbox(chat)
    assert (row.attempts, row.last_error) == (1, "delivery_uncertain")

    caplog.set_level(logging.INFO, logger="web.channels.telegram")
    second = await start()
    await post(second, photo_update(chat))
    await fake_telegram.wait_for_messages(chat, 1)
    await second.app[TELEGRAM].idle()

    assert fake_telegram.texts_to(chat) == [NOT_TEXT]  # the apology was not tried again
    assert len(fake_telegram.attempts_of("sendMessage")) == 2
    [again, notice] = outbox(chat)
    assert (again.id, again.state, again.attempts) == (row.id, UNCERTAIN, 1)
    assert notice.state == SENT
    [warning] = [r for r in caplog.records
                 if r.levelno == logging.WARNING and "uncertain" in r.getMessage()]
    assert warning.getMessage().endswith(f"ids: {row.id}")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Sorry" not in logged and "Main Street" not in logged  # ids and codes only


async def test_a_request_cut_off_by_a_stop_is_uncertain_not_resent(
    start, fake_telegram, outbox
) -> None:  # type: ignore[no-untyped-def]
    chat = 84
    fake_telegram.hold_next(1)  # the request arrives; the answer does not
    first = await start()
    await post(first, text_update(chat, "hello?"))
    await wait_until(
        lambda: [r.state for r in outbox(chat)] == [SENDING], "the request on the wire"
    )
    await first.close()
    assert [r.state for r in outbox(chat)] == [SENDING]

    second = await start()
    await post(second, photo_update(chat))
    await fake_telegram.wait_for_messages(chat, 1)
    await second.app[TELEGRAM].idle()
    fake_telegram.release()

    assert fake_telegram.texts_to(chat) == [NOT_TEXT]
    assert [a.params["text"] for a in fake_telegram.attempts_of("sendMessage")] == [
        APOLOGY, NOT_TEXT]
    cut_off, notice = outbox(chat)
    assert (cut_off.state, cut_off.last_error) == (UNCERTAIN, "interrupted")
    assert notice.state == SENT


# ---------------------------------------------------------------------------- schema and service


def test_the_outbox_migration_goes_down_and_up(engine: Engine) -> None:
    downgrade(engine, "0002")
    tables = set(inspect(engine).get_table_names())
    assert "channel_delivery" not in tables and "conversation_message" in tables
    upgrade(engine)
    assert "channel_delivery" in inspect(engine).get_table_names()
    assert [u["column_names"] for u in inspect(engine).get_unique_constraints("channel_delivery")
            ] == [["channel", "delivery_key"]]
    sessions = create_session_factory(engine)
    now = dt.datetime.now(dt.UTC)
    recorded = []
    for _ in range(2):
        with write_transaction(sessions) as session:
            recorded.append(record_channel_delivery(
                session, channel="telegram", external_conversation_id="9", key="9:message-1",
                text="Hi", buttons=[[{"text": "Yes", "callback_data": "/affirm"}]], now=now))
    assert [r.created for r in recorded] == [True, False]
    assert recorded[0].delivery.id == recorded[1].delivery.id
    assert recorded[1].delivery.buttons == [[{"text": "Yes", "callback_data": "/affirm"}]]


def test_outbox_states_and_resume(sessions: sessionmaker[Session]) -> None:
    """The state changes the channel relies on, on both backends."""
    now = dt.datetime.now(dt.UTC)

    def run(work):  # type: ignore[no-untyped-def]
        with write_transaction(sessions) as session:
            return work(session)

    def record(chat: str, key: str | None) -> int:
        return run(lambda s: record_channel_delivery(
            s, channel="telegram", external_conversation_id=chat, key=key, text="t",
            buttons=None, now=now)).delivery.id

    sent, retried, cut_off, later, other = (
        record("1", "1:a"), record("1", "1:b"), record("1", None), record("1", None),
        record("2", "2:a"))
    assert run(lambda s: start_delivery_attempt(s, sent))
    assert not run(lambda s: start_delivery_attempt(s, sent)), "one worker per delivery"
    assert run(lambda s: finish_channel_delivery(s, sent, SENT, now=now, provider_message_id=7))
    assert not run(lambda s: finish_channel_delivery(s, sent, UNCERTAIN, now=now))
    assert not run(lambda s: start_delivery_attempt(s, sent)), "a sent delivery is never resent"
    assert run(lambda s: start_delivery_attempt(s, retried))
    run(lambda s: release_delivery_attempt(s, retried, "http_429"))
    assert run(lambda s: start_delivery_attempt(s, cut_off))  # ... and the process stops

    found = run(lambda s: resume_channel_deliveries(s, "telegram"))
    assert [d.id for d in found.pending] == [retried, later, other]
    assert (found.pending[0].attempts, found.pending[0].last_error) == (1, "http_429")
    assert found.uncertain_ids == (cut_off,)
    with read_transaction(sessions) as session:
        row = session.get(ChannelDelivery, sent)
        assert row is not None
        assert (row.state, row.provider_message_id, row.sent_at is not None) == (SENT, "7", True)
        interrupted = session.get(ChannelDelivery, cut_off)
        assert interrupted is not None and interrupted.last_error == "interrupted"
