"""Cancelling an order: refused once shipped (with the reason), done before shipping."""

from __future__ import annotations

import pytest
from rasa_sdk.events import SlotSet
from sqlalchemy import select
from trackers import form_tracker, payloads, run, slot_events, texts, tracker, verified_slots

from actions.cancellations import ActionCancelOrder, ValidateCancelForm
from actions.context import ActionContext
from crm_connector import OrderStatus, ShipmentStatus
from crm_connector.models import Refund, SalesOrder
from tests.crm_connector.factories import (
    Sessions,
    days_ago,
    days_ahead,
    delivered_order,
    make_customer,
    make_order,
    make_shipment,
)


#: The orders of the ``finished_orders`` fixture (tests/actions/conftest.py).
FINISHED = ("10004230", "10004231", "10004232", "C536379")


@pytest.fixture
def orders(sessions: Sessions) -> None:
    with sessions.begin() as s:
        anna = make_customer(s, "C0000001")
        make_order(s, anna, "10004217", status=OrderStatus.PAID, placed_at=days_ago(1))
        shipped = make_order(s, anna, "10004218", status=OrderStatus.SHIPPED)
        make_shipment(s, shipped, status=ShipmentStatus.IN_TRANSIT, carrier="DHL",
                      tracking_number="0034TRACK", shipped_at=days_ago(2),
                      estimated_delivery_at=days_ahead(1))
        delivered_order(s, anna, "10004219")


def order_status(sessions: Sessions, number: str) -> OrderStatus:
    with sessions() as s:
        return s.scalars(select(SalesOrder.status).where(SalesOrder.number == number)).one()


async def validate(candidates: dict, requested: str = "order_number", **slots: object):
    state = form_tracker("cancel_form", candidates, slots=verified_slots(**slots),
                         requested_slot=requested)
    return await run(ValidateCancelForm(), state)


async def test_a_shipped_order_is_refused_with_the_reason(
    orders: None, context: ActionContext
) -> None:
    events, messages = await validate({"order_number": "10004218"})

    assert slot_events(events) == {"order_number": None, "cancel_confirmed": None,
                                   "requested_slot": None}
    assert texts(messages) == (
        "Order 10004218 has already shipped with DHL on Fri 20 Nov (tracking 0034TRACK), so it "
        "can no longer be cancelled. Once it arrives you can return it for a refund.")
    assert payloads(messages) == ['/order_status{"order_number":"10004218"}']


async def test_a_delivered_order_points_to_a_refund(orders: None, context: ActionContext) -> None:
    _, messages = await validate({"order_number": "10004219"})
    assert texts(messages) == ("Order 10004219 was already delivered on Tue 17 Nov, so it can no "
                               "longer be cancelled. You can ask for a refund instead.")


@pytest.mark.parametrize("number", ["10004218", "10004219", *FINISHED])
async def test_the_form_refuses_exactly_as_the_cancellation_would(
    finished_orders: None, sessions: Sessions, context: ActionContext, number: str
) -> None:
    before = order_status(sessions, number)
    events, form_messages = await validate({"order_number": number})
    assert slot_events(events)["requested_slot"] is None  # the form ends

    state = tracker("yes", "affirm", slots=verified_slots(order_number=number,
                                                          cancel_confirmed=True))
    _, action_messages = await run(ActionCancelOrder(), state)
    assert texts(form_messages) == texts(action_messages)
    assert f"{number} " in texts(form_messages)
    assert order_status(sessions, number) == before


async def test_a_cancelled_order_says_when(finished_orders: None, context: ActionContext) -> None:
    _, messages = await validate({"order_number": "10004230"})
    assert texts(messages) == "Order 10004230 was already cancelled on Fri 20 Nov."
    assert payloads(messages) == []


async def test_a_parcel_with_the_carrier_offers_its_status(
    finished_orders: None, context: ActionContext
) -> None:
    _, messages = await validate({"order_number": "10004232"})
    assert "has already shipped with DHL on Sat 21 Nov" in texts(messages)
    assert payloads(messages) == ['/order_status{"order_number":"10004232"}']


async def test_the_service_refuses_a_shipped_order_even_without_the_form(
    orders: None, sessions: Sessions, context: ActionContext
) -> None:
    state = tracker("yes", "affirm", slots=verified_slots(order_number="10004218",
                                                          cancel_confirmed=True))
    events, messages = await run(ActionCancelOrder(), state)

    assert "has already shipped with DHL on Fri 20 Nov (tracking 0034TRACK)" in texts(messages)
    assert events == [SlotSet("cancel_confirmed", None)]
    assert order_status(sessions, "10004218") == OrderStatus.SHIPPED


async def test_an_order_before_shipping_is_cancelled_and_refunded(
    orders: None, sessions: Sessions, context: ActionContext
) -> None:
    events, messages = await validate({"order_number": "10004217"})
    assert events == [SlotSet("order_number", "10004217")]
    assert texts(messages) == ("Order 10004217 from Sat 21 Nov (3 items, €100.00) "
                               "can still be cancelled.")

    events, messages = await validate({"cancel_confirmed": True}, "cancel_confirmed",
                                      order_number="10004217")
    assert events == [SlotSet("cancel_confirmed", True)]

    state = tracker("yes", "affirm", slots=verified_slots(order_number="10004217",
                                                          cancel_confirmed=True))
    events, messages = await run(ActionCancelOrder(), state)
    assert texts(messages) == ("Order 10004217 is cancelled. The €100.00 you paid will be "
                               "refunded (refund reference 10004217-R1).")
    assert events == [SlotSet("cancel_confirmed", None)]
    assert order_status(sessions, "10004217") == OrderStatus.CANCELLED
    with sessions() as s:
        assert s.scalars(select(Refund.amount_cents)).all() == [10000]

    # the same turn again: refused as already cancelled, no second refund
    _, messages = await run(ActionCancelOrder(), state)
    assert texts(messages) == "Order 10004217 was already cancelled on Sun 22 Nov."
    with sessions() as s:
        assert len(s.scalars(select(Refund)).all()) == 1


async def test_saying_no_keeps_the_order(
    orders: None, sessions: Sessions, context: ActionContext
) -> None:
    events, messages = await validate({"cancel_confirmed": False}, "cancel_confirmed",
                                      order_number="10004217")
    assert slot_events(events) == {"cancel_confirmed": False, "requested_slot": None}
    assert messages == []  # the form ends; the action (run by the rules) says so

    state = tracker("no", "deny", slots=verified_slots(order_number="10004217",
                                                       cancel_confirmed=False))
    events, messages = await run(ActionCancelOrder(), state)
    assert texts(messages) == ("Alright, I haven't cancelled anything; "
                               "order 10004217 stays as it is.")
    assert events == [SlotSet("cancel_confirmed", None)]
    assert order_status(sessions, "10004217") == OrderStatus.PAID


async def test_nothing_happens_after_the_form_ended_early(
    orders: None, sessions: Sessions, context: ActionContext
) -> None:
    state = tracker("", None, slots=verified_slots(order_number=None, cancel_confirmed=None))
    events, messages = await run(ActionCancelOrder(), state)
    assert events == [] and messages == []


async def test_yes_to_continue_does_not_confirm_a_cancellation(
    orders: None, sessions: Sessions, context: ActionContext
) -> None:
    state = form_tracker("cancel_form", {"cancel_confirmed": True},
                         slots=verified_slots(order_number="10004217"),
                         requested_slot="cancel_confirmed", text="yes",
                         bot_said="utter_ask_continue")
    events, messages = await run(ValidateCancelForm(), state)
    assert events == [SlotSet("cancel_confirmed", None)] and messages == []


async def test_an_unclear_confirmation_is_asked_again(orders: None, context: ActionContext) -> None:
    events, _ = await validate({"cancel_confirmed": "maybe later"}, "cancel_confirmed",
                               order_number="10004217")
    assert events == [SlotSet("cancel_confirmed", None)]


async def test_unverified_conversations_cancel_nothing(
    orders: None, sessions: Sessions, context: ActionContext
) -> None:
    state = tracker("yes", "affirm", slots={"order_number": "10004217", "cancel_confirmed": True})
    _, messages = await run(ActionCancelOrder(), state)
    assert "checked it's you" in texts(messages)
    assert order_status(sessions, "10004217") == OrderStatus.PAID
