"""Handing over to a person: the reason, the summary and the customer the action passes to
``crm_connector.queue_conversation``, and the pause. How the queue treats a repeated, concurrent
or over-long conversation is tested with the service (tests/crm_connector/test_conversations.py).
"""

from __future__ import annotations

import datetime as dt

import pytest
from rasa_sdk.events import ConversationPaused
from sqlalchemy import select
from trackers import action, bot, responses, run, texts, tracker, turn, user, verified_slots

from actions.context import ActionContext
from actions.handoff import ActionHandoff
from actions.summary import redact
from crm_connector import handoff_reason_label
from crm_connector.models import Customer, SupportConversation
from tests.crm_connector.factories import NOW, Sessions, delivered_order, make_customer


@pytest.fixture
def anna(sessions: Sessions) -> None:
    with sessions.begin() as s:
        delivered_order(s, make_customer(s, "C0000001"), "10004217")


def conversation(sessions: Sessions, sender_id: str = "conv-1") -> SupportConversation:
    with sessions() as s:
        return s.scalars(
            select(SupportConversation).where(SupportConversation.sender_id == sender_id)
        ).one()


HISTORY = [
    *turn("hi, my email is anna.schmidt@example.com", "inform", "validate_verify_form"),
    *turn("call me on +49 151 1234 5678 please", "inform", "utter_anything_else"),
    *turn("where is order 10004217?", "order_status", "action_check_order_status"),
]


async def test_a_verified_customer_is_queued_with_a_summary(
    anna: None, sessions: Sessions, context: ActionContext
) -> None:
    state = tracker("I want to talk to a person", "human_handoff", history=HISTORY,
                    slots=verified_slots(order_number="10004217", email="anna.schmidt@example.com",
                                         refund_amount="20.00"))
    events, messages = await run(ActionHandoff(), state)

    assert events == [ConversationPaused()]
    assert responses(messages) == ["utter_handoff"]

    row = conversation(sessions)
    assert row.status == "queued"
    assert row.queued_at == NOW
    assert row.handoff_reason == "human_handoff"
    assert row.channel == "rest"
    with sessions() as s:
        anna_id = s.scalar(select(Customer.id).where(Customer.public_id == "C0000001"))
        assert row.customer_id == anna_id
    summary = row.summary
    assert "Handoff reason: asked for a person." in summary
    assert "Customer verified." in summary
    assert "Order: 10004217." in summary
    assert "Refund asked: 20.00 EUR." in summary
    assert "Recent intents: inform > inform > order_status > human_handoff." in summary
    assert '- "where is order 10004217?"' in summary
    assert '- "I want to talk to a person"' in summary
    assert "[email]" in summary and "[number]" in summary
    assert "anna.schmidt" not in summary and "5678" not in summary and "+49" not in summary
    assert len(summary) <= context.settings.handoff_summary_max_chars


async def test_an_unverified_conversation_is_queued_without_a_customer(
    anna: None, sessions: Sessions, context: ActionContext
) -> None:
    state = tracker("agent please", "human_handoff", slots={"customer_id": "C0000001"})
    events, _ = await run(ActionHandoff(), state)
    assert events == [ConversationPaused()]
    row = conversation(sessions)
    assert row.customer_id is None and "Customer not verified." in row.summary


@pytest.mark.parametrize(("text", "intent", "slots", "history", "reason"), [
    ("x", "inform", {"verification_failures": 3.0}, [], "verification_locked"),
    ("this is the worst service", "complaint", {}, [], "complaint"),
    ("yes", "human_handoff", {}, turn("awful!", "complaint", "utter_complaint"), "complaint"),
    ("yes please", "human_handoff", {"fallback_streak": 2.0},
     [user("qwrtz", "nlu_fallback"), action("action_default_fallback"), bot("?"),
      {"event": "rewind"}, action("action_listen")], "fallback"),
    ("yes", "affirm", {}, turn("hmm", "chitchat", "utter_offer_human"), "human_handoff"),
])
async def test_the_reason_is_recorded(
    anna: None, sessions: Sessions, context: ActionContext, text: str, intent: str,
    slots: dict, history: list, reason: str
) -> None:
    await run(ActionHandoff(), tracker(text, intent, slots=slots, history=history))
    assert conversation(sessions).handoff_reason == reason
    assert f"Handoff reason: {handoff_reason_label(reason)}." in conversation(sessions).summary


async def test_asking_again_pauses_again_with_the_newer_reason(
    anna: None, sessions: Sessions, context: ActionContext, make_context
) -> None:
    await run(ActionHandoff(), tracker("agent", "human_handoff"))
    make_context(context.crm, clock=lambda: NOW + dt.timedelta(minutes=5))
    events, messages = await run(ActionHandoff(), tracker("hello?? agent!", "complaint"))

    assert events == [ConversationPaused()]
    assert responses(messages) == ["utter_handoff"]
    assert conversation(sessions).handoff_reason == "complaint"


async def test_the_summary_is_bounded(
    anna: None, sessions: Sessions, context: ActionContext
) -> None:
    history = [event for i in range(30)
               for event in turn("🙂 " * 500 + f"message {i}", "chitchat", "utter_chitchat")]
    await run(ActionHandoff(), tracker("x" * 100_000, "human_handoff", history=history))
    summary = conversation(sessions).summary
    assert len(summary) <= context.settings.handoff_summary_max_chars
    assert summary.startswith("Handoff reason: asked for a person.")


async def test_the_queue_down_does_not_pause_the_bot(down_context: ActionContext) -> None:
    events, messages = await run(ActionHandoff(), tracker("agent", "human_handoff"))
    assert events == []
    assert "can't pass you to a colleague right now" in texts(messages)


@pytest.mark.parametrize(("text", "masked"), [
    ("mail me at a.b+c@d-e.example.org now", "mail me at [email] now"),
    ("my number is 0151 12345678", "my number is [number]"),
    ("ring +49 (0)30 1234567", "ring [number]"),
    ("IBAN DE89 3704 0044 0532 0130 00", "IBAN DE89 [number]"),
    ("orders 10004217 and 10004218", "orders 10004217 and 10004218"),
    ("order 10004217 10004218", "order 10004217 10004218"),
    ("invoice 536365, refund 20.50", "invoice 536365, refund 20.50"),
])
def test_redaction(text: str, masked: str) -> None:
    assert redact(text) == masked
