"""The conversation log pipeline on SQLite and PostgreSQL: what it stores, incremental and
idempotent loading, redaction, odd rows. Tracker rows are written in Rasa's own format (see
``tracker_rows``); ``test_kpis.py`` runs the same pipeline on a real Rasa server's database."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from analytics import AnalyticsSettings
from analytics.kpis import conversation_kpis
from analytics.pipeline import data_as_of, pending_tracker_events, run_pipeline
from analytics.schema import (
    Action,
    Conversation,
    Handoff,
    Turn,
    analytics_head,
    analytics_revision,
    upgrade_analytics,
)
from crm_connector import (
    AgentRole,
    ConversationStatus,
    open_conversation,
    store_customer_message,
    store_outgoing_message,
    agent_reply,
    claim_conversation,
    create_agent_user,
    queue_conversation,
    rate_conversation,
    read_transaction,
    resolve_conversation,
    sync_after_bot_turn,
    write_transaction,
)
from crm_connector.migrate import current_revision, head_revision
from crm_connector.models import MessageAuthor, SupportConversation
from tests.analytics.snapshots import analytics_snapshot, clear_analytics
from tests.analytics.tracker_rows import Tracker

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def settings(tmp_path) -> AnalyticsSettings:  # type: ignore[no-untyped-def]
    return AnalyticsSettings(artifacts_dir=tmp_path / "a", redaction_key="k-test")


@pytest.fixture
def migrated(engine, sessions):  # type: ignore[no-untyped-def]
    upgrade_analytics(engine)
    clear_analytics(engine)  # the PostgreSQL database is shared by the session's tests
    return sessions


def _run(sessions, settings):  # type: ignore[no-untyped-def]
    with write_transaction(sessions) as session:
        return run_pipeline(session, settings, now=NOW)


def test_own_revision_chain_next_to_the_crm_one(engine) -> None:  # type: ignore[no-untyped-def]
    upgrade_analytics(engine)
    clear_analytics(engine)
    upgrade_analytics(engine)  # a second upgrade is a no-op
    assert analytics_revision(engine) == analytics_head(engine) == "a0002"
    assert current_revision(engine) == head_revision(engine)  # the CRM chain is untouched


def test_no_tracker_table_yet_is_not_an_error(migrated, settings) -> None:  # type: ignore[no-untyped-def]
    result = _run(migrated, settings)
    assert result.events_read == 0 and result.turns_added == 0


def test_turns_actions_handoffs_and_resolution(engine, migrated, settings) -> None:  # type: ignore[no-untyped-def]
    Tracker(engine, "faq").faq("how long does delivery take?", "How long does delivery take?")
    (Tracker(engine, "lost").user("capital of peru?", "nlu_fallback", 0.21)
     .action("action_default_fallback").bot("Sorry, could you rephrase that?")
     .action("action_listen"))
    (Tracker(engine, "person").user("hi", "greet").action("utter_greet").bot("Hi!")
     .user("I want a human", "human_handoff").action("action_handoff")
     .bot("A colleague will take over.").pause())
    (Tracker(engine, "rescued").user("do u ship 2 norway", "nlu_fallback", 0.3)
     .action("action_default_fallback")
     .bot("We ship to the EU.\n\n(From our FAQ: \u201cWhich countries do you ship to?\u201d)"))
    with write_transaction(migrated) as session:
        queue_conversation(session, "person", "web", None, "human_handoff", "wants a person",
                           NOW)
    with read_transaction(migrated) as session:
        assert pending_tracker_events(session) > 0

    result = _run(migrated, settings)
    assert result.turns_added == 5 and result.handoffs_added == 1

    with read_transaction(migrated) as session:
        convs = {c.sender_id: c for c in session.scalars(select(Conversation))}
        assert {k: c.resolution for k, c in convs.items()} == {
            "faq": "contained", "lost": "unresolved", "person": "handed_off",
            "rescued": "contained"}
        assert convs["person"].handoff_reason == "human_handoff"
        assert convs["person"].main_intent == "human_handoff"
        assert convs["person"].support_status == ConversationStatus.QUEUED.value
        assert convs["faq"].first_response_seconds == pytest.approx(0.5)
        lost = session.scalars(select(Turn).where(Turn.conversation_id == convs["lost"].id)).one()
        assert lost.is_fallback and lost.is_low_confidence and lost.confidence == 0.21
        rescued = session.scalars(select(Turn).where(
            Turn.conversation_id == convs["rescued"].id)).one()
        assert rescued.is_fallback and rescued.faq_answered
        assert rescued.faq_question == "Which countries do you ship to?"
        names = set(session.scalars(select(Action.name)))
        assert "action_listen" not in names and {"action_handoff", "utter_greet"} <= names
        assert session.scalar(select(Handoff.reason)) == "human_handoff"
        kpis = conversation_kpis(session)
    assert kpis.conversations == 4 and kpis.containment_rate == pytest.approx(0.5)
    assert kpis.fallback_messages == 2 and kpis.faq_answered == 2 and kpis.faq_questions == 2


def test_second_run_changes_nothing_and_new_events_are_picked_up(engine, migrated, settings) -> None:  # type: ignore[no-untyped-def]
    chat = Tracker(engine, "s1").faq("delivery time?", "How long does delivery take?")
    first = _run(migrated, settings)
    assert first.events_read == 4
    with read_transaction(migrated) as session:
        before = analytics_snapshot(session)
    second = _run(migrated, settings)
    assert second.as_dict() == {k: 0 for k in second.as_dict()}
    with read_transaction(migrated) as session:
        assert analytics_snapshot(session) == before

    chat.user("where is my order 10000101?", "order_status", 0.4)
    third = _run(migrated, settings)
    assert third.events_read == 1 and third.turns_added == 1
    with read_transaction(migrated) as session:
        conv = session.scalars(select(Conversation)).one()
        assert conv.user_turns == 2 and conv.low_confidence_turns == 1
        assert conv.main_intent == "ask_faq"


def test_data_as_of_is_the_last_run_even_when_it_found_nothing_new(engine, migrated, settings) -> None:  # type: ignore[no-untyped-def]
    with read_transaction(migrated) as session:
        assert data_as_of(session, settings) is None
    Tracker(engine, "s1").faq("delivery time?", "How long does delivery take?")
    _run(migrated, settings)
    later = NOW + dt.timedelta(minutes=5)
    with write_transaction(migrated) as session:
        assert run_pipeline(session, settings, now=later).events_read == 0
    with read_transaction(migrated) as session:
        assert data_as_of(session, settings) == later
    with pytest.raises(RuntimeError), write_transaction(migrated) as session:  # rolled back
        run_pipeline(session, settings, now=later + dt.timedelta(minutes=5))
        raise RuntimeError("the run fails after reading")
    with read_transaction(migrated) as session:
        assert data_as_of(session, settings) == later


def test_stored_text_is_redacted(engine, migrated, settings) -> None:  # type: ignore[no-untyped-def]
    (Tracker(engine, "pii").user("I am anna@example.com, +49 151 1234 5678, card "
                                 "4111 1111 1111 1111, order 10000101", "inform"))
    _run(migrated, settings)
    with read_transaction(migrated) as session:
        text = session.scalar(select(Turn.text))
    assert "anna@" not in text and "1234 5678" not in text and "4111" not in text
    assert "10000101" not in text
    assert "[EMAIL]" in text and "[PHONE]" in text and "[CARD]" in text and "[ORDER:" in text


def test_odd_rows_lose_nothing_else(engine, migrated, settings) -> None:  # type: ignore[no-untyped-def]
    chat = Tracker(engine, "odd")
    chat.raw("user", "{not json")
    chat.raw("user", '["a", "list"]')
    chat.raw("bot", "")
    chat.user("x" * 100_000, "nlu_fallback", 0.1)
    chat.user("'; DROP TABLE analytics_turn; --", "inform")
    chat.user("<script>alert(1)</script> 😀 Где мой заказ?", "order_status")
    long_sender = Tracker(engine, "s" * 200)  # Rasa allows 255, the CRM keeps 128
    long_sender.user("hello", "greet")
    result = _run(migrated, settings)
    assert result.turns_added == 6
    with read_transaction(migrated) as session:
        texts = list(session.scalars(select(Turn.text).order_by(Turn.id)))
        senders = set(session.scalars(select(Conversation.sender_id)))
    assert texts[0] == "" and texts[1] == ""
    assert len(texts[2]) == settings.max_text_chars
    assert texts[3] == "'; DROP TABLE analytics_turn; --"
    assert texts[4] == "<script>alert(1)</script> 😀 Где мой заказ?"
    assert any(s.startswith("sha256:") for s in senders)


def test_gateway_handoff_agent_reply_resolution_and_rating(engine, migrated, settings) -> None:  # type: ignore[no-untyped-def]
    """The inbox services (as the web gateway calls them) feed handoffs, agent response time,
    resolution and ratings by agent and by intent."""
    (Tracker(engine, "g1", NOW.timestamp()).user("I want a human", "human_handoff")
     .action("action_handoff").bot("A colleague will take over.").pause())
    later = NOW + dt.timedelta(minutes=1)
    with write_transaction(migrated) as session:
        queue_conversation(session, "g1", "web", None, "human_handoff", "wants a person", later)
        sync_after_bot_turn(session, "g1", "web", now=later)
        agent = create_agent_user(session, "kim", "a long enough password 1", AgentRole.AGENT,
                                  display_name="Kim Agent", now=later)
        conversation_id = session.scalar(select(SupportConversation.id))
    with write_transaction(migrated) as session:
        claim_conversation(session, conversation_id, agent, now=later + dt.timedelta(minutes=2))
        agent_reply(session, conversation_id, agent, "Hi, Kim here.",
                    now=later + dt.timedelta(minutes=3))
        resolve_conversation(session, conversation_id, agent, now=later + dt.timedelta(minutes=9))
    with write_transaction(migrated) as session:
        rate_conversation(session, "g1", 2, "slow, mail me at x@example.com",
                          now=later + dt.timedelta(minutes=10))
    first = _run(migrated, settings)
    assert first.gateway_events_read >= 4 and first.handoffs_added == 1  # one handoff, not two
    assert _run(migrated, settings).as_dict() == {k: 0 for k in first.as_dict()}
    with read_transaction(migrated) as session:
        conv = session.scalars(select(Conversation)).one()
        kpis = conversation_kpis(session)
    assert conv.resolution == "handed_off" and conv.agent_messages == 1
    # From the bot's handoff (the tracker's pause, NOW + 1.6 s) to the first reply (NOW + 4 min).
    assert conv.agent_first_response_seconds == pytest.approx(240 - 1.6)
    assert conv.resolution_seconds is not None and conv.resolution_seconds > 9 * 60
    assert [(s.key, s.mean, s.count) for s in kpis.rating_by_agent] == [("Kim Agent", 2.0, 1)]
    assert [(s.key, s.mean, s.count) for s in kpis.rating_by_intent] == [("human_handoff", 2.0, 1)]
    assert kpis.median_agent_first_response_seconds == pytest.approx(240 - 1.6)


def test_first_response_is_what_the_customer_waited_when_the_gateway_has_the_messages(  # type: ignore[no-untyped-def]
    engine, migrated, settings
) -> None:
    """The tracker times only Rasa's own work (0.5 s here); through the widget the customer
    waits from their message being stored to the bot's answer being stored, which may arrive
    after the pipeline has already read the tracker's events."""
    asked = dt.datetime.fromtimestamp(1_790_000_000.0, dt.UTC)
    Tracker(engine, "widget", asked.timestamp()).faq("how long does delivery take?",
                                                     "How long does delivery take?")
    Tracker(engine, "rest", asked.timestamp()).faq("how long does delivery take?",
                                                   "How long does delivery take?")
    with write_transaction(migrated) as session:
        conversation = open_conversation(session, "widget", "web", now=asked)
        store_customer_message(session, "widget", "how long does delivery take?", "c-1",
                               now=asked)
    _run(migrated, settings)
    with read_transaction(migrated) as session:
        first = {c.sender_id: c.first_response_seconds for c in session.scalars(select(Conversation))}
    assert first == {"widget": pytest.approx(0.5), "rest": pytest.approx(0.5)}  # no answer stored yet

    with write_transaction(migrated) as session:
        store_outgoing_message(session, conversation.id, MessageAuthor.BOT, "2-4 working days",
                               now=asked + dt.timedelta(seconds=2.25))
        store_outgoing_message(session, conversation.id, MessageAuthor.BOT, "Anything else?",
                               now=asked + dt.timedelta(seconds=2.5))
    result = _run(migrated, settings)
    with read_transaction(migrated) as session:
        first = {c.sender_id: c.first_response_seconds for c in session.scalars(select(Conversation))}
        kpis = conversation_kpis(session)
    assert result.conversations_updated == 1  # the widget's conversation only
    assert first == {"widget": pytest.approx(2.25), "rest": pytest.approx(0.5)}
    assert kpis.median_first_response_seconds == pytest.approx((2.25 + 0.5) / 2)


def test_kpis_of_a_big_period_are_one_query_not_a_list_of_ids(engine, migrated) -> None:  # type: ignore[no-untyped-def]
    """70,000 conversations: more bind parameters than psycopg sends in one statement (65,535)
    or a default SQLite build takes (32,766; Debian's 250,000), which a list of conversation
    ids would need: the PostgreSQL case failed so before."""
    n = 70_000
    start = NOW - dt.timedelta(days=365)
    at = [start + dt.timedelta(minutes=7 * i) for i in range(n)]
    with engine.begin() as conn:
        conn.execute(Conversation.__table__.insert(), [
            {"id": i + 1, "sender_id": f"big-{i}", "started_at": at[i], "last_event_at": at[i],
             "user_turns": 1, "fallback_turns": int(i % 10 == 0), "handed_off": i % 4 == 0,
             "resolution": "handed_off" if i % 4 == 0 else "contained"} for i in range(n)])
        conn.execute(Turn.__table__.insert(), [
            {"conversation_id": i + 1, "source": "tracker", "source_event_id": i + 1,
             "sent_at": at[i], "intent": "ask_faq", "is_fallback": i % 10 == 0}
            for i in range(n)])
    with read_transaction(migrated) as session:
        kpis = conversation_kpis(session)
        recent = conversation_kpis(session, since=at[n - 100])
    assert (kpis.conversations, kpis.customer_messages, kpis.handed_off) == (n, n, n // 4)
    assert kpis.fallback_messages == n // 10 and kpis.top_intents == [("ask_faq", n)]
    assert (recent.conversations, recent.customer_messages) == (100, 100)
