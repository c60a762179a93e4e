"""'Where is my order?': status, timeline, expected date, delays and lost parcels."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from rasa_sdk.events import SlotSet
from trackers import payloads, responses, run, slot_events, texts, tracker, verified_slots

from actions.context import ActionContext
from actions.common import DB_DOWN, SORRY
from actions.order_status import ActionCheckOrderStatus
from crm_connector import CrmSettings, ShipmentStatus
from tests.crm_connector.factories import (
    Sessions,
    days_ago,
    days_ahead,
    delivered_order,
    make_customer,
    make_order,
    make_shipment,
)

# NOW is Sun 22 Nov 2026, 12:00 UTC (13:00 in Berlin, the display time zone).


@pytest.fixture
def orders(sessions: Sessions) -> None:
    with sessions.begin() as s:
        anna = make_customer(s, "C0000001")
        in_transit = make_order(s, anna, "10004217", status="shipped", placed_at=days_ago(3))
        make_shipment(
            s, in_transit, status=ShipmentStatus.IN_TRANSIT, carrier="DHL",
            tracking_number="00340434161094042557", shipped_at=days_ago(2),
            estimated_delivery_at=days_ahead(3),
            events=[
                (days_ago(2), ShipmentStatus.IN_TRANSIT, "Leipzig", "Parcel handed to DHL"),
                (days_ago(1), ShipmentStatus.IN_TRANSIT, "Berlin", "Arrived at the parcel centre"),
            ],
        )
        late = make_order(s, anna, "10004218", status="shipped", placed_at=days_ago(9))
        make_shipment(
            s, late, status=ShipmentStatus.IN_TRANSIT, carrier="DPD", shipped_at=days_ago(8),
            estimated_delivery_at=days_ago(4),
            events=[(days_ago(6), ShipmentStatus.IN_TRANSIT, "Hamburg", "In transit")],
        )
        lost = make_order(s, anna, "10004219", status="shipped", placed_at=days_ago(20))
        make_shipment(
            s, lost, status=ShipmentStatus.LOST, carrier="GLS", tracking_number="GLS123",
            shipped_at=days_ago(19), estimated_delivery_at=days_ago(16),
            events=[(days_ago(12), ShipmentStatus.LOST, None, "Parcel could not be located")],
        )
        delivered_order(s, anna, "10004220")
        ben = make_customer(s, "C0000002", email="ben@example.com", phone="+4915199999999")
        other = make_order(s, ben, "10009999", status="shipped")
        make_shipment(s, other, status=ShipmentStatus.IN_TRANSIT, tracking_number="SECRET-TRK")


async def check(order_number: object | None, **slots: object):
    state = tracker("where is my order?", "order_status",
                    slots=verified_slots(order_number=order_number, **slots))
    return await run(ActionCheckOrderStatus(), state)


async def test_status_timeline_and_expected_date(orders: None, context: ActionContext) -> None:
    events, messages = await check("10004217")

    assert events == []
    [message] = messages
    text = message["text"]
    assert text.startswith("Order 10004217, placed Thu 19 Nov (€100.00): on its way.")
    assert "on its way with DHL (tracking 00340434161094042557)" in text
    # the timeline, oldest first, in Berlin time
    assert "• Fri 20 Nov, 13:00, Leipzig: Parcel handed to DHL" in text
    assert "• Sat 21 Nov, 13:00, Berlin: Arrived at the parcel centre" in text
    assert text.index("Leipzig") < text.index("Arrived at the parcel centre")
    assert "Expected delivery: Wed 25 Nov." in text
    assert "2026-11" not in text and "EUR" not in text  # no ISO dates, no "100.00 EUR"


async def test_a_delayed_parcel_is_explained_with_a_person_offered(
    orders: None, context: ActionContext
) -> None:
    _, [message] = await check("10004218")

    text = message["text"]
    assert "delayed" in text
    assert "Order 10004218 is late: DPD expected to deliver it on Wed 18 Nov" in text
    assert "Expected delivery: Wed 18 Nov (that day has passed)." in text
    assert payloads([message]) == ["/human_handoff"]


async def test_a_lost_parcel_is_explained_with_a_refund_offered(
    orders: None, context: ActionContext
) -> None:
    _, [message] = await check("10004219")

    text = message["text"]
    assert "lost by the carrier" in text
    assert "GLS reports the parcel of order 10004219 (tracking GLS123) as lost" in text
    assert "full refund" in text
    assert "Expected delivery" not in text
    assert payloads([message]) == ['/request_refund{"order_number":"10004219"}', "/human_handoff"]


async def test_a_delivered_order(orders: None, context: ActionContext) -> None:
    _, [message] = await check("10004220")
    assert "delivered on Tue 17 Nov by DHL" in message["text"]
    assert "Expected delivery" not in message["text"]


async def test_without_an_order_number_the_recent_orders_are_offered(
    orders: None, context: ActionContext
) -> None:
    events, [message] = await check(None)

    assert events == []
    assert "Which order" in message["text"]
    buttons = message["buttons"]
    assert [b["payload"] for b in buttons] == [
        '/order_status{"order_number":"10004217"}', '/order_status{"order_number":"10004220"}',
        '/order_status{"order_number":"10004218"}', '/order_status{"order_number":"10004219"}',
    ]
    assert buttons[0]["title"] == "10004217 · Thu 19 Nov · €100.00"
    assert "10009999" not in str(buttons)


async def test_somebody_elses_order_is_not_found(orders: None, context: ActionContext) -> None:
    events, messages = await check("10009999")

    assert events == [SlotSet("order_number", None)]
    assert "We could not find order 10009999" in texts(messages)
    assert "SECRET-TRK" not in str(messages)
    assert "10004217" in str(messages[-1]["buttons"])  # offers the customer's own orders


async def test_a_malformed_order_number_is_explained(orders: None, context: ActionContext) -> None:
    events, messages = await check("12")
    assert slot_events(events) == {"order_number": None}
    assert "doesn't look like one of our order numbers" in texts(messages)


async def test_a_customer_without_orders(sessions: Sessions, context: ActionContext) -> None:
    with sessions.begin() as s:
        make_customer(s, "C0000001")
    _, messages = await check(None)
    assert "can't find any orders" in texts(messages)


@pytest.mark.parametrize("slots", [
    {},                                                       # never verified
    {"verified": False, "customer_id": "C0000001"},
    {"verified": True, "customer_id": None},
    {"verified": "true", "customer_id": "C0000001"},          # not a bool
    {"verified": True, "customer_id": "'; DROP TABLE customer; --"},
])
async def test_unverified_customers_see_no_account_data(
    orders: None, context: ActionContext, slots: dict
) -> None:
    state = tracker("where is my order 10004217", "order_status",
                    slots={"order_number": "10004217", **slots})
    events, messages = await run(ActionCheckOrderStatus(), state)

    assert events == []
    assert "checked it's you" in texts(messages)
    assert "DHL" not in str(messages) and "00340434161094042557" not in str(messages)


async def test_database_down(down_context: ActionContext) -> None:
    _, messages = await check("10004217")
    assert texts(messages) == DB_DOWN == "I can't reach our order system right now."
    assert responses(messages) == ["utter_offer_human"]


async def test_an_unexpected_failure_is_logged_without_personal_data(
    orders: None, crm_settings: CrmSettings, make_context: Callable[..., ActionContext],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken_clock():
        raise RuntimeError("anna.schmidt@example.com broke it")

    make_context(crm_settings, clock=broken_clock)
    with caplog.at_level(logging.ERROR, logger="actions"):
        events, [message] = await check("10004217")

    assert events == []
    assert message["text"] == SORRY == ("Sorry, something went wrong on my side. "
                                        "Please try again in a moment.")
    [record] = [r for r in caplog.records if r.name == "actions.common"]
    logged = record.getMessage()
    assert "action_check_order_status" in logged and "conv-1" in logged and "RuntimeError" in logged
    assert "anna" not in caplog.text


async def test_a_loosely_typed_order_number_is_normalised(
    orders: None, context: ActionContext
) -> None:
    events, [message] = await check(" #10004217 ")
    assert events == [SlotSet("order_number", "10004217")]
    assert message["text"].startswith("Order 10004217")
