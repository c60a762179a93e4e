"""Customers talk to the real Rasa server and action server over the REST channel.

Showcase data (crm_connector/demo/showcase.py): alex.morgan@example.com owns 10000101 (delivered
5 days ago, refundable), 10000103 (in transit), 10000106 (paid, not shipped); every reply that
shows account data is checked against the database.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

from sqlalchemy import func, select

from crm_connector import get_order_status, read_transaction
from crm_connector.models import Customer, Product, Refund, SalesOrder, SupportConversation

EMAIL = "alex.morgan@example.com"


def _verify(customer, request: str) -> str:  # type: ignore[no-untyped-def]
    """Ask for something that needs verification; answer the email question."""
    first = customer.say(request)
    assert "email" in first.lower(), customer.dump()
    return customer.say(f"my email is {EMAIL}")


def test_verify_then_order_status_matches_the_database(customer, e2e_sessions) -> None:  # type: ignore[no-untyped-def]
    alex = customer()
    reply = _verify(alex, "where is my order 10000103?")
    with read_transaction(e2e_sessions) as session:
        public_id = session.scalar(
            select(Customer.public_id).join(SalesOrder, SalesOrder.customer_id == Customer.id)
            .where(SalesOrder.number == "10000103")
        )
        status = get_order_status(session, public_id, "10000103", dt.datetime.now(dt.UTC))
    assert status.tracking_number and status.tracking_number in reply, alex.dump()
    assert "10000103" in reply, alex.dump()


def test_unverified_customer_sees_no_account_data(customer) -> None:  # type: ignore[no-untyped-def]
    stranger = customer()
    reply = stranger.say("where is my order 10000103?")
    assert "email" in reply.lower()
    reply = stranger.say("my email is someone.else@example.com")
    assert "don't match" in reply.lower() or "couldn't find" in reply.lower(), stranger.dump()
    assert "in transit" not in reply.lower()


def test_refund_is_created_once_and_visible_in_the_database(customer, e2e_sessions) -> None:  # type: ignore[no-untyped-def]
    def refunds() -> int:
        with read_transaction(e2e_sessions) as session:
            return session.scalar(
                select(func.count()).select_from(Refund).join(SalesOrder)
                .where(SalesOrder.number == "10000101")
            )

    before = refunds()
    alex = customer()
    _verify(alex, "I want a refund for order 10000101")
    alex.say("refund everything")
    reply = alex.say("it arrived damaged")
    assert refunds() == before + 1, alex.dump()
    assert "10000101-R" in reply or "refund" in reply.lower(), alex.dump()
    # Saying the same again in the same conversation does not refund twice.
    alex.say("it arrived damaged")
    assert refunds() == before + 1, alex.dump()


def test_cancelling_a_shipped_order_is_refused_with_the_reason(customer, e2e_sessions) -> None:  # type: ignore[no-untyped-def]
    alex = customer()
    reply = _verify(alex, "please cancel order 10000103")
    assert "shipped" in reply.lower() or "carrier" in reply.lower(), alex.dump()
    with read_transaction(e2e_sessions) as session:
        status = session.scalar(select(SalesOrder.status).where(SalesOrder.number == "10000103"))
    assert status.value == "shipped"


def test_faq_is_answered(customer) -> None:  # type: ignore[no-untyped-def]
    reply = customer().say("how long does delivery take?")
    assert "day" in reply.lower(), reply


def test_out_of_scope_question_gets_the_fallback(customer) -> None:  # type: ignore[no-untyped-def]
    reply = customer().say("what is the capital of Peru?")
    lowered = reply.lower()
    assert reply and ("rephrase" in lowered or "outside" in lowered or "can't help" in lowered
                      or "not sure" in lowered or "didn't" in lowered), reply


def test_declining_the_person_offered_after_two_misunderstood_messages(customer) -> None:  # type: ignore[no-untyped-def]
    """The fallback reverts each misunderstood message; its offer's "No thanks" still lands."""
    visitor = customer()
    first = visitor.say("/nlu_fallback")
    second = visitor.say("/nlu_fallback")
    assert "rephrase" in first.lower() or "other words" in first.lower(), visitor.dump()
    assert "[No thanks]" in second, visitor.dump()
    reply = visitor.say("/deny")
    assert "anything else" in reply.lower(), visitor.dump()
    assert visitor.tracker()["paused"] is False


def _catalogue_names(sessions) -> list[str]:  # type: ignore[no-untyped-def]
    with read_transaction(sessions) as session:
        return list(session.scalars(select(Product.name).where(Product.active.is_(True))))


def test_a_visitor_asking_for_suggestions_gets_catalogue_products(customer, e2e_sessions) -> None:  # type: ignore[no-untyped-def]
    visitor = customer()
    reply = visitor.say("what would you recommend?")
    names = _catalogue_names(e2e_sessions)
    assert any(name in reply for name in names), visitor.dump()
    assert "anything else" in reply.lower(), visitor.dump()


def test_a_verified_customer_asking_for_suggestions_gets_catalogue_products(  # type: ignore[no-untyped-def]
    customer, e2e_sessions
) -> None:
    alex = customer()
    _verify(alex, "where is my order 10000103?")
    reply = alex.say("any product suggestions for me?")
    assert any(name in reply for name in _catalogue_names(e2e_sessions)), alex.dump()
    assert "Traceback" not in reply


def test_asking_for_a_person_pauses_the_bot(customer, e2e_sessions) -> None:  # type: ignore[no-untyped-def]
    visitor = customer()
    reply = visitor.say("I want to talk to a real person")
    assert "colleague" in reply.lower() or "person" in reply.lower(), visitor.dump()
    assert visitor.tracker()["paused"] is True
    with read_transaction(e2e_sessions) as session:
        row = session.scalar(select(SupportConversation).where(SupportConversation.sender_id == visitor.sender))
        assert row is not None and row.status.value == "queued" and row.summary
    assert visitor.say("hello?") == ""


def test_any_chat_input_gets_a_sane_reply(customer) -> None:  # type: ignore[no-untyped-def]
    odd = ["", " ", "x" * 100_000, "😀🙈🚚📦", "<script>alert(1)</script><b>hi</b>",
           "'; DROP TABLE customer; --", "SELECT * FROM sales_order WHERE 1=1", "\u202e\u0000\t",
           "Где мой заказ?", "注文はどこですか"]
    for text in odd:
        visitor = customer()
        reply = visitor.say(text)  # an HTTP error would raise here
        if text.strip() and "\u0000" not in text:
            assert reply, f"no reply to {text[:40]!r}"
        assert "Traceback" not in reply and "Error" not in reply


def test_conversations_are_stored_in_the_sql_tracker_store(customer, e2e_crm) -> None:  # type: ignore[no-untyped-def]
    """Rasa keeps its trackers in the same embedded SQLite file as the CRM (bot/endpoints.yml)."""
    visitor = customer()
    visitor.say("hi")
    path = e2e_crm.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT type_name, intent_name, action_name FROM events WHERE sender_id = ?",
            (visitor.sender,),
        ).fetchall()
    assert ("user", "greet", None) in rows
    assert ("action", None, "utter_greet") in rows
