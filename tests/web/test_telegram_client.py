"""The Telegram Bot API client and the webhook parsing, against a fake Bot API on loopback."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from tests.support.fake_telegram import FakeTelegram, running_fake_telegram
from web.channels import (
    ProviderRejected,
    ProviderUnavailable,
    TelegramClient,
    inline_keyboard,
    parse_update,
    secret_matches,
)
from web.errors import BadRequest

fake = pytest.fixture(running_fake_telegram)


@pytest.fixture
async def http():  # type: ignore[no-untyped-def]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


def client_for(http: aiohttp.ClientSession, fake: FakeTelegram, **kwargs: object) -> TelegramClient:
    return TelegramClient(http, fake.url, fake.token, base_delay=0.01, **kwargs)  # type: ignore[arg-type]


async def test_send_message_with_buttons_reaches_the_api(http, fake) -> None:  # type: ignore[no-untyped-def]
    client = client_for(http, fake)
    keyboard = inline_keyboard([{"title": "Talk to a person", "payload": "/human_handoff"}])
    result = await client.send_message(42, "Hello <b>there</b> 👋", buttons=keyboard)
    assert result["message_id"] == 1
    assert fake.sent_messages == [
        {
            "chat_id": 42,
            "text": "Hello <b>there</b> 👋",
            "reply_markup": {
                "inline_keyboard": [
                    [{"text": "Talk to a person", "callback_data": "/human_handoff"}]
                ]
            },
        }
    ]
    assert "parse_mode" not in fake.sent_messages[0], "text is sent as plain text, never as HTML"


@pytest.mark.parametrize("status", [429, 500, 502])
async def test_provider_errors_are_retried_and_the_message_is_sent_once(http, fake, status) -> None:  # type: ignore[no-untyped-def]
    fake.fail_next(2, status=status)
    await client_for(http, fake).send_message(7, "Your parcel is on its way", key="message-1")
    assert fake.texts_to(7) == ["Your parcel is on its way"]
    assert [a.status for a in fake.attempts] == [status, status, 200]


async def test_retry_after_of_a_429_is_honoured(http, fake) -> None:  # type: ignore[no-untyped-def]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    fake.fail_next(1, status=429, retry_after=3)
    await client_for(http, fake, sleep=sleep).send_message(7, "hi")
    assert waits == [3.0]
    assert fake.texts_to(7) == ["hi"]


async def test_gives_up_after_the_last_attempt_without_sending(http, fake) -> None:  # type: ignore[no-untyped-def]
    fake.fail_next(10, status=503)
    with pytest.raises(ProviderUnavailable, match="3 attempts"):
        await client_for(http, fake, max_attempts=3).send_message(7, "hi", key="k")
    assert len(fake.attempts) == 3
    assert fake.sent_messages == []


async def test_a_refusal_is_not_retried(http, fake) -> None:  # type: ignore[no-untyped-def]
    client = TelegramClient(http, fake.url, "999:wrong-token", base_delay=0.01)
    with pytest.raises(ProviderRejected) as error:
        await client.send_message(7, "hi")
    assert error.value.http_status == 401
    assert len(fake.attempts) == 1


async def test_the_same_key_is_sent_once_even_when_asked_concurrently(http, fake) -> None:  # type: ignore[no-untyped-def]
    client = client_for(http, fake)
    fake.fail_next(
        1, status=429
    )  # the first request is slow to succeed: the others must wait for it
    results = await asyncio.gather(
        *(client.send_message(9, "only once", key="message-5") for _ in range(5))
    )
    await client.send_message(9, "only once", key="message-5")
    assert fake.texts_to(9) == ["only once"]
    assert len({r["message_id"] for r in results}) == 1
    assert client.was_sent("message-5")


async def test_an_unreachable_api_is_retried_then_reported(http) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = TelegramClient(
        http, f"http://127.0.0.1:{port}", "1:t", base_delay=0.01, max_attempts=2
    )
    with pytest.raises(ProviderUnavailable, match="connection failed"):
        await client.send_message(1, "hi")


def test_a_text_message_update_is_parsed() -> None:
    update = parse_update(
        {
            "update_id": 10,
            "message": {
                "message_id": 1,
                "chat": {"id": 555, "type": "private"},
                "from": {"id": 555, "first_name": "Alex"},
                "text": "hi",
            },
        }
    )
    assert update is not None
    assert (update.update_id, update.chat_id, update.text, update.payload) == (10, 555, "hi", None)
    assert update.client_message_id == "telegram-update-10"


def test_a_pressed_button_is_parsed_with_its_title() -> None:
    update = parse_update(
        {
            "update_id": 11,
            "callback_query": {
                "id": "cb-1",
                "data": "/human_handoff",
                "from": {"id": 555},
                "message": {
                    "message_id": 3,
                    "chat": {"id": 555},
                    "text": "Shall I connect you?",
                    "reply_markup": {
                        "inline_keyboard": [
                            [{"text": "Yes, connect me", "callback_data": "/human_handoff"}]
                        ]
                    },
                },
            },
        }
    )
    assert update is not None
    assert (update.text, update.payload, update.callback_query_id) == (
        "Yes, connect me",
        "/human_handoff",
        "cb-1",
    )


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "text",
        {"message": {"chat": {"id": 1}}},
        {"update_id": "7"},
        {"update_id": True},
        {"update_id": -1},
        {"update_id": 5, "message": {"text": "x"}},
    ],
)
def test_malformed_updates_are_refused(body) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadRequest):
        parse_update(body)


def test_updates_the_channel_does_not_handle_are_ignored() -> None:
    assert (
        parse_update({"update_id": 12, "edited_message": {"chat": {"id": 1}, "text": "x"}}) is None
    )
    photo = parse_update({"update_id": 13, "message": {"chat": {"id": 1}, "photo": []}})
    assert photo is not None and photo.text is None


def test_secret_comparison() -> None:
    assert secret_matches("s3cret-Token_1", "s3cret-Token_1")
    assert not secret_matches("s3cret-Token_1", "s3cret-Token_2")
    assert not secret_matches("s3cret-Token_1", None)
    assert not secret_matches("s3cret-Token_1", "")
    assert not secret_matches("", "")
    assert not secret_matches("s3cret", "s3crét")


def test_buttons_that_do_not_fit_callback_data_are_left_out() -> None:
    keyboard = inline_keyboard(
        [
            {"title": "Yes", "payload": "/affirm"},
            {"title": "Long", "payload": "/inform" + "x" * 80},
            {"title": "", "payload": ""},
        ]
    )
    assert keyboard == [[{"text": "Yes", "callback_data": "/affirm"}]]
