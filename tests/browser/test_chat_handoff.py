"""The whole front door in headless Chromium: a customer chats with the real bot on the shop
page, asks for a person; an agent signs in to the inbox, claims, replies; the customer sees the
reply; the agent resolves; the customer rates; the rating is in the database. Markup written by
the customer, the bot or the agent is shown as text and never runs."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect

from crm_connector import (
    create_db_engine,
    create_session_factory,
    find_conversation,
    find_customer_by_email,
    issue_shop_token,
    read_transaction,
)
from tests.support.live_gateway import AGENT_PASSWORD, LiveGateway

# The session's first use of the real assistant trains the production model (minutes).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

MARKUP = '<img src=x onerror="window.__pwned=1"><b>bold</b>'
ORDER_LINK = "https://northwind.example/orders/10000104"  # the shop page allows its own hosts
AGENT_REPLY = (
    f"Hi Alex, I'm Dana. Your parcel is delayed at the carrier. {MARKUP} "
    f"Track it here: {ORDER_LINK} (not https://evil.example.net/login)"
)


def conversation(gateway: LiveGateway, sender: str):  # type: ignore[no-untyped-def]
    engine = create_db_engine(gateway.crm)
    try:
        with read_transaction(create_session_factory(engine)) as session:
            return find_conversation(session, sender)
    finally:
        engine.dispose()


def widget_conversation_id(page: Page) -> str:
    return page.evaluate("""() => {
        for (const [key, value] of Object.entries(localStorage)) {
            if (key.startsWith('crmbot-chat:')) return JSON.parse(value).conversation_id;
        }
        return null;
    }""")


def train_lifetime_value(gateway: LiveGateway) -> None:
    """What `crmbot analytics refresh --only clv` does, into the folder the gateway's customer
    panel reads."""
    from analytics.clv import fit_clv

    engine = create_db_engine(gateway.crm)
    try:
        with read_transaction(create_session_factory(engine)) as session:
            fit_clv(session, gateway.analytics)
    finally:
        engine.dispose()


def shop_token_for(gateway: LiveGateway, email: str) -> str:
    """What the shop's back end does for a signed-in customer."""
    engine = create_db_engine(gateway.crm)
    try:
        with read_transaction(create_session_factory(engine)) as session:
            customer = find_customer_by_email(session, email)
    finally:
        engine.dispose()
    return issue_shop_token(gateway.crm, customer.public_id, now=dt.datetime.now(dt.UTC))


def test_customer_to_agent_handoff_and_rating(
    new_page, live_gateway: LiveGateway, screenshots
) -> None:  # type: ignore[no-untyped-def]
    # -- a signed-in shop customer chats with the bot ---------------------------------------
    shop = new_page((1280, 860))
    shop.goto(
        live_gateway.url + "/#shop_token=" + shop_token_for(live_gateway, "alex.morgan@example.com")
    )
    expect(shop.get_by_text("Signed in")).to_be_visible()
    shop.get_by_role("button", name="Open chat").click()
    chat = shop.get_by_role("dialog", name="Northwind help")
    messages = chat.get_by_role("log", name="Chat messages")
    box = chat.get_by_role("textbox", name="Your message")

    box.fill(f"hello {MARKUP}")
    box.press("Enter")
    own = messages.locator(".crm-from-customer").last
    expect(own).to_contain_text(f"hello {MARKUP}")
    expect(own).not_to_have_class(
        re.compile("crm-pending"), timeout=30_000
    )  # stored by the gateway
    bot_replies = messages.locator(".crm-from-bot:not(.crm-greeting)")
    expect(bot_replies.first).to_be_visible(timeout=60_000)

    box.fill("I want to talk to a person")
    box.press("Enter")
    expect(chat.get_by_text("Waiting for a colleague")).to_be_visible(timeout=60_000)
    sender = widget_conversation_id(shop)
    queued = conversation(live_gateway, sender)
    assert queued is not None and queued.status.value == "queued"
    shop.screenshot(path=str(screenshots / "widget-queued.png"))

    # -- an agent signs in, claims and replies ----------------------------------------------
    train_lifetime_value(live_gateway)
    inbox = new_page((1440, 900))
    inbox.goto(live_gateway.url + "/inbox")
    expect(inbox).to_have_url(re.compile(r"/login"))
    inbox.get_by_label("User name").fill(live_gateway.agent_username)
    inbox.get_by_label("Password").fill(AGENT_PASSWORD)
    inbox.get_by_role("button", name="Sign in").click()
    expect(inbox).to_have_url(re.compile(r"/inbox$"))
    expect(inbox.locator("#me")).to_contain_text("Dana Reyes")
    expect(inbox.locator("#live")).to_have_attribute("data-state", "online")

    item = inbox.locator(f'#conversation-list li[data-id="{queued.id}"]')
    expect(item).to_be_visible(timeout=15_000)
    expect(item.locator(".wait")).to_have_text(re.compile(r"^\d+(s|m \d\ds)$"))
    item.click()
    thread = inbox.get_by_role("log", name="Messages")
    # The customer's markup is text in the inbox too.
    expect(thread.locator(".from-customer").first).to_contain_text(f"hello {MARKUP}")
    expect(inbox.locator("#summary")).to_be_visible()
    expect(inbox.locator("#handoff-reason")).to_have_text("asked for a person")  # words, not a code
    profile = inbox.get_by_role("complementary", name="Customer profile")
    expect(profile).to_contain_text("Alex Morgan")  # the shop token named the customer
    expect(profile.locator("table.orders")).to_contain_text("10000104")
    # The lifetime-value model's expected spend, in the shop's currency.
    expect(profile.locator(".insight.wide")).to_have_text(
        re.compile(r"^Expected spend, next 12 months\s*€[\d,]+\.\d\d$"))
    # Recommendations fitted on the CRM (no model trained for them), each with its reason as an
    # agent reads it about the customer.
    recommended = profile.locator(".recs li")
    expect(recommended).to_have_count(5)
    expect(recommended.locator("small").first).to_have_text(
        re.compile(r"^(bought before|popular right now|often bought together with .+)$"))

    inbox.get_by_role("button", name="Claim").click()
    expect(inbox.locator("#chat-meta")).to_contain_text("With an agent")
    expect(chat.get_by_text("You're chatting with")).to_be_visible(timeout=15_000)

    inbox.locator(".composer-tabs").get_by_role("tab", name="Internal note").click()
    inbox.get_by_role("textbox", name="Internal note").fill("Checked the carrier: parcel delayed.")
    inbox.get_by_role("button", name="Add note").click()
    expect(thread.locator(".internal")).to_contain_text("Checked the carrier")

    inbox.locator(".composer-tabs").get_by_role("tab", name="Reply").click()
    inbox.get_by_role("textbox", name="Reply to the customer").fill(AGENT_REPLY)
    inbox.get_by_role("button", name="Send reply").click()
    expect(thread.locator(".from-agent").last).to_contain_text(AGENT_REPLY)

    # -- the customer sees the reply, as text --------------------------------------------------
    agent_message = messages.locator(".crm-from-agent").last
    expect(agent_message).to_contain_text(AGENT_REPLY, timeout=15_000)
    expect(agent_message.locator(".crm-author")).to_have_text("Dana Reyes")
    assert agent_message.locator("img, b").count() == 0
    link = agent_message.get_by_role("link")  # exactly one: the other URL is not allow-listed
    expect(link).to_have_attribute("href", ORDER_LINK)
    expect(messages).not_to_contain_text("Checked the carrier")  # internal notes stay internal
    shop.screenshot(path=str(screenshots / "widget-agent-reply.png"))
    inbox.screenshot(path=str(screenshots / "inbox-conversation.png"))

    # -- the agent resolves, the customer rates ----------------------------------------------
    inbox.get_by_role("button", name="Resolve").click()
    expect(inbox.locator("#chat-meta")).to_contain_text("Closed")
    rating = chat.get_by_role("group", name="Rate this conversation")
    expect(rating).to_be_visible(timeout=15_000)
    rating.get_by_role("button", name="4 stars").click()
    rating.get_by_role("textbox", name="Comment (optional)").fill("Quick and friendly <3")
    rating.get_by_role("button", name="Send rating").click()
    expect(chat.get_by_text("Thank you for your feedback!")).to_be_visible(timeout=15_000)
    shop.screenshot(path=str(screenshots / "widget-rated.png"))

    closed = conversation(live_gateway, sender)
    assert closed is not None
    assert (closed.status.value, closed.rating, closed.rating_comment) == (
        "closed",
        4,
        "Quick and friendly <3",
    )
    assert shop.evaluate("window.__pwned") is None
    assert inbox.evaluate("window.__pwned") is None
    assert shop.errors == [] and inbox.errors == []


def test_reload_restores_the_conversation(new_page, live_gateway: LiveGateway) -> None:  # type: ignore[no-untyped-def]
    page = new_page()
    page.goto(live_gateway.url + "/#chat=open")
    chat = page.get_by_role("dialog", name="Northwind help")
    box = chat.get_by_role("textbox", name="Your message")
    box.fill("do you ship to Norway?")
    box.press("Enter")
    messages = chat.get_by_role("log", name="Chat messages")
    first_answer = messages.locator(".crm-from-bot:not(.crm-greeting) .crm-bubble").first
    expect(first_answer).to_be_visible(timeout=60_000)
    answer = first_answer.inner_text()
    conversation_id = widget_conversation_id(page)

    page.reload()
    chat = page.get_by_role("dialog", name="Northwind help")
    messages = chat.get_by_role("log", name="Chat messages")
    expect(messages.locator(".crm-from-customer")).to_have_count(1)  # restored, not sent again
    expect(messages.locator(".crm-from-customer")).to_contain_text("do you ship to Norway?")
    expect(messages.locator(".crm-from-bot:not(.crm-greeting) .crm-bubble").first).to_have_text(
        answer
    )
    assert widget_conversation_id(page) == conversation_id
    assert page.errors == []
