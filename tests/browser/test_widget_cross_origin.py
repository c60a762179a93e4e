"""The widget embedded on another site, in headless Chromium: a partner shop's page (its own
origin, served by a second small aiohttp server) loads ``widget.js`` from the gateway.

With the shop's origin in ``WEB_WIDGET_ORIGINS`` the customer chats; with an origin that is not
listed the browser blocks the chat API (CORS), the widget shows that it cannot connect, and
nothing reaches the gateway. Rasa is not started here (training the model takes minutes): the
gateway's bot is down, so the answer the customer sees is the gateway's own apology with the
offer of a person, and the test also checks the stored messages in the database.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web as aioweb
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from crm_connector import (
    CrmSettings,
    conversation_history,
    create_db_engine,
    create_session_factory,
    find_conversation,
    read_transaction,
)
from crm_connector.models import SupportConversation
from tests.support.live_gateway import LoopThread
from tests.support.rasa_server import free_port
from tests.web.conftest import NO_RASA_URL
from web import WebSettings, init_app
from web.gateway import APOLOGY

pytestmark = pytest.mark.timeout(300)

PARTNER_PAGE = """<!doctype html><meta charset="utf-8"><title>Partner shop</title>
<h1>Partner shop</h1>
<script type="module" src="{gateway}/static/widget/widget.js" data-title="Partner help"
        data-open="true"></script>"""


@dataclass
class Sites:
    gateway: str  # the real web app
    allowed_shop: str  # a partner page whose origin is in WEB_WIDGET_ORIGINS
    other_shop: str  # a page on an origin that is not
    crm: CrmSettings


def partner_site(gateway: str) -> aioweb.Application:
    """A tiny site of its own that embeds the widget from the gateway's origin."""
    async def page(request: aioweb.Request) -> aioweb.Response:
        return aioweb.Response(text=PARTNER_PAGE.format(gateway=gateway), content_type="text/html")

    app = aioweb.Application()
    app.router.add_get("/", page)
    return app


@pytest.fixture(scope="module")
def sites(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    """The gateway on one loopback port, two partner pages on two others (three origins), all
    served from one event loop in a thread of their own."""
    database = tmp_path_factory.mktemp("cross-origin") / "crm.sqlite"
    shutil.copy(sqlite_template, database)
    crm = CrmSettings(database_url=f"sqlite:///{database}")
    gateway_port, allowed_port, other_port = free_port(), free_port(), free_port()
    while len({gateway_port, allowed_port, other_port}) < 3:
        other_port = free_port()
    gateway = f"http://127.0.0.1:{gateway_port}"
    allowed_shop = f"http://127.0.0.1:{allowed_port}"
    settings = WebSettings(
        session_secret=secrets.token_urlsafe(48),
        rasa_url=NO_RASA_URL,  # nobody listens: the bot is down
        rasa_timeout_seconds=2.0,
        widget_origins=[allowed_shop],
    )
    served = LoopThread("cross-origin-sites")
    stops = [served.serve(init_app(settings, crm), gateway_port),
             served.serve(partner_site(gateway), allowed_port),
             served.serve(partner_site(gateway), other_port)]
    try:
        yield Sites(gateway, allowed_shop, f"http://127.0.0.1:{other_port}", crm)
    finally:
        for stop in stops:
            stop()
        served.close()


def console_log(page: Page) -> list[str]:
    """Everything the page's console shows, the browser's own CORS reports included."""
    lines: list[str] = []
    page.on("console", lambda message: lines.append(f"{message.type}: {message.text}"))
    return lines


def widget_storage(page: Page, gateway: str) -> dict[str, Any]:
    """What the widget keeps in the partner page's localStorage (its key names the gateway)."""
    host = gateway.removeprefix("http://")
    return page.evaluate(f"JSON.parse(localStorage.getItem('crmbot-chat:{host}') || '{{}}')")


def conversation_count(crm: CrmSettings) -> int:
    engine = create_db_engine(crm)
    try:
        with read_transaction(create_session_factory(engine)) as session:
            return session.scalar(select(func.count()).select_from(SupportConversation)) or 0
    finally:
        engine.dispose()


def stored_texts(crm: CrmSettings, sender: str) -> list[tuple[str, str]]:
    engine = create_db_engine(crm)
    try:
        with read_transaction(create_session_factory(engine)) as session:
            conversation = find_conversation(session, sender)
            assert conversation is not None, f"no conversation {sender} in the database"
            return [(m.author, m.text) for m in conversation_history(session, conversation.id,
                                                                       include_internal=True)]
    finally:
        engine.dispose()


def test_an_allowed_partner_site_embeds_the_chat(new_page: Callable[..., Page], sites: Sites,
                                                 screenshots: Path) -> None:
    page = new_page((1280, 820))
    console = console_log(page)
    page.goto(sites.allowed_shop + "/")
    chat = page.get_by_role("dialog", name="Partner help")
    expect(chat).to_be_visible()
    expect(page.locator(".crm-root")).to_have_attribute("data-connection", "online",
                                                        timeout=15_000)

    box = chat.get_by_role("textbox", name="Your message")
    box.fill("Is my parcel 10000104 on its way?")
    box.press("Enter")
    messages = chat.get_by_role("log", name="Chat messages")
    # Acknowledged by the gateway over the web socket: no longer pending.
    expect(messages.locator(".crm-from-customer:not(.crm-pending) .crm-bubble")).to_have_text(
        "Is my parcel 10000104 on its way?", timeout=15_000)
    expect(messages.locator(".crm-from-system")).to_contain_text(APOLOGY, timeout=15_000)
    expect(chat.get_by_role("button", name="Talk to a person")).to_be_visible()
    page.screenshot(path=str(screenshots / "widget-cross-origin.png"))

    # The conversation token lives in the partner page's storage; no cookie anywhere.
    stored = widget_storage(page, sites.gateway)
    assert stored["conversation_token"] and stored["conversation_id"].startswith("web-")
    assert page.context.cookies() == []
    assert stored_texts(sites.crm, stored["conversation_id"]) == [
        ("customer", "Is my parcel 10000104 on its way?"), ("system", APOLOGY)]
    assert not [line for line in console if "CORS" in line], console
    assert page.errors == []


def test_a_site_that_is_not_allowed_gets_the_widget_but_no_chat(new_page: Callable[..., Page],
                                                                 sites: Sites) -> None:
    before = conversation_count(sites.crm)
    page = new_page((1280, 820))
    console = console_log(page)
    page.goto(sites.other_shop + "/")
    chat = page.get_by_role("dialog", name="Partner help")
    expect(chat).to_be_visible()  # the widget's files are public
    expect(chat.get_by_text("Connection lost. Reconnecting")).to_be_visible(timeout=15_000)
    expect(page.locator(".crm-root")).to_have_attribute("data-connection", "reconnecting")
    for _ in range(50):  # console events reach Python a moment after the page logged them
        if any("blocked by CORS policy" in line for line in console):
            break
        page.wait_for_timeout(100)
    blocked = [line for line in console if "blocked by CORS policy" in line]
    assert blocked, console
    assert f"{sites.gateway}/api/chat/sessions" in blocked[0]
    assert f"from origin '{sites.other_shop}'" in blocked[0]

    # What the customer writes waits in the outbox; nothing reaches the gateway.
    box = chat.get_by_role("textbox", name="Your message")
    box.fill("hello?")
    box.press("Enter")
    expect(chat.locator(".crm-pending .crm-bubble")).to_have_text("hello?")
    stored = widget_storage(page, sites.gateway)
    assert [item["text"] for item in stored["outbox"]] == ["hello?"]
    assert not stored.get("conversation_token")
    assert conversation_count(sites.crm) == before
    assert page.errors == []


def test_the_gateways_own_shop_page_still_chats(new_page: Callable[..., Page],
                                                sites: Sites) -> None:
    # Same origin: the browser sends the gateway's own Origin, which WEB_WIDGET_ORIGINS does not
    # list; the chat socket accepts it because it names the host the request was sent to.
    page = new_page((1280, 820))
    console = console_log(page)
    page.goto(sites.gateway + "/")
    page.get_by_role("button", name="Open chat").click()
    chat = page.get_by_role("dialog", name="Northwind help")
    expect(page.locator(".crm-root")).to_have_attribute("data-connection", "online",
                                                        timeout=15_000)
    box = chat.get_by_role("textbox", name="Your message")
    box.fill("hello from the shop itself")
    box.press("Enter")
    expect(chat.locator(".crm-from-customer:not(.crm-pending) .crm-bubble")).to_have_text(
        "hello from the shop itself", timeout=15_000)
    assert not [line for line in console if "CORS" in line], console
    assert page.errors == []
