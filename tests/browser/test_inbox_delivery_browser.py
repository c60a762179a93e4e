"""Delivery labels in the agent inbox, in headless Chromium: a Telegram customer (webhook calls
from the test to the real gateway; the fake Telegram Bot API on loopback) asks for a person; the
agent claims the conversation and replies; Telegram refuses the reply with 403 (the customer
blocked the bot). The inbox marks it "Not delivered" with the error code and a Retry button, also
after a reload; after Retry it is "Sending…" until Telegram answers, then delivered, and the
customer got it exactly once.

Rasa is not started (training the model takes minutes): the gateway's bot is down, so the
customer is answered with the gateway's apology and its "Talk to a person" button.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Page, expect

from crm_connector import (
    AgentRole,
    ChannelDeliveryState,
    CrmSettings,
    create_agent_user,
    create_db_engine,
    create_session_factory,
    delivery_states,
    find_conversation,
    read_transaction,
    write_transaction,
)
from tests.support.fake_telegram import FakeTelegram, button_update, text_update
from tests.support.live_gateway import AGENT_PASSWORD, LoopThread
from tests.support.rasa_server import free_port
from tests.web.conftest import make_web_settings
from web import init_app
from web.channels import WEBHOOK_PATH
from web.gateway import APOLOGY, HANDOFF_PAYLOAD, QUEUED_BY_GATEWAY

pytestmark = pytest.mark.timeout(300)

T = TypeVar("T")
SECRET = "telegram-browser-secret_1"
AGENT, AGENT_NAME = "dana", "Dana Reyes"
CHAT = 631
REPLY = "Your parcel left the warehouse today."
SENT_TEXT = f"{AGENT_NAME}: {REPLY}"  # what the customer reads in Telegram


@dataclass
class TelegramGateway:
    url: str
    crm: CrmSettings
    served: LoopThread
    telegram: FakeTelegram

    def on_telegram(self, work: Callable[[FakeTelegram], T]) -> T:
        return self.served.call(lambda: work(self.telegram))

    def webhook(self, update: dict[str, Any]) -> None:
        """What Telegram does with an update for the bot."""
        request = urllib.request.Request(
            self.url + WEBHOOK_PATH, data=json.dumps(update).encode(), method="POST",
            headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET})
        with urllib.request.urlopen(request, timeout=15) as response:
            assert response.status == 200

    def wait_for_texts(self, expected: list[str], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while (texts := self.on_telegram(lambda t: t.texts_to(CHAT))) != expected:
            if time.monotonic() > deadline:
                raise AssertionError(f"chat {CHAT} got {texts}, expected {expected}")
            time.sleep(0.05)


@pytest.fixture
def gateway(sqlite_template: Path, tmp_path: Path) -> Iterator[TelegramGateway]:
    """The real web app on a migrated SQLite file with one agent, Telegram pointed at the fake
    (both served from one loop in a thread) and Rasa down, not retried during the test."""
    database = tmp_path / "crm.sqlite"
    shutil.copy(sqlite_template, database)
    crm = CrmSettings(database_url=f"sqlite:///{database}")
    engine = create_db_engine(crm)
    with write_transaction(create_session_factory(engine)) as session:
        create_agent_user(session, AGENT, AGENT_PASSWORD, AgentRole.AGENT,
                          display_name=AGENT_NAME, now=dt.datetime.now(dt.UTC))
    engine.dispose()

    served = LoopThread("telegram-gateway")
    telegram = FakeTelegram()
    served.run(telegram.start())
    settings = make_web_settings(
        telegram_bot_token=telegram.token, telegram_secret=SECRET,
        telegram_api_url=telegram.url, redeliver_interval_seconds=600)
    port = free_port()
    stop = served.serve(init_app(settings, crm), port)
    try:
        yield TelegramGateway(f"http://127.0.0.1:{port}", crm, served, telegram)
    finally:
        stop()
        served.run(telegram.close())
        served.close()


def conversation_id(crm: CrmSettings, sender: str) -> int:
    engine = create_db_engine(crm)
    try:
        with read_transaction(create_session_factory(engine)) as session:
            conversation = find_conversation(session, sender)
            assert conversation is not None, f"no conversation {sender} in the database"
            return conversation.id
    finally:
        engine.dispose()


def delivery_state(crm: CrmSettings, message_id: int) -> ChannelDeliveryState:
    engine = create_db_engine(crm)
    try:
        with read_transaction(create_session_factory(engine)) as session:
            return delivery_states(session, [message_id])[message_id].state
    finally:
        engine.dispose()


def signed_in_inbox(inbox: Page, url: str) -> Page:
    inbox.goto(url + "/inbox")
    expect(inbox).to_have_url(re.compile(r"/login"))
    inbox.get_by_label("User name").fill(AGENT)
    inbox.get_by_label("Password").fill(AGENT_PASSWORD)
    inbox.get_by_role("button", name="Sign in").click()
    expect(inbox).to_have_url(re.compile(r"/inbox$"))
    expect(inbox.locator("#live")).to_have_attribute("data-state", "online")
    return inbox


def show_conversation(inbox: Page, tab: str, cid: int) -> None:
    inbox.get_by_role("tab", name=tab).click()
    inbox.locator(f'#conversation-list li[data-id="{cid}"]').click()
    expect(inbox.locator("#chat-body")).to_be_visible()


def test_the_agent_sends_a_refused_telegram_reply_again_from_the_inbox(
    new_page: Callable[..., Page], gateway: TelegramGateway, screenshots: Path
) -> None:
    # -- a Telegram customer asks for a person ------------------------------------------------
    gateway.webhook(text_update(CHAT, "where is my parcel?"))
    gateway.wait_for_texts([APOLOGY])
    gateway.webhook(button_update(CHAT, HANDOFF_PAYLOAD, "Talk to a person", APOLOGY))
    gateway.wait_for_texts([APOLOGY, QUEUED_BY_GATEWAY])
    cid = conversation_id(gateway.crm, f"telegram-{CHAT}")

    # -- the agent claims it and replies; Telegram refuses the reply -------------------------
    inbox = signed_in_inbox(new_page((1440, 900)), gateway.url)
    show_conversation(inbox, "Queue", cid)
    inbox.get_by_role("button", name="Claim").click()
    expect(inbox.locator("#chat-meta")).to_contain_text("With an agent")

    gateway.on_telegram(lambda t: t.fail_next(1, status=403))  # the customer blocked the bot
    inbox.get_by_role("textbox", name="Reply to the customer").fill(REPLY)
    inbox.get_by_role("button", name="Send reply").click()
    thread = inbox.get_by_role("log", name="Messages")
    reply = thread.locator(".from-agent").filter(has_text=REPLY)
    label = reply.locator(".msg-delivery")
    expect(label).to_have_attribute("data-state", "failed", timeout=15_000)  # told live

    # -- after a reload the inbox still says so ----------------------------------------------
    inbox.reload()
    expect(inbox.locator("#live")).to_have_attribute("data-state", "online")
    show_conversation(inbox, "Mine", cid)
    expect(label.locator("span")).to_have_text("Not delivered")
    expect(label).to_have_attribute("title", "provider_rejected_403")
    retry = reply.get_by_role("button", name="Retry")
    expect(retry).to_be_visible()
    expect(thread.locator(".msg-delivery")).to_have_count(1)  # the bot's two messages arrived
    inbox.screenshot(path=str(screenshots / "inbox-not-delivered.png"))
    data_id = reply.get_attribute("data-id")
    assert data_id is not None
    message_id = int(data_id)
    assert gateway.on_telegram(lambda t: [
        a.status for a in t.attempts_of("sendMessage") if a.params["text"] == SENT_TEXT]) == [403]
    assert delivery_state(gateway.crm, message_id) == ChannelDeliveryState.FAILED

    # -- Retry: sending (Telegram takes its time), then delivered, once -----------------------
    gateway.on_telegram(lambda t: t.hold_next(1))
    retry.click()
    expect(label.locator("span")).to_have_text("Sending…")
    expect(retry).to_have_count(0)
    gateway.on_telegram(lambda t: t.release())  # a 503: nothing was sent, tried again
    expect(label).to_have_count(0, timeout=15_000)
    gateway.wait_for_texts([APOLOGY, QUEUED_BY_GATEWAY, SENT_TEXT])
    assert gateway.on_telegram(lambda t: [
        a.status for a in t.attempts_of("sendMessage") if a.params["text"] == SENT_TEXT]) == [
        403, 0, 200]
    assert delivery_state(gateway.crm, message_id) == ChannelDeliveryState.SENT
    expect(thread.locator(".msg-delivery")).to_have_count(0)
    assert inbox.errors == []


def test_a_gateway_without_telegram_shows_the_refusal_but_offers_no_retry(
    new_page: Callable[..., Page], gateway: TelegramGateway,
) -> None:
    """The same database served by a gateway whose settings have no Telegram bot (say, the
    token was taken out): it cannot send the message again, so the inbox does not offer to."""
    gateway.on_telegram(lambda t: t.fail_next(1, status=403))  # the apology is refused
    gateway.webhook(text_update(CHAT, "where is my parcel?"))
    deadline = time.monotonic() + 15
    while 403 not in gateway.on_telegram(lambda t: [a.status for a in t.attempts_of("sendMessage")]):
        assert time.monotonic() < deadline, "the apology was never sent"
        time.sleep(0.05)
    gateway.webhook(button_update(CHAT, HANDOFF_PAYLOAD, "Talk to a person", APOLOGY))
    gateway.wait_for_texts([QUEUED_BY_GATEWAY])
    cid = conversation_id(gateway.crm, f"telegram-{CHAT}")
    without = gateway.served.serve(init_app(make_web_settings(redeliver_interval_seconds=600),
                                            gateway.crm), port := free_port())
    try:
        inbox = signed_in_inbox(new_page((1440, 900)), f"http://127.0.0.1:{port}")
        show_conversation(inbox, "Queue", cid)
        apology = inbox.get_by_role("log", name="Messages").locator(".msg").filter(
            has_text=APOLOGY)
        expect(apology.locator(".msg-delivery span")).to_have_text("Not delivered")
        expect(apology.get_by_role("button", name="Retry")).to_have_count(0)
        assert inbox.errors == []
    finally:
        without()
