"""Refunds: eligibility and amount checks in the form, and exactly-once submission."""

from __future__ import annotations

import asyncio

import pytest
from rasa_sdk.events import SlotSet
from sqlalchemy import func, select
from trackers import form_tracker, payloads, run, slot_events, texts, tracker, verified_slots

from actions.context import ActionContext
from actions.refunds import ActionSubmitRefund, ValidateRefundForm, parse_amount, refund_key
from crm_connector import OrderStatus, ShipmentStatus
from crm_connector.models import Refund, SalesOrder
from tests.crm_connector.factories import (
    Sessions,
    days_ago,
    delivered_order,
    make_customer,
    make_order,
    make_refund,
    make_shipment,
)


@pytest.fixture
def orders(sessions: Sessions) -> None:
    with sessions.begin() as s:
        anna = make_customer(s, "C0000001")
        delivered_order(s, anna, "10004217")                          # €100.00, 5 days ago
        delivered_order(s, anna, "10004218", delivered_at=days_ago(40))  # window closed
        on_its_way = make_order(s, anna, "10004219", status=OrderStatus.SHIPPED)
        make_shipment(s, on_its_way, status=ShipmentStatus.IN_TRANSIT, shipped_at=days_ago(1))
        make_order(s, anna, "10004220", status=OrderStatus.PAID)        # not shipped yet
        ben = make_customer(s, "C0000002", email="ben@example.com", phone="+4915199999999")
        delivered_order(s, ben, "10009999")


def refund_count(sessions: Sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(Refund))


async def validate(candidates: dict, requested: str = "order_number", **slots: object):
    state = form_tracker("refund_form", candidates, slots=verified_slots(**slots),
                         requested_slot=requested)
    return await run(ValidateRefundForm(), state)


# -- the form -------------------------------------------------------------------------------
async def test_an_eligible_order_states_the_most_that_can_be_refunded(
    orders: None, context: ActionContext
) -> None:
    events, messages = await validate({"order_number": "10004217"})
    assert events == [SlotSet("order_number", "10004217")]
    assert texts(messages) == "Order 10004217 can be refunded: up to €100.00."


@pytest.mark.parametrize(("order", "explanation"), [
    ("10004219", "Order 10004219 is still on its way. Once it has been delivered you can ask "
                 "for a refund within 30 days."),
    ("10004218", "The 30-day return window for order 10004218 closed on Thu 12 Nov, so it can "
                 "no longer be refunded."),
    ("10004220", "Order 10004220 has not shipped yet, so there is nothing to return. You can "
                 "cancel it instead, and the full amount will be refunded."),
])
async def test_a_refusal_is_explained_and_ends_the_form(
    orders: None, context: ActionContext, order: str, explanation: str
) -> None:
    events, messages = await validate({"order_number": order})

    assert slot_events(events) == {"order_number": None, "refund_amount": None,
                                   "refund_reason": None, "requested_slot": None}
    assert texts(messages) == explanation


async def test_an_order_that_has_not_shipped_suggests_cancelling(
    orders: None, context: ActionContext
) -> None:
    _, messages = await validate({"order_number": "10004220"})
    assert payloads(messages) == ['/cancel_order{"order_number":"10004220"}']


async def test_somebody_elses_order_is_not_found(orders: None, context: ActionContext) -> None:
    events, messages = await validate({"order_number": "10009999"})
    assert events == [SlotSet("order_number", None)]
    assert "We could not find order 10009999" in texts(messages)
    assert '/inform{"order_number":"10004217"}' in payloads(messages)


async def test_an_amount_above_the_refundable_maximum_is_refused(
    orders: None, context: ActionContext
) -> None:
    events, [message] = await validate({"refund_amount": "€500"}, "refund_amount",
                                       order_number="10004217")
    assert events == [SlotSet("refund_amount", None)]
    assert message["text"] == ("You asked for €500.00, but at most €100.00 can still be refunded "
                               "for order 10004217. How much would you like back?")
    assert payloads([message]) == ['/inform{"amount":"100.00"}']


async def test_the_maximum_accounts_for_earlier_refunds(
    orders: None, sessions: Sessions, context: ActionContext
) -> None:
    with sessions.begin() as s:
        order = s.scalars(select(SalesOrder).where(SalesOrder.number == "10004217")).one()
        make_refund(s, order, 7000, key="earlier")
    _, messages = await validate({"refund_amount": "40"}, "refund_amount", order_number="10004217")
    assert "at most €30.00" in texts(messages)


@pytest.mark.parametrize(("typed", "stored"), [
    ("€20", "20.00"), ("20,50", "20.50"), ("20.5 euros", "20.50"), ("all", "full"),
    ("the full amount", "full"), ("full", "full"),
])
async def test_amounts_are_parsed(
    orders: None, context: ActionContext, typed: str, stored: str
) -> None:
    events, messages = await validate({"refund_amount": typed}, "refund_amount",
                                      order_number="10004217")
    assert events == [SlotSet("refund_amount", stored)]
    assert messages == []


async def test_yes_to_continue_is_not_a_full_refund(orders: None, context: ActionContext) -> None:
    state = form_tracker("refund_form", {"refund_amount": "full"},
                         slots=verified_slots(order_number="10004217"),
                         requested_slot="refund_amount", text="yes",
                         bot_said="utter_ask_continue")
    events, messages = await run(ValidateRefundForm(), state)
    assert events == [SlotSet("refund_amount", None)] and messages == []


async def test_an_unreadable_amount_is_asked_again(orders: None, context: ActionContext) -> None:
    events, messages = await validate({"refund_amount": "a lot"}, "refund_amount",
                                      order_number="10004217")
    assert events == [SlotSet("refund_amount", None)]
    assert "€20 or 20,50" in texts(messages)


async def test_order_and_amount_in_one_message_are_checked_in_form_order(
    orders: None, context: ActionContext
) -> None:
    # The amount entity came first in the message; the order is still checked first, and its
    # refusal rejects the amount instead of validating it against an order that cannot be refunded.
    events, messages = await validate({"refund_amount": "20", "order_number": "10004219"})
    assert slot_events(events) == {"order_number": None, "refund_amount": None,
                                   "refund_reason": None, "requested_slot": None}
    assert len(messages) == 1 and "still on its way" in messages[0]["text"]


async def test_the_reason_is_cleaned_and_bounded(orders: None, context: ActionContext) -> None:
    events, _ = await validate({"refund_reason": "  it\x00 arrived\n\nbroken " + "!" * 1000},
                               "refund_reason", order_number="10004217", refund_amount="20.00")
    reason = slot_events(events)["refund_reason"]
    assert reason.startswith("it arrived broken !") and len(reason) == 500


async def test_a_form_of_an_unverified_customer_ends_at_once(
    orders: None, context: ActionContext
) -> None:
    state = form_tracker("refund_form", {"order_number": "10004217"}, requested_slot="order_number")
    events, messages = await run(ValidateRefundForm(), state)
    assert slot_events(events) == {"order_number": None, "requested_slot": None}
    assert "checked it's you" in texts(messages)
    assert "€100.00" not in texts(messages)


# -- submitting -----------------------------------------------------------------------------
def submit_tracker(amount: str = "20.50", sender_id: str = "conv-1", order: str = "10004217"):
    return tracker("it arrived broken", "inform", sender_id=sender_id, slots=verified_slots(
        order_number=order, refund_amount=amount, refund_reason="it arrived broken"))


async def test_a_refund_is_created_once_even_when_the_turn_runs_twice(
    orders: None, sessions: Sessions, context: ActionContext
) -> None:
    first_events, [first] = await run(ActionSubmitRefund(), submit_tracker())
    second_events, [second] = await run(ActionSubmitRefund(), submit_tracker())

    assert refund_count(sessions) == 1
    assert first["text"] == ("Done: I've requested a refund of €20.50 for order 10004217. "
                             "Your refund reference is 10004217-R1.")
    assert second["text"] == ("A refund of €20.50 for order 10004217 was already requested "
                              "(reference 10004217-R1); I haven't created a second one.")
    assert first_events == second_events == [SlotSet("refund_amount", None),
                                              SlotSet("refund_reason", None)]
    with sessions() as s:
        refund = s.scalars(select(Refund)).one()
        assert refund.amount_cents == 2050
        assert refund.requested_by == "customer:C0000001"
        assert refund.reason == "it arrived broken"


async def test_concurrent_runs_of_the_same_turn_create_one_refund(
    orders: None, sessions: Sessions, context: ActionContext
) -> None:
    results = await asyncio.gather(*(run(ActionSubmitRefund(), submit_tracker()) for _ in range(3)))
    assert refund_count(sessions) == 1
    assert all("10004217-R1" in texts(messages) for _, messages in results)


async def test_another_conversation_gets_its_own_refund(
    orders: None, sessions: Sessions, context: ActionContext
) -> None:
    await run(ActionSubmitRefund(), submit_tracker())
    _, messages = await run(ActionSubmitRefund(), submit_tracker(sender_id="conv-2"))
    assert "10004217-R2" in texts(messages)
    assert refund_count(sessions) == 2


async def test_a_full_refund(orders: None, sessions: Sessions, context: ActionContext) -> None:
    _, messages = await run(ActionSubmitRefund(), submit_tracker(amount="full"))
    assert "refund of €100.00" in texts(messages)


async def test_a_refusal_at_submission_is_explained_and_the_answers_reset(
    orders: None, sessions: Sessions, context: ActionContext
) -> None:
    await run(ActionSubmitRefund(), submit_tracker(amount="90.00"))
    events, messages = await run(ActionSubmitRefund(), submit_tracker(amount="20.00"))
    assert texts(messages) == ("You asked for €20.00, but at most €10.00 can still be refunded "
                               "for order 10004217.")
    assert slot_events(events) == {"refund_amount": None, "refund_reason": None}
    assert refund_count(sessions) == 1


async def test_nothing_is_submitted_after_the_form_ended_early(
    orders: None, sessions: Sessions, context: ActionContext
) -> None:
    state = tracker("", None, slots=verified_slots(order_number="10004219"))
    events, messages = await run(ActionSubmitRefund(), state)
    assert events == [] and messages == []
    assert refund_count(sessions) == 0


async def test_an_unverified_conversation_cannot_submit(
    orders: None, sessions: Sessions, context: ActionContext
) -> None:
    state = tracker("", None, slots={"order_number": "10004217", "refund_amount": "full",
                                     "customer_id": "C0000001"})
    _, messages = await run(ActionSubmitRefund(), state)
    assert "checked it's you" in texts(messages)
    assert refund_count(sessions) == 0


async def test_database_down_on_submit(down_context: ActionContext) -> None:
    events, messages = await run(ActionSubmitRefund(), submit_tracker())
    assert "can't reach our order system" in texts(messages)
    assert messages[-1]["response"] == "utter_offer_human"
    assert slot_events(events) == {"refund_amount": None, "refund_reason": None}


# -- pure helpers ---------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "cents"), [
    ("20", 2000), ("€20", 2000), ("20 €", 2000), ("EUR 20.50", 2050), ("20,50", 2050),
    ("20,5", 2050), ("1.234,56", 123456), ("1,234.56", 123456), ("1234.56", 123456),
    ("20 euros", 2000), (20, 2000), (20.5, 2050), ("all", "full"), ("everything", "full"),
    ("FULL", "full"), ("0", None), ("0,00", None), ("", None), ("lots", None),
    ("20 or 30", None), ("10004217", None), ("x" * 1000, None), (None, None), (True, None),
    (["20"], None), ("20.505", 2050500),  # a German thousands separator
])
def test_parse_amount(raw: object, cents: object) -> None:
    assert parse_amount(raw) == cents


def test_the_refund_key_names_conversation_order_and_amount() -> None:
    key = refund_key("conv-1", "10004217", 2050)
    assert key == refund_key("conv-1", "10004217", 2050)
    others = {refund_key("conv-2", "10004217", 2050), refund_key("conv-1", "10004218", 2050),
              refund_key("conv-1", "10004217", 2000), refund_key("conv-1", "10004217", "full")}
    assert key not in others and len(others) == 4
    assert key.isascii() and " " not in key and len(key) <= 128
    assert refund_key("ünïcødé 🙂 " * 50, "10004217", 1).isascii()
