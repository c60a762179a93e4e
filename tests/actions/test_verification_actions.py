"""Verification: email + order number (with the 3-strikes lock) and the shop sign-in token."""

from __future__ import annotations

import datetime as dt

import pytest
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet
from trackers import DOMAIN, form_tracker, responses, run, slot_events, texts, tracker

from actions.context import ActionContext
from actions.verification import ActionSessionStart, ValidateVerifyForm
from crm_connector import CrmSettings, issue_shop_token
from tests.crm_connector.factories import NOW, Sessions, delivered_order, make_customer

EMAIL = "anna.schmidt@example.com"


@pytest.fixture
def anna(sessions: Sessions) -> None:
    with sessions.begin() as s:
        anna = make_customer(s, "C0000001", email=EMAIL)
        delivered_order(s, anna, "10004217")
        ben = make_customer(s, "C0000002", email="ben@example.com", phone="+4915199999999")
        delivered_order(s, ben, "10009999")


async def verify(email: object, order: object, **slots: object):
    state = form_tracker("verify_form", {"email": email, "order_number": order},
                         slots=slots, requested_slot="order_number")
    return await run(ValidateVerifyForm(), state)


async def test_the_right_email_and_order_number_verify_the_customer(
    anna: None, context: ActionContext
) -> None:
    events, messages = await verify(" Anna.Schmidt@Example.COM ", "#10004217")

    assert slot_events(events) == {
        "email": EMAIL, "order_number": "10004217", "verified": True,
        "customer_id": "C0000001", "verification_failures": 0.0,
    }
    assert "confirmed it's you" in texts(messages)


@pytest.mark.parametrize(("email", "order"), [
    ("wrong@example.com", "10004217"),       # unknown email
    (EMAIL, "10009999"),                     # somebody else's order
    (EMAIL, "10000000"),                     # no such order
])
async def test_a_mismatch_clears_both_and_counts_a_failure(
    anna: None, context: ActionContext, email: str, order: str
) -> None:
    events, messages = await verify(email, order, verification_failures=1.0)

    assert events[-3:] == [SlotSet("email", None), SlotSet("order_number", None),
                           SlotSet("verification_failures", 2.0)]
    assert "verified" not in slot_events(events)
    assert responses(messages) == ["utter_verification_failed"]
    assert "C0000002" not in texts(messages)  # never says whose order it was


async def test_the_third_failure_locks_and_hands_over(anna: None, context: ActionContext) -> None:
    events, messages = await verify("wrong@example.com", "10004217", verification_failures=2.0)

    # The form ends unverified; the rules answer utter_verification_locked and hand over.
    assert events[-4:] == [SlotSet("verification_failures", 3.0), SlotSet("email", None),
                           SlotSet("order_number", None), SlotSet("requested_slot", None)]
    assert slot_events(events).get("verified") is None
    assert messages == []


async def test_once_locked_even_the_right_pair_does_not_verify(
    anna: None, context: ActionContext
) -> None:
    events, messages = await verify(EMAIL, "10004217", verification_failures=3.0)

    assert "verified" not in slot_events(events)
    assert SlotSet("requested_slot", None) in events
    assert messages == []


async def test_three_wrong_turns_in_a_row_lock(anna: None, context: ActionContext) -> None:
    failures = None
    for _ in range(3):
        events, messages = await verify("wrong@example.com", "10004217",
                                        verification_failures=failures)
        failures = slot_events(events)["verification_failures"]
    assert failures == 3.0
    assert SlotSet("requested_slot", None) in events and messages == []


@pytest.mark.parametrize(("slot", "value", "message"), [
    ("email", "anna at example", "doesn't look like an email"),
    ("order_number", "12", "doesn't look like one of our order numbers"),
])
async def test_malformed_values_are_refused_before_asking_the_database(
    down_context: ActionContext, slot: str, value: str, message: str
) -> None:
    state = form_tracker("verify_form", {slot: value}, requested_slot=slot)
    events, messages = await run(ValidateVerifyForm(), state)

    assert events == [SlotSet(slot, None)]
    assert message in texts(messages)


async def test_database_down_offers_a_person_and_ends_the_form(down_context: ActionContext) -> None:
    events, messages = await verify(EMAIL, "10004217")

    assert SlotSet("requested_slot", None) in events
    assert slot_events(events)["email"] is None and slot_events(events)["order_number"] is None
    assert "can't reach our order system" in texts(messages)
    assert responses(messages) == ["utter_offer_human"]


# -- shop token at session start ------------------------------------------------------------
def session_start_tracker(metadata: dict | None, **slots: object):
    state = tracker(slots={"session_started_metadata": metadata, **slots},
                    latest_user_event=False)
    return state


async def test_a_valid_shop_token_verifies_at_session_start(
    anna: None, context: ActionContext, crm_settings: CrmSettings
) -> None:
    token = issue_shop_token(crm_settings, "C0000001", now=NOW - dt.timedelta(minutes=5))
    events, messages = await run(ActionSessionStart(),
                                 session_start_tracker({"shop_token": token}))

    assert events[0] == SessionStarted()
    assert events[-1] == ActionExecuted("action_listen")
    assert SlotSet("verified", True) in events
    assert SlotSet("customer_id", "C0000001") in events
    assert messages == []


async def test_the_token_of_the_first_user_message_counts_too(
    anna: None, context: ActionContext, crm_settings: CrmSettings
) -> None:
    token = issue_shop_token(crm_settings, "C0000001", now=NOW)
    state = tracker("hi", "greet", metadata={"shop_token": token})
    events, _ = await run(ActionSessionStart(), state)
    assert SlotSet("customer_id", "C0000001") in events


async def test_an_expired_token_is_explained_and_does_not_verify(
    anna: None, context: ActionContext, crm_settings: CrmSettings
) -> None:
    token = issue_shop_token(crm_settings, "C0000001", now=NOW - dt.timedelta(hours=2))
    events, messages = await run(ActionSessionStart(),
                                 session_start_tracker({"shop_token": token}))

    assert "verified" not in slot_events(events)
    assert "expired" in texts(messages)
    assert "email address and an order number" in texts(messages)


@pytest.mark.parametrize("token", ["", "not-a-jwt", "x" * 10_000, 42, ["a"], {"sub": "C0000001"}])
async def test_junk_tokens_never_verify(anna: None, context: ActionContext, token: object) -> None:
    events, messages = await run(ActionSessionStart(), session_start_tracker({"shop_token": token}))
    assert events[0] == SessionStarted() and events[-1] == ActionExecuted("action_listen")
    assert "verified" not in slot_events(events)
    assert "Traceback" not in texts(messages)


async def test_a_forged_token_is_refused(
    anna: None, context: ActionContext, crm_settings: CrmSettings
) -> None:
    other_shop = CrmSettings(_env_file=None, shop_token_secret="another-shop-secret-32-bytes-long!")
    forged = issue_shop_token(other_shop, "C0000001", now=NOW)
    state = session_start_tracker({"shop_token": forged})
    events, messages = await run(ActionSessionStart(), state)
    assert "verified" not in slot_events(events)
    assert "signature" in texts(messages)


async def test_a_new_session_carries_slots_but_never_the_identity(
    down_context: ActionContext
) -> None:
    state = session_start_tracker(None, verified=True, customer_id="C0000001", email=EMAIL,
                                  order_number="10004217", verification_failures=2.0)
    events, messages = await run(ActionSessionStart(), state)

    carried = slot_events(events)
    assert carried == {"order_number": "10004217", "verification_failures": 2.0}
    assert messages == []


async def test_without_carry_over_only_the_failure_count_survives(
    down_context: ActionContext
) -> None:
    domain = {**DOMAIN, "session_config": {"carry_over_slots_to_new_session": False}}
    state = session_start_tracker(None, order_number="10004217", verification_failures=2.0)
    events, _ = await run(ActionSessionStart(), state, domain)
    assert slot_events(events) == {"verification_failures": 2.0}


async def test_session_start_survives_a_database_outage(down_context: ActionContext) -> None:
    events, messages = await run(ActionSessionStart(),
                                 session_start_tracker({"shop_token": "a.b.c"}))
    assert events[0] == SessionStarted() and events[-1] == ActionExecuted("action_listen")
    assert "Traceback" not in texts(messages)
