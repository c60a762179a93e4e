"""The agent inbox over HTTP and web sockets: login, the queue with waiting time, claim,
real-time replies the customer sees, internal notes the customer never sees, canned replies,
transfer, resolve with the rating request, the stored rating, hand back, and the profile."""

from __future__ import annotations

import asyncio
import html
import re
from typing import Any
from urllib.parse import quote, unquote, urlencode

from aiohttp.test_utils import TestClient

from analytics.schema import upgrade_analytics
from crm_connector import create_db_engine
from tests.web.conftest import PASSWORD, Chat, login, open_chat
from web import init_app
from web.gateway import APOLOGY, HANDOFF_PAYLOAD


async def queued_chat(client: TestClient, text: str = "my parcel is lost") -> Chat:
    """A customer whose conversation waits in the queue (the bot is down; they asked for a person)."""
    chat = await open_chat(client)
    await chat.say(text, "c-1")
    await chat.wait_for(lambda f: f["type"] == "message" and f["message"]["author"] == "system")
    await chat.say("Talk to a person", "c-2", payload=HANDOFF_PAYLOAD)
    await chat.wait_for(lambda f: f["type"] == "state" and f["state"] == "queued")
    return chat


async def post(browser: TestClient, csrf: str, path: str, body: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    return await browser.post(path, json=body or {}, headers={"X-CSRF-Token": csrf})


async def test_login_page_wrong_password_and_logout(client: TestClient, new_client) -> None:  # type: ignore[no-untyped-def]
    browser = await new_client()
    page = await browser.get("/login")
    assert page.status == 200 and 'name="csrf_token"' in await page.text()
    token = (await page.text()).split('name="csrf_token" value="')[1].split('"')[0]
    wrong = await browser.post("/login", data={"username": "agent", "password": "nope-nope-nope",
                                               "csrf_token": token}, allow_redirects=False)
    assert wrong.status == 401 and "Wrong user name or password" in await wrong.text()
    no_csrf = await browser.post("/login", data={"username": "agent", "password": "inbox-password-123"},
                                 allow_redirects=False)
    assert no_csrf.status == 403
    assert (await browser.get("/api/inbox/me")).status == 401
    redirect = await browser.get("/inbox", allow_redirects=False)
    assert redirect.status == 302 and redirect.headers["Location"] == "/login?next=/inbox"
    ok = await browser.post("/login", data={"username": "agent", "password": "inbox-password-123",
                                            "csrf_token": token}, allow_redirects=False)
    assert ok.status == 303 and ok.headers["Location"] == "/inbox"
    me = await (await browser.get("/api/inbox/me")).json()
    assert (me["username"], me["role"]) == ("agent", "agent") and me["csrf_token"]
    assert (await browser.get("/inbox")).status == 200
    assert (await browser.post("/logout", allow_redirects=False)).status == 403  # no CSRF token
    out = await browser.post("/logout", headers={"X-CSRF-Token": me["csrf_token"]}, allow_redirects=False)
    assert out.status == 303
    assert (await browser.get("/api/inbox/me")).status == 401


async def test_signing_in_returns_to_the_page_asked_for_and_nowhere_else(new_client) -> None:  # type: ignore[no-untyped-def]
    async def sign_in(path: str) -> str:
        browser = await new_client()
        page = await browser.get(path)
        form = await page.text()
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        target = html.unescape(re.search(r'name="next" value="([^"]*)"', form).group(1))
        ok = await browser.post("/login", data={"username": "manager", "password": PASSWORD,
                                                "csrf_token": token, "next": target},
                                allow_redirects=False)
        assert ok.status == 303
        return ok.headers["Location"]

    assert await sign_in("/dashboard/sales?days=7&freq=week") == "/dashboard/sales?days=7&freq=week"
    for elsewhere in ("https://evil.example.net/", "//evil.example.net/x", "/\\evil.example.net",
                      "javascript:alert(1)", "/inbox\r\nSet-Cookie: x=1", "dashboard"):
        assert await sign_in("/login?" + urlencode({"next": elsewhere})) == "/inbox", elsewhere
    # a quote in the address stays inside the hidden field (escaped), and is still this site
    back = await sign_in("/login?next=" + quote('/dashboard?x="><b>'))
    assert unquote(back) == '/dashboard?x="><b>'
    wrong = await (await new_client()).post("/login", data={"username": "x", "password": "y",
                                                            "next": "/dashboard"})
    assert wrong.status == 403 and 'name="next" value="/dashboard"' in await wrong.text()


async def test_the_whole_agent_flow(client: TestClient, agent_client) -> None:  # type: ignore[no-untyped-def]
    agent, csrf = await agent_client("agent")
    inbox = await agent.ws_connect("/ws/inbox")
    chat = await queued_chat(client)

    queue = (await (await agent.get("/api/inbox/conversations?view=queue")).json())["conversations"]
    assert len(queue) == 1
    row = queue[0]
    assert row["state"] == "queued" and row["handoff_reason"] == "bot_unavailable"
    assert row["handoff_reason_label"] == "bot unavailable"  # what the inbox shows
    assert "my parcel is lost" in row["summary"] and row["waiting_seconds"] >= 0
    cid = row["id"]

    claimed = await post(agent, csrf, f"/api/inbox/conversations/{cid}/claim")
    assert claimed.status == 200 and (await claimed.json())["conversation"]["state"] == "agent"
    assert (await chat.wait_for(lambda f: f["type"] == "state"))["state"] == "agent"
    mine = (await (await agent.get("/api/inbox/conversations?view=mine")).json())["conversations"]
    assert [c["id"] for c in mine] == [cid]

    # The customer writes; the agent's inbox socket gets it live.
    await chat.say("it was a birthday present", "c-3")
    while True:
        frame = await inbox.receive_json(timeout=10)
        if frame["type"] == "message" and frame["message"]["text"] == "it was a birthday present":
            break
    assert frame["conversation_id"] == cid and frame["message"]["internal"] is False

    reply = await post(agent, csrf, f"/api/inbox/conversations/{cid}/reply", {"text": "I'm on it <b>now</b>"})
    assert reply.status == 200
    seen = await chat.wait_for(lambda f: f["type"] == "message" and f["message"]["author"] == "agent")
    assert seen["message"]["text"] == "I'm on it <b>now</b>" and seen["message"]["agent_name"] == "Agent"

    note = await post(agent, csrf, f"/api/inbox/conversations/{cid}/note", {"text": "check DHL claim"})
    assert note.status == 200 and (await note.json())["message"]["internal"] is True
    detail = await (await agent.get(f"/api/inbox/conversations/{cid}")).json()
    assert [m["text"] for m in detail["messages"] if m["internal"]] == ["check DHL claim"]

    canned = (await (await agent.get("/api/inbox/canned")).json())["replies"]
    assert canned and {"id", "title", "text"} <= set(canned[0])
    agents = (await (await agent.get("/api/inbox/agents")).json())["agents"]
    other = next(a for a in agents if a["display_name"] == "Agent Two")

    moved = await post(agent, csrf, f"/api/inbox/conversations/{cid}/transfer", {"agent_id": other["id"]})
    assert (await moved.json())["conversation"]["assigned_agent"]["id"] == other["id"]
    again = await post(agent, csrf, f"/api/inbox/conversations/{cid}/reply", {"text": "still me?"})
    assert again.status == 409  # no longer the owner

    two, csrf2 = await agent_client("agent2")
    closed = await post(two, csrf2, f"/api/inbox/conversations/{cid}/resolve")
    assert (await closed.json())["conversation"]["state"] == "closed"
    await chat.wait_for(lambda f: f["type"] == "rating_request")
    late = await post(two, csrf2, f"/api/inbox/conversations/{cid}/reply", {"text": "late"})
    assert late.status == 409

    await chat.ws.send_json({"type": "rating", "score": 5, "comment": "Great help"})
    await chat.wait_for(lambda f: f["type"] == "rating_saved")
    done = (await (await two.get("/api/inbox/conversations?view=closed")).json())["conversations"]
    assert (done[0]["rating"], done[0]["rating_comment"]) == (5, "Great help")
    await chat.ws.send_json({"type": "rating", "score": 1})
    assert (await chat.wait_for(lambda f: f["type"] == "error"))["code"] == "state_conflict"

    # The customer never saw the internal note, live or in the history.
    history = await open_chat(client, {"conversation_token": chat.token})
    assert "check DHL claim" not in [m["text"] for m in history.history["messages"]]
    assert "check DHL claim" not in chat.texts("agent")
    await inbox.close()


async def test_claiming_twice_and_unknown_conversations(client: TestClient, agent_client) -> None:  # type: ignore[no-untyped-def]
    await queued_chat(client)
    one, csrf1 = await agent_client("agent")
    two, csrf2 = await agent_client("agent2")
    cid = (await (await one.get("/api/inbox/conversations")).json())["conversations"][0]["id"]
    first, second = await asyncio.gather(post(one, csrf1, f"/api/inbox/conversations/{cid}/claim"),
                                         post(two, csrf2, f"/api/inbox/conversations/{cid}/claim"))
    assert sorted([first.status, second.status]) == [200, 409]
    assert (await post(one, csrf1, "/api/inbox/conversations/999999/claim")).status == 404
    assert (await one.get("/api/inbox/conversations/abc")).status == 400
    assert (await one.get("/api/inbox/conversations?view=everything")).status == 400
    bad = await one.post(f"/api/inbox/conversations/{cid}/reply", data=b"{oops",
                         headers={"X-CSRF-Token": csrf1, "Content-Type": "application/json"})
    assert bad.status == 400
    huge = await post(one, csrf1, f"/api/inbox/conversations/{cid}/note", {"text": "x" * 5000})
    assert huge.status == 400
    assert (await post(one, csrf1, f"/api/inbox/conversations/{cid}/transfer", {"agent_id": "2"})).status == 400


async def test_hand_back_returns_the_conversation_to_the_bot(client: TestClient, agent_client) -> None:  # type: ignore[no-untyped-def]
    chat = await queued_chat(client)
    agent, csrf = await agent_client("agent")
    cid = (await (await agent.get("/api/inbox/conversations")).json())["conversations"][0]["id"]
    await post(agent, csrf, f"/api/inbox/conversations/{cid}/claim")
    back = await post(agent, csrf, f"/api/inbox/conversations/{cid}/handback")
    assert (await back.json())["conversation"]["state"] == "bot"
    await chat.wait_for(lambda f: f["type"] == "state" and f["state"] == "bot")
    assert (await post(agent, csrf, f"/api/inbox/conversations/{cid}/resolve")).status == 409


async def test_the_profile_of_an_anonymous_visitor_is_empty(client: TestClient, agent_client) -> None:  # type: ignore[no-untyped-def]
    await queued_chat(client)
    agent, _ = await agent_client("agent")
    cid = (await (await agent.get("/api/inbox/conversations")).json())["conversations"][0]["id"]
    profile = await (await agent.get(f"/api/inbox/conversations/{cid}/customer")).json()
    assert profile == {"customer": None, "orders": [], "refunds": [], "past_conversations": []}


async def test_only_managers_add_canned_replies(client: TestClient, agent_client) -> None:  # type: ignore[no-untyped-def]
    agent, csrf = await agent_client("agent")
    manager, mcsrf = await agent_client("manager")
    assert (await post(agent, csrf, "/api/inbox/canned", {"title": "T", "text": "x"})).status == 403
    created = await post(manager, mcsrf, "/api/inbox/canned", {"title": "Delay", "text": "Sorry for the delay."})
    assert created.status == 201
    titles = [r["title"] for r in (await (await agent.get("/api/inbox/canned")).json())["replies"]]
    assert "Delay" in titles


async def test_writing_after_resolve_reopens_with_the_bot(client: TestClient, agent_client) -> None:  # type: ignore[no-untyped-def]
    chat = await queued_chat(client)
    agent, csrf = await agent_client("agent")
    cid = (await (await agent.get("/api/inbox/conversations")).json())["conversations"][0]["id"]
    await post(agent, csrf, f"/api/inbox/conversations/{cid}/claim")
    await post(agent, csrf, f"/api/inbox/conversations/{cid}/resolve")
    await chat.wait_for(lambda f: f["type"] == "rating_request")
    # A reconnect before rating asks again.
    again = await open_chat(client, {"conversation_token": chat.token})
    assert again.history["state"] == "closed"
    assert (await again.ws.receive_json(timeout=10))["type"] == "rating_request"
    await chat.say("one more question", "c-9")
    await chat.wait_for(lambda f: f["type"] == "state" and f["state"] == "bot")
    detail = await (await agent.get(f"/api/inbox/conversations/{cid}")).json()
    assert detail["conversation"]["state"] == "bot"
    assert detail["messages"][-1]["text"] in ("one more question", APOLOGY)


async def test_every_page_links_the_icon_the_gateway_serves(  # type: ignore[no-untyped-def]
        aiohttp_client, web_crm, web_settings) -> None:
    """The real pages (not the test's stand-ins) name an icon that resolves, and the
    /favicon.ico browsers ask for regardless is served too, not a 404 in the console."""
    engine = create_db_engine(web_crm)
    upgrade_analytics(engine)  # the dashboard reads the analytics tables
    engine.dispose()
    browser = await aiohttp_client(init_app(web_settings, web_crm))  # the real static folder
    await login(browser, "manager")
    for page in ("/", "/login", "/inbox", "/dashboard"):
        response = await browser.get(page)
        assert response.status == 200, page
        link = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">',
                         await response.text())
        assert link, f"{page} links no icon"
        icon = await browser.get(link.group(1))
        assert icon.status == 200 and (await icon.text()).startswith("<svg"), page
    favicon = await browser.get("/favicon.ico")
    assert favicon.status == 200
    assert favicon.content_type == "image/svg+xml"
    assert (await favicon.text()).startswith("<svg")
