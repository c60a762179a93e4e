"""Changing the delivery address: parsing the typed address, refusals, the change itself."""

from __future__ import annotations

import pytest
from rasa_sdk.events import SlotSet
from sqlalchemy import select
from trackers import form_tracker, run, slot_events, texts, tracker, verified_slots

from actions.addresses import (
    NO_COUNTRY,
    UNREADABLE,
    ActionChangeAddress,
    AddressUnreadable,
    ValidateAddressForm,
    parse_address,
)
from actions.context import ActionContext
from crm_connector import NewAddress, OrderStatus, ShipmentStatus
from crm_connector.models import SalesOrder
from tests.crm_connector.factories import (
    Sessions,
    days_ago,
    make_address,
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
        home = make_address(s, anna)
        make_order(s, anna, "10004217", status=OrderStatus.PAID, address=home)
        shipped = make_order(s, anna, "10004218", status=OrderStatus.SHIPPED, address=home)
        make_shipment(s, shipped, status=ShipmentStatus.IN_TRANSIT, carrier="DHL",
                      tracking_number="0034TRACK", shipped_at=days_ago(1))


@pytest.mark.parametrize(("typed", "expected"), [
    ("12 Main Street, 10115 Berlin, Germany",
     NewAddress(line1="12 Main Street", city="Berlin", postal_code="10115", country="Germany")),
    ("Flat 2, 12 Main Street, 10115 Berlin, Germany",
     NewAddress(line1="Flat 2", line2="12 Main Street", city="Berlin", postal_code="10115",
                country="Germany")),
    ("12 Main Street, Berlin 10115, Germany",
     NewAddress(line1="12 Main Street", city="Berlin", postal_code="10115", country="Germany")),
    ("12 Main Street, 10115, Berlin, Germany",
     NewAddress(line1="12 Main Street", city="Berlin", postal_code="10115", country="Germany")),
    ("12 Main Street\n10115 Berlin\nGermany",
     NewAddress(line1="12 Main Street", city="Berlin", postal_code="10115", country="Germany")),
    ("Keizersgracht 1, 1012 ab Amsterdam, Netherlands",
     NewAddress(line1="Keizersgracht 1", city="Amsterdam", postal_code="1012 AB",
                country="Netherlands")),
    ("ul. Marszalkowska 1, 00-950 Warszawa, Poland",
     NewAddress(line1="ul. Marszalkowska 1", city="Warszawa", postal_code="00-950",
                country="Poland")),
    ("Ring 3,  1010   Wien , Österreich",
     NewAddress(line1="Ring 3", city="Wien", postal_code="1010", country="Österreich")),
])
def test_addresses_are_parsed(typed: str, expected: NewAddress) -> None:
    assert parse_address(typed) == expected


@pytest.mark.parametrize(("typed", "message"), [
    ("12 Main Street, 10115 Berlin", NO_COUNTRY),
    ("next to the church", UNREADABLE),
    ("12 Main Street, Berlin, Germany", UNREADABLE),   # no postal code
    ("", UNREADABLE), (None, UNREADABLE), (42, UNREADABLE),
    ("<b>12 Main Street</b>, 10115 Berlin, Germany", UNREADABLE),
    ("1 Main St, 10115 Berlin, Germany'; DROP TABLE address; --", UNREADABLE),
    ("a, b, c, d, e, f", UNREADABLE),
    ("x" * 100_000, UNREADABLE),
    # read, but refused by crm_connector.validate_address (the rules the change applies)
    ("12 Main Street, Hinterhaus " + "x" * 200 + ", 10115 Berlin, Germany", UNREADABLE),
    ("Hauptstra" + "s" * 200 + "e 1, 10115 Berlin, Germany", UNREADABLE),
    ("12 Main Street, 10115 Berlin, D", UNREADABLE),
    ("12 Main Street, 10115 Berlin, " + "Germany" * 10, UNREADABLE),
])
def test_unreadable_addresses_say_how_to_write_one(typed: object, message: str) -> None:
    with pytest.raises(AddressUnreadable) as caught:
        parse_address(typed)
    assert str(caught.value) == message
    assert "12 Main Street, 10115 Berlin, Germany" in message


async def validate(candidates: dict, requested: str, **slots: object):
    state = form_tracker("address_form", candidates, slots=verified_slots(**slots),
                         requested_slot=requested)
    return await run(ValidateAddressForm(), state)


async def test_the_address_changes(
    orders: None, sessions: Sessions, context: ActionContext
) -> None:
    events, messages = await validate({"order_number": "10004217"}, "order_number")
    assert events == [SlotSet("order_number", "10004217")] and messages == []

    events, messages = await validate({"new_address": "12 Main Street,10115 berlin , Germany"},
                                      "new_address", order_number="10004217")
    assert events == [SlotSet("new_address", "12 Main Street, 10115 berlin, Germany")]

    state = tracker("", None, slots=verified_slots(
        order_number="10004217", new_address="12 Main Street, 10115 berlin, Germany"))
    events, messages = await run(ActionChangeAddress(), state)
    assert texts(messages) == ("Done: order 10004217 will be delivered to 12 Main Street, "
                               "10115 berlin, Germany.")
    assert events == [SlotSet("new_address", None)]
    with sessions() as s:
        order = s.scalars(select(SalesOrder).where(SalesOrder.number == "10004217")).one()
        assert order.shipping_address.one_line() == "12 Main Street, 10115 berlin, Germany"

    _, messages = await run(ActionChangeAddress(), state)  # the same turn again
    assert texts(messages) == ("Order 10004217 already goes to "
                               "12 Main Street, 10115 berlin, Germany.")


async def test_an_unreadable_address_is_asked_again(orders: None, context: ActionContext) -> None:
    events, messages = await validate({"new_address": "somewhere nice"}, "new_address",
                                      order_number="10004217")
    assert events == [SlotSet("new_address", None)]
    assert texts(messages) == UNREADABLE


async def test_a_shipped_order_cannot_be_redirected(
    orders: None, sessions: Sessions, context: ActionContext
) -> None:
    events, messages = await validate({"order_number": "10004218"}, "order_number")
    assert slot_events(events) == {"order_number": None, "new_address": None,
                                   "requested_slot": None}
    assert "has already shipped with DHL on Sat 21 Nov (tracking 0034TRACK)" in texts(messages)

    state = tracker("", None, slots=verified_slots(
        order_number="10004218", new_address="12 Main Street, 10115 Berlin, Germany"))
    events, messages = await run(ActionChangeAddress(), state)
    assert "can no longer be changed here" in texts(messages)
    assert events == [SlotSet("new_address", None)]


@pytest.mark.parametrize("number", ["10004218", *FINISHED])
async def test_the_form_refuses_exactly_as_the_change_would(
    finished_orders: None, sessions: Sessions, context: ActionContext, number: str
) -> None:
    events, form_messages = await validate({"order_number": number}, "order_number")
    assert slot_events(events) == {"order_number": None, "new_address": None,
                                   "requested_slot": None}

    state = tracker("", None, slots=verified_slots(
        order_number=number, new_address="12 Main Street, 10115 Berlin, Germany"))
    _, action_messages = await run(ActionChangeAddress(), state)
    assert texts(form_messages) == texts(action_messages)
    assert f"{number} " in texts(form_messages)
    with sessions() as s:
        order = s.scalars(select(SalesOrder).where(SalesOrder.number == number)).one()
        assert order.shipping_address is None or order.shipping_address.line1 != "12 Main Street"
