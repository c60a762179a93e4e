"""Actors of the audit trail and the trail of an order."""

from __future__ import annotations

import pytest
from factories import (
    NOW,
    Sessions,
    make_customer,
    make_order,
)

from crm_connector import (
    InvalidInput,
    NewAddress,
    OrderNotFound,
    agent_actor,
    audit_trail_for_order,
    change_delivery_address,
    customer_actor,
    read_transaction,
    write_transaction,
)
from crm_connector.models import OrderStatus


def test_actor_helpers() -> None:
    assert customer_actor("C0000042") == "customer:C0000042"
    assert agent_actor(7) == "agent:7"
    with pytest.raises(InvalidInput):
        agent_actor(0)
    with pytest.raises(InvalidInput):
        customer_actor("anna@example.com")


@pytest.mark.parametrize(
    "actor", ["", "admin", "customer:", "agent:seven", "customer:C1 OR 1=1", "bot "]
)
def test_unknown_actor_is_refused_and_nothing_changes(sessions: Sessions, actor: str) -> None:
    with sessions.begin() as session:
        make_order(session, make_customer(session), "10000001", status=OrderStatus.PAID)
    address = NewAddress(line1="Gartenweg 5", city="Hamburg", postal_code="20095", country="DE")
    with write_transaction(sessions) as session, pytest.raises(InvalidInput, match="actor"):
        change_delivery_address(session, "C0000001", "10000001", address, actor=actor, now=NOW)
    with read_transaction(sessions) as session:
        assert audit_trail_for_order(session, "10000001") == ()


def test_trail_of_an_unknown_order(sessions: Sessions) -> None:
    with read_transaction(sessions) as session, pytest.raises(OrderNotFound):
        audit_trail_for_order(session, "404")
