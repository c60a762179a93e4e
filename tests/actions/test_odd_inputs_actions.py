"""Odd input of any shape never crashes an action or leaks internals into a reply."""

from __future__ import annotations

import pytest
from rasa_sdk import Action
from trackers import form_tracker, run, tracker, verified_slots

from actions.addresses import ActionChangeAddress, ValidateAddressForm
from actions.cancellations import ActionCancelOrder, ValidateCancelForm
from actions.context import ActionContext
from actions.faq import ActionAnswerFaq
from actions.fallback import ActionDefaultFallback
from actions.handoff import ActionHandoff
from actions.order_status import ActionCheckOrderStatus
from actions.refunds import ActionSubmitRefund, ValidateRefundForm
from actions.verification import ActionSessionStart, ValidateVerifyForm
from tests.crm_connector.factories import delivered_order, make_customer

ODD = [
    "", "   ", "x" * 100_000, "🙂" * 40, "<script>alert('hi')</script>", "**bold** [link](x)",
    "'; DROP TABLE customer; --", "1 OR 1=1", "\x00\x1b[31m\u202e", "ｆｕｌｌ-width ７", "-20",
    None, 0, 12345, 3.5, True, ["10004217"], {"order_number": "10004217"},
]
IDS = [repr(v)[:20] for v in ODD]
#: What no reply may contain.
INTERNALS = ("Traceback", "sqlalchemy", "psycopg", "Exception", "Error:", "None", "C0000001 ")


@pytest.fixture
def anna(faq_context: ActionContext) -> None:
    """A customer with an order, in the SQLite database of ``faq_context``."""
    with faq_context.sessions.begin() as s:
        delivered_order(s, make_customer(s, "C0000001"), "10004217")


def assert_clean(events: list, messages: list) -> None:
    assert isinstance(events, list)
    for message in messages:
        text = message.get("text") or ""
        assert not any(marker in text for marker in INTERNALS), text
        assert len(text) < 5000


FORMS = [
    (ValidateVerifyForm(), "verify_form", ["email", "order_number"]),
    (ValidateRefundForm(), "refund_form", ["order_number", "refund_amount", "refund_reason"]),
    (ValidateCancelForm(), "cancel_form", ["order_number", "cancel_confirmed"]),
    (ValidateAddressForm(), "address_form", ["order_number", "new_address"]),
]


@pytest.mark.parametrize("value", ODD, ids=IDS)
async def test_form_validators(anna: None, faq_context: ActionContext, value: object) -> None:
    for validator, form, slots in FORMS:
        for name in slots:
            others = {"order_number": "10004217"} if name != "order_number" else {}
            state = form_tracker(form, {name: value}, slots=verified_slots(**others),
                                 requested_slot=name, text=str(value)[:1000])
            events, messages = await run(validator, state)
            assert_clean(events, messages)
            assert all(e["event"] == "slot" for e in events)


ACTIONS: list[Action] = [
    ActionCheckOrderStatus(), ActionSubmitRefund(), ActionCancelOrder(), ActionChangeAddress(),
    ActionAnswerFaq(), ActionDefaultFallback(), ActionHandoff(), ActionSessionStart(),
]


@pytest.mark.parametrize("value", ODD, ids=IDS)
async def test_actions_with_odd_text_and_slots(
    anna: None, faq_context: ActionContext, value: object
) -> None:
    text = value if isinstance(value, str) else ""
    slots = verified_slots(order_number=value, refund_amount=value, refund_reason=value,
                           cancel_confirmed=value, new_address=value, fallback_streak=value,
                           verification_failures=value,
                           session_started_metadata={"shop_token": value})
    for act in ACTIONS:
        state = tracker(text, "inform", slots=slots, metadata={"shop_token": value},
                        sender_id=f"odd-{act.name()}")
        events, messages = await run(act, state)
        assert_clean(events, messages)


@pytest.mark.parametrize("sender_id", ["", "🙂" * 200, "a\nb\x00c", "x" * 5000])
async def test_odd_conversation_ids(anna: None, faq_context: ActionContext, sender_id: str) -> None:
    for act in (ActionHandoff(), ActionSubmitRefund(), ActionCheckOrderStatus()):
        state = tracker("help", "human_handoff", sender_id=sender_id, slots=verified_slots(
            order_number="10004217", refund_amount="1.00", refund_reason="odd"))
        events, messages = await run(act, state)
        assert_clean(events, messages)
