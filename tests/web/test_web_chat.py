"""The customer side of the gateway with the bot unreachable (nothing listens on its port):
every message is stored, acknowledged once, the customer gets the apology with the offer of a
person, and accepting it puts the conversation in the agents' queue. Bad frames lose nothing."""

from __future__ import annotations

import jwt
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from crm_connector import DeliveryState, create_db_engine, create_session_factory, read_transaction
from crm_connector.models import ConversationMessage, SupportConversation
from tests.web.conftest import SECRET, open_chat
from web.gateway import APOLOGY, HANDOFF_PAYLOAD, QUEUED_BY_GATEWAY


def stored_messages(client: TestClient) -> list[ConversationMessage]:
    from web.state import SESSIONS
    with read_transaction(client.server.app[SESSIONS]) as session:
        return list(session.scalars(select(ConversationMessage).order_by(ConversationMessage.id)))


async def test_a_new_conversation_starts_with_an_empty_history_in_state_bot(client: TestClient) -> None:
    chat = await open_chat(client)
    assert chat.history == {"type": "history", "messages": [], "state": "bot"}
    assert chat.conversation_id.startswith("web-")
    options = await (await client.post("/api/chat/sessions", json={})).json()
    assert options["allowed_link_hosts"] == ["example.com", "shop.example.com"]
    assert options["message_max_length"] == 2000


async def test_bot_down_message_is_stored_and_the_customer_gets_an_apology_and_an_offer(client: TestClient) -> None:
    chat = await open_chat(client)
    ack = await chat.say("where is my order 10000104?", "c-1")
    assert ack["type"] == "ack" and isinstance(ack["id"], int)
    apology = await chat.wait_for(lambda f: f["type"] == "message" and f["message"]["author"] == "system")
    assert apology["message"]["text"] == APOLOGY
    assert apology["message"]["buttons"] == [{"title": "Talk to a person", "payload": HANDOFF_PAYLOAD}]
    await chat.say("hello?", "c-2")
    messages = stored_messages(client)
    customer = [m for m in messages if m.author == "customer"]
    assert [m.text for m in customer] == ["where is my order 10000104?", "hello?"]
    assert {m.delivery_state for m in customer} == {DeliveryState.PENDING}
    assert [m.text for m in messages].count(APOLOGY) == 1  # once per outage, not per message


async def test_the_same_client_id_is_stored_once_and_acked_with_the_same_id(client: TestClient) -> None:
    chat = await open_chat(client)
    first = await chat.say("refund please", "dup-1")
    second = await chat.say("refund please", "dup-1")
    assert first["id"] == second["id"]
    assert [m.text for m in stored_messages(client) if m.author == "customer"] == ["refund please"]


async def test_accepting_a_person_while_the_bot_is_down_queues_the_conversation(client: TestClient) -> None:
    chat = await open_chat(client)
    await chat.say("my parcel never arrived", "c-1")
    await chat.wait_for(lambda f: f["type"] == "message" and f["message"]["author"] == "system")
    await chat.say("Talk to a person", "c-2", payload=HANDOFF_PAYLOAD)
    state = await chat.wait_for(lambda f: f["type"] == "state")
    assert state["state"] == "queued"
    note = await chat.wait_for(lambda f: f["type"] == "message" and f["message"]["text"] == QUEUED_BY_GATEWAY)
    assert note["message"]["author"] == "system"
    customer = [m for m in stored_messages(client) if m.author == "customer"]
    assert {m.delivery_state for m in customer} == {DeliveryState.HANDED_OVER}
    # While people own it, more messages are stored for the inbox and not sent to the bot.
    await chat.say("are you there?", "c-3")
    last = stored_messages(client)[-1]
    assert (last.text, last.delivery_state) == ("are you there?", DeliveryState.DELIVERED)


async def test_reconnecting_restores_the_history(client: TestClient) -> None:
    chat = await open_chat(client)
    await chat.say("first", "c-1")
    await chat.wait_for(lambda f: f["type"] == "message" and f["message"]["author"] == "system")
    await chat.ws.close()
    again = await open_chat(client, {"conversation_token": chat.token})
    assert again.conversation_id == chat.conversation_id
    texts = [(m["author"], m["text"]) for m in again.history["messages"]]
    assert texts == [("customer", "first"), ("system", APOLOGY)]
    assert again.history["messages"][0]["client_id"] == "c-1"


async def test_bad_frames_get_an_error_and_store_nothing(client: TestClient) -> None:
    chat = await open_chat(client)
    bad = ["not json", "[1, 2]", '{"type": "dance"}', '{"type": "message"}',
           '{"type": "message", "text": 42, "client_id": "x"}',
           '{"type": "message", "text": "   ", "client_id": "blank"}',
           '{"type": "rating", "score": 5}']
    for frame in bad:
        await chat.ws.send_str(frame)
        error = await chat.wait_for(lambda f: f["type"] == "error")
        assert error["code"] and error["message"]
    await chat.ws.send_bytes(b"\x00\x01")
    assert (await chat.wait_for(lambda f: f["type"] == "error"))["code"] == "bad_frame"
    huge = await chat.say("x" * 2001, "huge")
    assert huge["type"] == "error" and huge["code"] == "too_long"
    assert stored_messages(client) == []
    ok = await chat.say("still works", "ok")  # the socket survived all of it
    assert ok["type"] == "ack"


async def test_a_customer_can_never_read_another_conversation(client: TestClient) -> None:
    mine = await open_chat(client)
    other = await open_chat(client)
    await other.say("my secret address is ...", "o-1")
    forged = jwt.encode({"sub": other.conversation_id, "aud": "crmbot-conversation", "exp": 4102444800},
                        SECRET, algorithm="HS256")  # signed with the raw secret, not the derived key
    claims = jwt.decode(mine.token, options={"verify_signature": False})
    tampered = mine.token.split(".")
    for token in (forged, tampered[0] + "." + other.token.split(".")[1] + "." + tampered[2], "", "garbage"):
        response = await client.get(f"/ws/chat?token={token}")
        assert response.status == 401
    resumed = await client.post("/api/chat/sessions", json={"conversation_token": forged})
    data = await resumed.json()
    assert data["conversation_id"] not in (other.conversation_id, claims["sub"])
    assert data["resumed"] is False
    assert all(m["text"] != "my secret address is ..." for m in mine.history["messages"])


async def test_malformed_session_requests_are_refused(client: TestClient) -> None:
    for body, kind in ((b"{not json", "application/json"), (b"[1]", "application/json"),
                       (b'{"shop_token": 5}', "application/json")):
        response = await client.post("/api/chat/sessions", data=body, headers={"Content-Type": kind})
        assert response.status == 400
        assert (await response.json())["error"] == "bad_request"
    huge = await client.post("/api/chat/sessions", data=b"{" + b" " * 300_000 + b"}",
                             headers={"Content-Type": "application/json"})
    assert huge.status in (400, 413)


async def test_a_signed_in_shop_customer_is_linked_and_a_bad_token_is_ignored(client: TestClient,
                                                                                web_crm) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    from crm_connector import issue_shop_token, write_transaction
    from tests.crm_connector.factories import make_customer
    engine = create_db_engine(web_crm)
    with write_transaction(create_session_factory(engine)) as session:
        make_customer(session, "C0000777")
    engine.dispose()
    token = issue_shop_token(web_crm, "C0000777", now=dt.datetime.now(dt.UTC))
    response = await client.post("/api/chat/sessions", json={"shop_token": token})
    data = await response.json()
    assert data["shop_token_accepted"] is True
    bad = await (await client.post("/api/chat/sessions", json={"shop_token": token + "x"})).json()
    assert bad["shop_token_accepted"] is False
    from web.state import SESSIONS
    with read_transaction(client.server.app[SESSIONS]) as session:
        linked = session.scalars(select(SupportConversation).where(
            SupportConversation.sender_id == data["conversation_id"])).one()
        assert linked.customer is not None and linked.customer.public_id == "C0000777"


async def test_the_shop_page_and_static_files_are_served(client: TestClient) -> None:
    assert (await client.get("/")).status == 200
    assert "widget" in await (await client.get("/static/widget.js")).text()
    assert (await client.get("/static/../conftest.py")).status in (403, 404)
