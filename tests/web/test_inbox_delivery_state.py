"""The agent sees whether a message to a messaging-channel customer arrived: the real app on a real
SQLite file, the fake Telegram Bot API on loopback (refusing with 403, dropping the connection or
holding a request), and an agent logged in to the inbox. ``GET /api/inbox/conversations/{id}``
adds each outgoing message's outbox row as ``delivery``; ``/ws/inbox`` tells open inboxes when a
row ends; an agent sends a refused one again (not on a gateway without Telegram). Plus
``delivery_states`` and ``retry_channel_delivery`` on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.orm import Session, sessionmaker

from crm_connector import (
    ChannelDeliveryState,
    ConversationNotFound,
    DeliveryNotRetryable,
    MessageAuthor,
    delivery_states,
    find_conversation,
    finish_channel_delivery,
    open_conversation,
    read_transaction,
    record_channel_delivery,
    retry_channel_delivery,
    start_delivery_attempt,
    store_outgoing_message,
    write_transaction,
)
from tests.support.fake_telegram import (
    FakeTelegram,
    button_update,
    running_fake_telegram,
    text_update,
)
from tests.web.conftest import login, make_web_settings, open_chat
from web import SESSIONS, WebSettings, init_app
from web.channels import TELEGRAM, WEBHOOK_PATH
from web.gateway import APOLOGY, HANDOFF_PAYLOAD, QUEUED_BY_GATEWAY

SECRET = "telegram-delivery-secret_1"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
REFUSED = {"channel": "telegram", "state": "failed", "error": "provider_rejected_403"}
ARRIVED = {"channel": "telegram", "state": "sent", "error": None}

fake_telegram = pytest.fixture(running_fake_telegram)


@pytest.fixture
def web_settings(fake_telegram: FakeTelegram) -> WebSettings:
    """Telegram pointed at the fake; Rasa is down and not retried during a test (so the only
    outgoing messages are the ones a test makes)."""
    return make_web_settings(
        telegram_bot_token=fake_telegram.token,
        telegram_secret=SECRET,
        telegram_api_url=fake_telegram.url,
        redeliver_interval_seconds=600,
    )




async def webhook(client: TestClient, update: dict[str, Any]) -> None:
    response = await client.post(WEBHOOK_PATH, json=update, headers=HEADERS)
    assert response.status == 200, await response.text()


async def csrf_post(browser: TestClient, csrf: str, path: str, body: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    response = await browser.post(path, json=body or {}, headers={"X-CSRF-Token": csrf})
    assert response.status == 200, await response.text()
    return await response.json()


def conversation_id(client: TestClient, sender: str) -> int:
    with read_transaction(client.app[SESSIONS]) as session:
        conversation = find_conversation(session, sender)
        assert conversation is not None
        return conversation.id


async def messages_once(browser: TestClient, cid: int,
                        done: Callable[[list[dict[str, Any]]], bool], what: str,
                        timeout: float = 15.0) -> list[dict[str, Any]]:
    """Poll the agent's view of conversation ``cid`` until ``done(messages)``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        response = await browser.get(f"/api/inbox/conversations/{cid}")
        assert response.status == 200, await response.text()
        messages = (await response.json())["messages"]
        if done(messages):
            return messages
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {messages}")
        await asyncio.sleep(0.05)


def by_text(messages: list[dict[str, Any]], text: str) -> dict[str, Any]:
    [message] = [m for m in messages if m["text"] == text]
    return message


def ended(message: dict[str, Any]) -> bool:
    return message.get("delivery", {}).get("state") in ("sent", "failed", "uncertain")


async def delivery_frame(inbox: aiohttp.ClientWebSocketResponse, message_id: int
                         ) -> dict[str, Any]:
    while True:
        frame = await inbox.receive_json(timeout=15)
        if frame["type"] == "delivery" and frame["message_id"] == message_id:
            return frame


# ---------------------------------------------------------------------------- the inbox API


async def ended_apology(client: TestClient, agent: TestClient, chat: int
                        ) -> tuple[int, dict[str, Any]]:
    """A Telegram customer writes while the bot is down: the conversation id, and the gateway's
    apology once its delivery has ended (sent, refused or uncertain)."""
    await webhook(client, text_update(chat, "hello?"))
    cid = conversation_id(client, f"telegram-{chat}")
    [apology] = [m for m in await messages_once(
        agent, cid, lambda ms: any(ended(m) for m in ms), "the apology's delivery to end")
        if "delivery" in m]
    return cid, apology


async def claimed_telegram_chat(client: TestClient, agent: TestClient, csrf: str, chat: int
                                ) -> int:
    """A Telegram customer who asked for a person, claimed by ``agent``: the conversation id."""
    await webhook(client, text_update(chat, "where is my parcel?"))
    cid = conversation_id(client, f"telegram-{chat}")
    await messages_once(agent, cid, lambda ms: any(m["text"] == APOLOGY and ended(m) for m in ms),
                        "the apology's delivery to end")
    await webhook(client, button_update(chat, HANDOFF_PAYLOAD, "Talk to a person", APOLOGY))
    await messages_once(agent, cid, lambda ms: any(
        m["text"] == QUEUED_BY_GATEWAY and ended(m) for m in ms), "the queue note to arrive")
    await csrf_post(agent, csrf, f"/api/inbox/conversations/{cid}/claim")
    return cid


async def test_the_agent_sees_which_telegram_messages_were_refused_and_which_arrived(
    client, agent_client, fake_telegram
) -> None:  # type: ignore[no-untyped-def]
    chat = 601
    agent, csrf = await agent_client("agent")
    # The customer blocked the bot (the apology is refused), then unblocked it and asked for
    # a person.
    fake_telegram.fail_next(1, status=403)
    cid = await claimed_telegram_chat(client, agent, csrf, chat)

    inbox = await agent.ws_connect("/ws/inbox")
    arrived = (await csrf_post(agent, csrf, f"/api/inbox/conversations/{cid}/reply",
                               {"text": "It left the warehouse today."}))["message"]
    assert (await delivery_frame(inbox, arrived["id"]))["delivery"] == ARRIVED
    fake_telegram.fail_next(1, status=403)  # blocked again
    refused = (await csrf_post(agent, csrf, f"/api/inbox/conversations/{cid}/reply",
                               {"text": "Are you still there?"}))["message"]
    frame = await delivery_frame(inbox, refused["id"])  # the open inbox learns it at once
    assert frame == {"type": "delivery", "message_id": refused["id"], "delivery": REFUSED}
    await inbox.close()
    await client.app[TELEGRAM].idle()

    messages = await messages_once(agent, cid, lambda ms: True, "the conversation")
    assert fake_telegram.texts_to(chat) == [
        QUEUED_BY_GATEWAY, "Agent: It left the warehouse today."]
    assert by_text(messages, APOLOGY)["delivery"] == REFUSED
    assert by_text(messages, QUEUED_BY_GATEWAY)["delivery"] == ARRIVED
    assert by_text(messages, "It left the warehouse today.")["delivery"] == ARRIVED
    assert by_text(messages, "Are you still there?")["delivery"] == REFUSED
    customer = [m for m in messages if m["author"] == "customer"]
    assert [m["text"] for m in customer] == ["where is my parcel?", "Talk to a person"]
    assert all("delivery" not in m for m in customer)
    # The rest of the message JSON is as before.
    assert set(by_text(messages, "Are you still there?")) == {
        "id", "author", "text", "buttons", "created_at", "agent_name", "internal", "delivery"}
    assert customer[0]["delivery_state"] == "handed_over"


async def test_a_dropped_request_is_uncertain_and_one_on_the_wire_is_sending(
    client, agent_client, fake_telegram
) -> None:  # type: ignore[no-untyped-def]
    agent, _ = await agent_client("agent")
    fake_telegram.drop_next(1)  # the request was read; the answer never came
    _, apology = await ended_apology(client, agent, 602)
    assert apology["text"] == APOLOGY
    assert apology["delivery"] == {
        "channel": "telegram", "state": "uncertain", "error": "delivery_uncertain"}

    fake_telegram.hold_next(1)  # Telegram takes its time to answer
    await webhook(client, text_update(603, "hello?"))
    cid = conversation_id(client, "telegram-603")
    await messages_once(agent, cid, lambda ms: any(
        m.get("delivery", {}).get("state") == "sending" for m in ms), "the request on the wire")
    fake_telegram.release()  # a 503: nothing was sent, so it is tried again and arrives
    await messages_once(agent, cid, lambda ms: any(ended(m) for m in ms), "the retry")
    await client.app[TELEGRAM].idle()
    [apology] = [m for m in await messages_once(agent, cid, lambda ms: True, "it")
                 if "delivery" in m]
    assert apology["delivery"] == ARRIVED
    assert fake_telegram.texts_to(603) == [APOLOGY]


async def test_widget_messages_have_no_delivery(
    client, agent_client
) -> None:  # type: ignore[no-untyped-def]
    agent, _ = await agent_client("agent")
    chat = await open_chat(client)
    await chat.say("hello from the shop", "w-1")
    await chat.wait_for(lambda f: f["type"] == "message" and f["message"]["author"] == "system")
    cid = conversation_id(client, chat.conversation_id)
    messages = await messages_once(agent, cid, lambda ms: len(ms) >= 2, "the apology")
    assert [m["author"] for m in messages] == ["customer", "system"]
    assert all("delivery" not in m for m in messages)


async def test_only_staff_see_the_delivery_state(
    client, new_client, fake_telegram
) -> None:  # type: ignore[no-untyped-def]
    fake_telegram.fail_next(1, status=403)
    await webhook(client, text_update(604, "hi"))
    cid = conversation_id(client, "telegram-604")
    await client.app[TELEGRAM].idle()
    anonymous = await new_client()
    response = await anonymous.get(f"/api/inbox/conversations/{cid}")
    assert response.status == 401
    assert "messages" not in await response.json()
    customer = await new_client()
    await open_chat(customer)  # a widget session is no inbox session
    assert (await customer.get(f"/api/inbox/conversations/{cid}")).status == 401
    assert (await customer.get("/ws/inbox")).status == 401


# ---------------------------------------------------------------------------- sending again


def retry_path(cid: int, message_id: int) -> str:
    return f"/api/inbox/conversations/{cid}/messages/{message_id}/retry"


async def retry(browser: TestClient, csrf: str, cid: int, message_id: int
                ) -> aiohttp.ClientResponse:
    return await browser.post(retry_path(cid, message_id), json={},
                              headers={"X-CSRF-Token": csrf})


async def test_the_agent_sends_a_refused_reply_again_and_it_arrives_once(
    client, agent_client, fake_telegram
) -> None:  # type: ignore[no-untyped-def]
    chat = 611
    agent, csrf = await agent_client("agent")
    cid = await claimed_telegram_chat(client, agent, csrf, chat)
    inbox = await agent.ws_connect("/ws/inbox")
    fake_telegram.fail_next(1, status=403)  # the customer blocked the bot ...
    refused = (await csrf_post(agent, csrf, f"/api/inbox/conversations/{cid}/reply",
                               {"text": "Are you still there?"}))["message"]
    assert (await delivery_frame(inbox, refused["id"]))["delivery"] == REFUSED
    await client.app[TELEGRAM].idle()
    assert "Agent: Are you still there?" not in fake_telegram.texts_to(chat)

    response = await retry(agent, csrf, cid, refused["id"])  # ... and unblocked it
    assert response.status == 202, await response.text()
    assert await response.json() == {"message_id": refused["id"], "delivery": {
        "channel": "telegram", "state": "pending", "error": "provider_rejected_403"}}
    frame = await delivery_frame(inbox, refused["id"])  # the open inbox learns it arrived
    assert frame == {"type": "delivery", "message_id": refused["id"], "delivery": ARRIVED}
    await inbox.close()
    await client.app[TELEGRAM].idle()

    assert fake_telegram.texts_to(chat).count("Agent: Are you still there?") == 1
    messages = await messages_once(agent, cid, lambda ms: True, "the conversation")
    assert by_text(messages, "Are you still there?")["delivery"] == ARRIVED
    with read_transaction(client.app[SESSIONS]) as session:
        row = delivery_states(session, [refused["id"]])[refused["id"]]
    assert (row.state, row.attempts) == (ChannelDeliveryState.SENT, 2)
    # Sent now: a second retry (a double click) sends nothing more.
    response = await retry(agent, csrf, cid, refused["id"])
    assert response.status == 409
    assert (await response.json())["error"] == "delivery_not_retryable"
    await client.app[TELEGRAM].idle()
    assert fake_telegram.texts_to(chat).count("Agent: Are you still there?") == 1


async def test_only_a_refused_message_of_that_conversation_can_be_sent_again(
    client, agent_client, new_client, fake_telegram
) -> None:  # type: ignore[no-untyped-def]
    agent, csrf = await agent_client("agent")
    fake_telegram.drop_next(1)  # the apology may have arrived: never sent again
    uncertain_cid, uncertain = await ended_apology(client, agent, 612)
    assert uncertain["delivery"]["state"] == "uncertain"
    fake_telegram.fail_next(1, status=403)
    cid, refused = await ended_apology(client, agent, 613)
    assert refused["delivery"] == REFUSED
    [customer] = [m for m in await messages_once(agent, cid, lambda ms: True, "it")
                  if m["author"] == "customer"]
    await client.app[TELEGRAM].idle()
    tried_before = len(fake_telegram.attempts_of("sendMessage"))

    response = await retry(agent, csrf, uncertain_cid, uncertain["id"])
    assert response.status == 409
    assert (await response.json())["error"] == "delivery_not_retryable"
    assert (await retry(agent, csrf, cid, customer["id"])).status == 409  # no outbox row
    assert (await retry(agent, csrf, uncertain_cid, refused["id"])).status == 404  # other one
    assert (await retry(agent, csrf, cid, 10**9)).status == 404
    anonymous = await new_client()
    assert (await anonymous.post(retry_path(cid, refused["id"]), json={})).status == 401
    for headers in ({}, {"X-CSRF-Token": "wrong"}):
        response = await agent.post(retry_path(cid, refused["id"]), json={}, headers=headers)
        assert response.status == 403
        assert (await response.json())["error"] == "csrf"

    await client.app[TELEGRAM].idle()
    assert len(fake_telegram.attempts_of("sendMessage")) == tried_before  # nothing sent again
    messages = await messages_once(agent, cid, lambda ms: True, "it")
    assert by_text(messages, APOLOGY)["delivery"] == REFUSED  # and nothing changed
    messages = await messages_once(agent, uncertain_cid, lambda ms: True, "it")
    assert by_text(messages, APOLOGY)["delivery"]["state"] == "uncertain"


async def test_a_gateway_without_telegram_does_not_put_a_refused_message_back(
    client, agent_client, aiohttp_client, web_crm, static_dir, fake_telegram
) -> None:  # type: ignore[no-untyped-def]
    agent, _ = await agent_client("agent")
    assert (await (await agent.get("/api/inbox/me")).json())["channels"] == ["telegram"]
    fake_telegram.fail_next(1, status=403)
    cid, _ = await ended_apology(client, agent, 621)
    await client.app[TELEGRAM].idle()
    await client.close()
    # Restarted on the same database with the bot token taken out of the settings.
    without = await aiohttp_client(init_app(
        make_web_settings(redeliver_interval_seconds=600), web_crm, static_dir=static_dir))
    assert without.app.get(TELEGRAM) is None
    csrf = await login(without, "agent")
    [refused] = [m for m in await messages_once(without, cid, lambda ms: True, "it")
                 if "delivery" in m]
    assert (refused["text"], refused["delivery"]) == (APOLOGY, REFUSED)
    # This gateway sends on no messaging channel, so its inbox offers no Retry.
    assert (await (await without.get("/api/inbox/me")).json())["channels"] == []
    tried_before = len(fake_telegram.attempts_of("sendMessage"))

    response = await retry(without, csrf, cid, refused["id"])
    assert response.status == 409
    assert await response.json() == {"error": "channel_unavailable", "message": (
        "Telegram is not configured here, so the message cannot be sent again.")}
    with read_transaction(without.app[SESSIONS]) as session:
        row = delivery_states(session, [refused["id"]])[refused["id"]]
    assert (row.state, row.attempts, row.last_error) == (
        ChannelDeliveryState.FAILED, 1, "provider_rejected_403")  # not put back in the queue
    assert len(fake_telegram.attempts_of("sendMessage")) == tried_before


# ---------------------------------------------------------------------------- the service


def test_delivery_states_reads_only_the_rows_of_the_given_messages(
    sessions: sessionmaker[Session]
) -> None:
    now = dt.datetime.now(dt.UTC)
    with write_transaction(sessions) as session:
        conversation = open_conversation(session, "telegram-9", "telegram", now=now)
        sent, refused, widget, other = (
            store_outgoing_message(session, conversation.id, MessageAuthor.BOT, text, now=now).id
            for text in ("sent", "refused", "never queued", "not asked for"))
        for message_id, state, error in (
            (sent, ChannelDeliveryState.SENT, None),
            (refused, ChannelDeliveryState.FAILED, "provider_rejected_403"),
            (other, ChannelDeliveryState.UNCERTAIN, None),
        ):
            row = record_channel_delivery(
                session, channel="telegram", external_conversation_id="9",
                key=f"9:message-{message_id}", text="t", buttons=None, now=now,
                conversation_message_id=message_id).delivery
            finish_channel_delivery(session, row.id, state, now=now, error=error)
        record_channel_delivery(  # a rating prompt: linked to no message
            session, channel="telegram", external_conversation_id="9", key=None, text="rate",
            buttons=None, now=now)

    with read_transaction(sessions) as session:
        found = delivery_states(session, [sent, refused, widget])
        assert delivery_states(session, []) == {}
    assert set(found) == {sent, refused}
    assert (found[sent].state, found[sent].last_error) == (ChannelDeliveryState.SENT, None)
    assert (found[refused].state, found[refused].last_error) == (
        ChannelDeliveryState.FAILED, "provider_rejected_403")
    assert found[refused].conversation_message_id == refused


def test_retry_channel_delivery_puts_back_only_a_failed_row(
    sessions: sessionmaker[Session]
) -> None:
    now = dt.datetime.now(dt.UTC)
    with write_transaction(sessions) as session:
        conversation = open_conversation(session, "telegram-10", "telegram", now=now)
        other = open_conversation(session, "telegram-11", "telegram", now=now)
        ids = {}
        for state in (ChannelDeliveryState.FAILED, ChannelDeliveryState.SENT,
                      ChannelDeliveryState.UNCERTAIN):
            message_id = store_outgoing_message(
                session, conversation.id, MessageAuthor.BOT, state.value, now=now).id
            row = record_channel_delivery(
                session, channel="telegram", external_conversation_id="10",
                key=f"10:message-{message_id}", text="t", buttons=None, now=now,
                conversation_message_id=message_id).delivery
            assert start_delivery_attempt(session, row.id)
            finish_channel_delivery(session, row.id, state, now=now, error="provider_rejected_403")
            ids[state] = message_id
        failed = ids[ChannelDeliveryState.FAILED]

    with write_transaction(sessions) as session, pytest.raises(ConversationNotFound):
        retry_channel_delivery(session, failed, conversation_id=other.id)
    for state in (ChannelDeliveryState.SENT, ChannelDeliveryState.UNCERTAIN):
        with write_transaction(sessions) as session, pytest.raises(DeliveryNotRetryable):
            retry_channel_delivery(session, ids[state])
    with write_transaction(sessions) as session:
        view = retry_channel_delivery(session, failed, conversation_id=conversation.id)
    assert (view.state, view.attempts, view.last_error) == (
        ChannelDeliveryState.PENDING, 1, "provider_rejected_403")
    with write_transaction(sessions) as session, pytest.raises(DeliveryNotRetryable):
        retry_channel_delivery(session, failed)  # pending already: not put back twice
    with read_transaction(sessions) as session:
        found = delivery_states(session, ids.values())
    assert {s: found[m].state for s, m in ids.items()} == {
        ChannelDeliveryState.FAILED: ChannelDeliveryState.PENDING,
        ChannelDeliveryState.SENT: ChannelDeliveryState.SENT,
        ChannelDeliveryState.UNCERTAIN: ChannelDeliveryState.UNCERTAIN}
