"""Restart: the Rasa server stops in the middle of a conversation, the customer keeps writing
(gets the apology and the offer of a person, every message is stored), the server comes back,
and every customer message is answered by the bot; none is lost or answered twice.

The server that comes back is the session's `rasa_server`: another `rasa run` of the same model
on the same tracker store that has never seen this conversation, which is what a restarted
process is (and one model load less than starting a third server)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from crm_connector import CrmSettings, DeliveryState, read_transaction
from crm_connector.models import ConversationMessage, SupportConversation
from tests.support.rasa_server import RasaServer
from tests.support.stack import start_platform_rasa
from tests.web.conftest import make_web_settings, open_chat
from web import GATEWAY, init_app
from web.gateway import APOLOGY

pytestmark = pytest.mark.slow


def _customer_messages(e2e_sessions, sender: str) -> list[ConversationMessage]:  # type: ignore[no-untyped-def]
    with read_transaction(e2e_sessions) as session:
        conversation = session.scalars(select(SupportConversation).where(
            SupportConversation.sender_id == sender)).one()
        return list(session.scalars(select(ConversationMessage).where(
            ConversationMessage.conversation_id == conversation.id).order_by(ConversationMessage.id)))


async def test_messages_survive_a_rasa_restart(aiohttp_client, e2e_platform, e2e_crm: CrmSettings,  # type: ignore[no-untyped-def]
                                               e2e_model: Path, action_server: str, e2e_sessions,
                                               rasa_server: RasaServer, static_dir: Path,
                                               tmp_path: Path) -> None:
    first = await asyncio.to_thread(start_platform_rasa, e2e_platform, e2e_crm, e2e_model,
                                    tmp_path / "rasa-1", ready_timeout=600.0)
    try:
        settings = make_web_settings(first.url, rasa_timeout_seconds=5.0, rasa_request_timeout_seconds=300.0,
                                     redeliver_interval_seconds=0.5)
        client: TestClient = await aiohttp_client(init_app(settings, e2e_crm, static_dir=static_dir))
        chat = await open_chat(client)
        await chat.say("hello", "r-1")
        await chat.wait_for(lambda f: f["type"] == "message" and f["message"]["author"] == "bot", timeout=60)

        chat.seen.clear()  # (a slow first answer may have brought an apology already)
        await asyncio.to_thread(first.stop)
        during = ["where is my order?", "do you ship to Norway?", "thanks"]
        for i, text in enumerate(during, start=2):
            ack = await chat.say(text, f"r-{i}")
            assert ack["type"] == "ack"
        apology = await chat.wait_for(lambda f: f["type"] == "message" and f["message"]["author"] == "system",
                                      timeout=30)
        assert apology["message"]["text"] == APOLOGY
        stored = [m for m in _customer_messages(e2e_sessions, chat.conversation_id) if m.author == "customer"]
        assert [m.text for m in stored] == ["hello", *during]
        assert [m.delivery_state for m in stored[1:]] == [DeliveryState.PENDING] * 3

        assert rasa_server.process.poll() is None  # (started before this test by the fixture)
        client.server.app[GATEWAY].rasa.base_url = rasa_server.url  # back, on another port
        for _ in range(240):
            messages = _customer_messages(e2e_sessions, chat.conversation_id)
            if all(m.delivery_state != DeliveryState.PENDING for m in messages if m.author == "customer"):
                break
            await asyncio.sleep(0.5)
        messages = _customer_messages(e2e_sessions, chat.conversation_id)
        customer = [m for m in messages if m.author == "customer"]
        assert [m.text for m in customer] == ["hello", *during]  # none lost, none duplicated
        assert [m.delivery_state for m in customer] == [DeliveryState.DELIVERED] * 4
        # The bot's own record: each customer message reached it exactly once, in order, and
        # each got a bot answer before the next one.
        events = (await (await client.session.get(
            f"{rasa_server.url}/conversations/{chat.conversation_id}/tracker")).json())["events"]
        turns: list[tuple[str, int]] = []
        for event in events:
            if event["event"] == "user":
                turns.append((event.get("text"), 0))
            elif event["event"] == "bot" and turns:
                turns[-1] = (turns[-1][0], turns[-1][1] + 1)
        assert [text for text, _ in turns] == ["hello", *during]
        assert all(answers > 0 for _, answers in turns), turns
        late = [m for m in messages if m.author == "bot" and m.id > customer[-1].id]
        assert late, "the late answers are stored"
        # The customer sees them: a widget that reconnects (the test socket answered no pings
        # while the server was down, so the gateway may have closed it) gets them in the history.
        again = await open_chat(client, {"conversation_token": chat.token})
        shown = [m["id"] for m in again.history["messages"]]
        assert all(m.id in shown for m in late)
    finally:
        await asyncio.to_thread(first.stop)
