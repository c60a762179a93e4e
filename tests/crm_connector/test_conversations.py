"""Queueing a conversation for the agents: one row per sender id, its place in the queue, the
audit entry."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from factories import NOW, Sessions, days_ago, make_customer
from sqlalchemy import select

from crm_connector import (
    ConversationStatus,
    InvalidInput,
    QueuedConversation,
    queue_conversation,
    write_transaction,
)
from crm_connector.models import AuditLog, Customer, SupportConversation

LATER = NOW + dt.timedelta(minutes=5)


def _queue(
    sessions: Sessions, sender_id: str = "conv-1", *, reason: str = "human_handoff",
    summary: str = "Handoff reason: human_handoff.", customer: str | None = None,
    channel: str = "rest", now: dt.datetime = NOW,
) -> QueuedConversation:
    with write_transaction(sessions) as session:
        return queue_conversation(session, sender_id, channel, customer, reason, summary, now)


def _rows(sessions: Sessions) -> list[SupportConversation]:
    with sessions() as session:
        return list(session.scalars(select(SupportConversation)))


def _audit(sessions: Sessions) -> list[AuditLog]:
    with sessions() as session:
        return list(session.scalars(select(AuditLog).order_by(AuditLog.id)))


def _existing(sessions: Sessions, status: ConversationStatus, **fields: object) -> None:
    with sessions.begin() as session:
        session.add(SupportConversation(
            sender_id="conv-1", channel="web", status=status, handoff_reason="fallback",
            summary="earlier", created_at=days_ago(1), queued_at=days_ago(1),
            updated_at=days_ago(1), **fields,
        ))


def test_a_new_conversation_is_queued_for_the_customer(sessions: Sessions) -> None:
    with sessions.begin() as session:
        anna_id = make_customer(session, "C0000001").id

    queued = _queue(sessions, customer="C0000001")

    assert queued == QueuedConversation("conv-1", ConversationStatus.QUEUED, NOW,
                                        "human_handoff", newly_queued=True)
    [row] = _rows(sessions)
    assert (row.sender_id, row.status, row.channel, row.customer_id) == (
        "conv-1", ConversationStatus.QUEUED, "rest", anna_id)
    assert (row.queued_at, row.created_at, row.updated_at) == (NOW, NOW, NOW)
    assert row.summary == "Handoff reason: human_handoff."
    [audit] = _audit(sessions)
    assert (audit.actor, audit.action, audit.entity_type, audit.entity_id) == (
        "bot", "conversation.queued", "support_conversation", row.id)
    assert audit.before is None
    assert audit.after == {"status": "queued", "handoff_reason": "human_handoff"}


def test_a_queued_conversation_keeps_its_place_and_gets_the_newer_reason(
    sessions: Sessions,
) -> None:
    _queue(sessions)
    queued = _queue(sessions, reason="complaint", summary="newer", now=LATER)

    assert queued.queued_at == NOW and not queued.newly_queued
    [row] = _rows(sessions)
    assert (row.status, row.queued_at, row.updated_at) == (ConversationStatus.QUEUED, NOW, LATER)
    assert (row.handoff_reason, row.summary) == ("complaint", "newer")
    assert [a.after for a in _audit(sessions)] == [
        {"status": "queued", "handoff_reason": "human_handoff"},
        {"status": "queued", "handoff_reason": "complaint"},
    ]
    assert _audit(sessions)[1].before == {"status": "queued"}


@pytest.mark.parametrize("status", [ConversationStatus.BOT, ConversationStatus.CLOSED])
def test_a_conversation_with_the_bot_or_closed_is_queued_again(
    sessions: Sessions, status: ConversationStatus
) -> None:
    _existing(sessions, status, closed_at=days_ago(1) if status == "closed" else None)

    queued = _queue(sessions, reason="complaint", summary="newer")

    assert queued.status == ConversationStatus.QUEUED and queued.newly_queued
    [row] = _rows(sessions)
    assert (row.status, row.queued_at, row.closed_at) == (ConversationStatus.QUEUED, NOW, None)
    assert (row.handoff_reason, row.summary, row.channel) == ("complaint", "newer", "rest")
    [audit] = _audit(sessions)
    assert audit.before == {"status": status.value}
    assert audit.after == {"status": "queued", "handoff_reason": "complaint"}


def test_a_conversation_an_agent_has_stays_with_the_agent(sessions: Sessions) -> None:
    _existing(sessions, ConversationStatus.AGENT)

    queued = _queue(sessions, reason="complaint", summary="newer", customer=None)

    assert queued.status == ConversationStatus.AGENT and not queued.newly_queued
    [row] = _rows(sessions)
    assert (row.status, row.queued_at, row.updated_at) == (
        ConversationStatus.AGENT, days_ago(1), NOW)
    assert (row.handoff_reason, row.summary, row.channel) == ("fallback", "earlier", "web")
    [audit] = _audit(sessions)
    assert audit.before == {"status": "agent"}
    assert audit.after == {"status": "agent", "handoff_reason": "complaint"}


def test_a_later_handoff_links_the_customer_and_never_unlinks_it(sessions: Sessions) -> None:
    with sessions.begin() as session:
        make_customer(session, "C0000001")
    _queue(sessions)
    _queue(sessions, customer="C0000001")
    _queue(sessions, customer=None)
    _queue(sessions, customer="C9999999")  # unknown: not linked, no error

    [row] = _rows(sessions)
    with sessions() as session:
        assert row.customer_id == session.scalar(
            select(Customer.id).where(Customer.public_id == "C0000001"))
    assert len(_audit(sessions)) == 4


def test_a_very_long_sender_id_is_stored_hashed(sessions: Sessions) -> None:
    long_id = "web-" + "x" * 300
    first = _queue(sessions, long_id)
    second = _queue(sessions, long_id, now=LATER)

    assert first.sender_id == second.sender_id
    assert first.sender_id.startswith("sha256:") and len(first.sender_id) <= 128
    [row] = _rows(sessions)
    assert row.sender_id == first.sender_id and row.queued_at == NOW


def test_long_values_are_cut_to_the_columns(sessions: Sessions) -> None:
    queued = _queue(sessions, reason="r" * 100, channel="c" * 50)
    [row] = _rows(sessions)
    assert row.handoff_reason == queued.handoff_reason == "r" * 64
    assert row.channel == "c" * 32

    _queue(sessions, "conv-2", channel="")
    assert {r.sender_id: r.channel for r in _rows(sessions)}["conv-2"] == "web"


@pytest.mark.parametrize(("sender_id", "now"), [
    ("", NOW), ("   ", NOW), (None, NOW), ("conv-1", NOW.replace(tzinfo=None)),
])
def test_bad_input_is_refused_and_nothing_is_written(
    sessions: Sessions, sender_id: object, now: dt.datetime
) -> None:
    with pytest.raises(InvalidInput):
        _queue(sessions, sender_id, now=now)  # type: ignore[arg-type]
    assert _rows(sessions) == [] and _audit(sessions) == []


def test_concurrent_handoffs_of_one_conversation_make_one_row(sessions: Sessions) -> None:
    barrier = threading.Barrier(5)

    def attempt(i: int) -> QueuedConversation:
        barrier.wait()
        return _queue(sessions, reason=f"reason_{i}")

    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(attempt, range(5)))

    assert {r.status for r in results} == {ConversationStatus.QUEUED}
    assert sum(r.newly_queued for r in results) == 1
    [row] = _rows(sessions)
    assert row.queued_at == NOW
    assert len(_audit(sessions)) == 5
