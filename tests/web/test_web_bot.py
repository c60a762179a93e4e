"""The gateway routing to the REAL Rasa server (shared ``rasa_server`` fixture, production
model, real action server), on the same CRM database ``e2e_crm``: the bot answers in the
widget, its handoff shows as a queued conversation with the summary in the inbox, the agent
takes over and the bot stays silent."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from crm_connector import (
    CrmSettings,
    DeliveryState,
    create_agent_user,
    find_customer_by_email,
    issue_shop_token,
    read_transaction,
    write_transaction,
)
from crm_connector.models import ConversationMessage, SupportConversation
from tests.web.conftest import PASSWORD, login, make_web_settings, open_chat
from web import init_app

pytestmark = pytest.mark.slow


@pytest.fixture
async def bot_client(aiohttp_client, rasa_server, e2e_crm: CrmSettings, static_dir: Path) -> TestClient:  # type: ignore[no-untyped-def]
    settings = make_web_settings(rasa_server.url, rasa_timeout_seconds=30.0)
    return await aiohttp_client(init_app(settings, e2e_crm, static_dir=static_dir))


def _messages(e2e_sessions, sender: str) -> list[ConversationMessage]:  # type: ignore[no-untyped-def]
    with read_transaction(e2e_sessions) as session:
        conversation = session.scalars(select(SupportConversation).where(
            SupportConversation.sender_id == sender)).one()
        return list(session.scalars(select(ConversationMessage).where(
            ConversationMessage.conversation_id == conversation.id).order_by(ConversationMessage.id)))


def _bot_reply(frame: dict) -> bool:  # type: ignore[type-arg]
    return frame["type"] == "message" and frame["message"]["author"] == "bot"


async def test_the_bot_answers_hands_off_and_an_agent_takes_over(
        bot_client: TestClient, aiohttp_client, e2e_sessions) -> None:  # type: ignore[no-untyped-def]
    chat = await open_chat(bot_client)
    await chat.say("hello", "m-1")
    greeting = await chat.wait_for(_bot_reply, timeout=60)
    assert greeting["message"]["text"]

    await chat.say("I want to talk to a person", "m-2")
    state = await chat.wait_for(lambda f: f["type"] == "state", timeout=60)
    assert state["state"] == "queued"
    # The bot's handoff reply is published before the state change.
    assert any("person" in t.lower() or "colleague" in t.lower() for t in chat.texts("bot")), chat.seen

    username = f"agent-{uuid.uuid4().hex[:8]}"
    with write_transaction(e2e_sessions) as session:
        create_agent_user(session, username, PASSWORD, "agent", now=dt.datetime.now(dt.UTC))
    agent = await aiohttp_client(bot_client.server)
    csrf = await login(agent, username)
    with read_transaction(e2e_sessions) as session:  # other tests share the database
        cid = session.scalar(select(SupportConversation.id).where(
            SupportConversation.sender_id == chat.conversation_id))
    queue = (await (await agent.get("/api/inbox/conversations?view=queue")).json())["conversations"]
    ours = next(c for c in queue if c["id"] == cid)
    assert ours["state"] == "queued" and ours["channel"] == "web"
    assert ours["handoff_reason"] == "human_handoff"
    assert ours["summary"].startswith("Handoff reason: asked for a person.")
    assert ours["handoff_reason_label"] == "asked for a person"
    detail = await (await agent.get(f"/api/inbox/conversations/{cid}")).json()
    assert "I want to talk to a person" in [m["text"] for m in detail["messages"]]

    assert (await agent.post(f"/api/inbox/conversations/{cid}/claim", json={},
                             headers={"X-CSRF-Token": csrf})).status == 200
    await chat.say("my order 10000104 is late", "m-3")
    await agent.post(f"/api/inbox/conversations/{cid}/reply", json={"text": "Let me check that for you."},
                     headers={"X-CSRF-Token": csrf})
    reply = await chat.wait_for(lambda f: f["type"] == "message" and f["message"]["author"] == "agent")
    assert reply["message"]["text"] == "Let me check that for you."

    messages = _messages(e2e_sessions, chat.conversation_id)
    customer = [m for m in messages if m.author == "customer"]
    assert [m.text for m in customer] == ["hello", "I want to talk to a person", "my order 10000104 is late"]
    assert [m.delivery_state for m in customer] == [DeliveryState.DELIVERED] * 3
    last_customer = customer[-1].id
    assert not [m for m in messages if m.author == "bot" and m.id > last_customer]  # the bot stayed silent


async def test_a_signed_in_shop_customer_skips_verification(bot_client: TestClient, e2e_crm: CrmSettings,
                                                            e2e_sessions) -> None:  # type: ignore[no-untyped-def]
    with read_transaction(e2e_sessions) as session:
        public_id = find_customer_by_email(session, "alex.morgan@example.com").public_id
    token = issue_shop_token(e2e_crm, public_id, now=dt.datetime.now(dt.UTC))
    chat = await open_chat(bot_client, {"shop_token": token})
    await chat.say("where is my order 10000104?", "s-1")
    answer = await chat.wait_for(_bot_reply, timeout=60)
    texts = [answer["message"]["text"]]
    assert any("10000104" in t for t in texts), texts
    assert not any("email" in t.lower() for t in texts), texts
