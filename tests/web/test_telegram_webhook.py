"""The Telegram channel end to end: Telegram's webhook call -> stored message -> gateway ->
reply delivered through the (fake, loopback) Bot API. The gateway, database and, for the bot
replies, the Rasa server are real."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from crm_connector import conversation_history, find_conversation, read_transaction
from tests.support.fake_telegram import (
    FakeTelegram,
    button_update,
    running_fake_telegram,
    text_update,
)
from tests.web.conftest import make_web_settings
from web import SESSIONS, WebSettings, init_app
from web.channels import TELEGRAM, WEBHOOK_PATH

SECRET = "telegram-webhook-secret_1"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
_update_ids = itertools.count(1000)

fake_telegram = pytest.fixture(running_fake_telegram)


@pytest.fixture
def web_settings(fake_telegram: FakeTelegram) -> WebSettings:
    """The gateway with the Telegram channel pointed at the fake Bot API; Rasa is down."""
    return make_web_settings(
        telegram_bot_token=fake_telegram.token,
        telegram_secret=SECRET,
        telegram_api_url=fake_telegram.url,
    )




def stored(client: TestClient, chat_id: int) -> list[Any]:
    """Messages of the conversation ``telegram-<chat_id>``, from the database."""
    with read_transaction(client.app[SESSIONS]) as session:
        conversation = find_conversation(session, f"telegram-{chat_id}")
        if conversation is None:
            return []
        return conversation_history(session, conversation.id, include_internal=True)


async def test_wrong_or_missing_secret_is_refused_and_nothing_is_stored(
    client, fake_telegram
) -> None:  # type: ignore[no-untyped-def]
    for headers in (
        {},
        {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
        {"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"},
    ):
        response = await client.post(
            WEBHOOK_PATH, json=text_update(11, "let me in"), headers=headers
        )
        assert response.status == 401
        assert (await response.json())["error"] == "unauthorized"
    assert stored(client, 11) == []
    assert fake_telegram.attempts == []


async def test_malformed_update_gets_a_clear_error(client) -> None:  # type: ignore[no-untyped-def]
    response = await client.post(WEBHOOK_PATH, data=b"{not json", headers=HEADERS)
    assert response.status == 400
    response = await client.post(WEBHOOK_PATH, json={"update_id": "x"}, headers=HEADERS)
    assert response.status == 400
    assert "update_id" in (await response.json())["message"]


async def test_a_message_is_stored_and_the_customer_is_answered(client, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    text = "Where is my order? <b>10000104</b> 'OR 1=1 --"
    response = await client.post(WEBHOOK_PATH, json=text_update(21, text), headers=HEADERS)
    assert response.status == 200
    [customer] = [m for m in stored(client, 21) if m.author.value == "customer"]
    assert customer.text == text
    # The bot is down here: the gateway's apology (with its "Talk to a person" button) arrives.
    [reply] = await fake_telegram.wait_for_messages(21, 1)
    assert "Sorry" in reply
    sent = fake_telegram.sent_messages[0]
    assert sent["reply_markup"]["inline_keyboard"] == [
        [{"text": "Talk to a person", "callback_data": "/human_handoff"}]
    ]


async def test_a_retried_update_is_stored_and_answered_once(client, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    update = text_update(31, "hello twice")
    for _ in range(3):
        response = await client.post(WEBHOOK_PATH, json=update, headers=HEADERS)
        assert response.status == 200
    await fake_telegram.wait_for_messages(31, 1)
    await client.app[TELEGRAM].idle()
    assert [m.text for m in stored(client, 31) if m.author.value == "customer"] == ["hello twice"]
    assert len(fake_telegram.texts_to(31)) == 1


async def test_provider_failures_are_retried_without_duplicates(client, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    fake_telegram.fail_next(1, status=429, retry_after=0)
    fake_telegram.fail_next(1, status=500)
    await client.post(WEBHOOK_PATH, json=text_update(41, "anyone?"), headers=HEADERS)
    await fake_telegram.wait_for_messages(41, 1)
    await client.app[TELEGRAM].idle()
    assert len(fake_telegram.texts_to(41)) == 1
    assert [a.status for a in fake_telegram.attempts if a.method == "sendMessage"] == [
        429,
        500,
        200,
    ]


async def test_a_pressed_button_is_stored_with_its_title_and_payload(client, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    update = button_update(51, "/human_handoff", "Yes, connect me", "Shall I connect you?")
    response = await client.post(WEBHOOK_PATH, json=update, headers=HEADERS)
    assert response.status == 200
    [message] = [m for m in stored(client, 51) if m.author.value == "customer"]
    assert (message.text, message.payload) == ("Yes, connect me", "/human_handoff")
    await fake_telegram.wait_for_messages(51, 1)
    await client.app[TELEGRAM].idle()
    assert [c.params for c in fake_telegram.calls if c.method == "answerCallbackQuery"] == [
        {"callback_query_id": "cb-51"}
    ]


async def test_too_long_and_non_text_messages_get_a_polite_answer(client, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    await client.post(WEBHOOK_PATH, json=text_update(61, "x" * 5000), headers=HEADERS)
    photo = {
        "update_id": next(_update_ids),
        "message": {"message_id": 2, "chat": {"id": 61}, "photo": [{"file_id": "f"}]},
    }
    await client.post(WEBHOOK_PATH, json=photo, headers=HEADERS)
    await client.post(WEBHOOK_PATH, json=photo, headers=HEADERS)  # a retry of the same update
    texts = await fake_telegram.wait_for_messages(61, 2)
    await client.app[TELEGRAM].idle()
    assert len(fake_telegram.texts_to(61)) == 2
    assert "too long" in texts[0]
    assert "only read text" in texts[1]
    assert stored(client, 61) == []


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the session's first use of the real assistant trains the model
async def test_the_bot_answers_and_hands_off_through_telegram(  # type: ignore[no-untyped-def]
    aiohttp_client, e2e_crm, static_dir, fake_telegram, rasa_server
) -> None:
    """With the real Rasa server and action server (sharing the gateway's database)."""
    settings = make_web_settings(
        rasa_server.url,
        rasa_timeout_seconds=45,
        telegram_bot_token=fake_telegram.token,
        telegram_secret=SECRET,
        telegram_api_url=fake_telegram.url,
    )
    client = await aiohttp_client(init_app(settings, e2e_crm, static_dir=static_dir))
    chat = 700_000 + next(_update_ids)

    await client.post(WEBHOOK_PATH, json=text_update(chat, "hello"), headers=HEADERS)
    [greeting] = await fake_telegram.wait_for_messages(chat, 1, timeout=90)
    assert greeting.strip()

    await client.post(
        WEBHOOK_PATH, json=text_update(chat, "I want to talk to a person"), headers=HEADERS
    )
    texts = await fake_telegram.wait_for_messages(chat, 2, timeout=90)
    await client.app[TELEGRAM].idle()
    assert any(word in texts[-1] for word in ("colleague", "person", "customer service")), texts
    with read_transaction(client.app[SESSIONS]) as session:
        conversation = find_conversation(session, f"telegram-{chat}")
    assert conversation is not None and conversation.status.value == "queued"
    assert conversation.channel == "telegram"
    bot_texts = [m.text for m in stored(client, chat) if m.author.value == "bot"]
    assert fake_telegram.texts_to(chat) == bot_texts, "every bot message went out exactly once"
