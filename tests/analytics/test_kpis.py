"""Conversation KPIs after scripted conversations with the real Rasa server over HTTP.

Five customers talk to the assistant (REST channel; the tracker store is the e2e SQLite file):
two FAQ questions, one out-of-scope question, one request for a person (then claimed, answered,
resolved and rated through the inbox services, as the web gateway does), one order status after
verification. The pipeline loads the database and the KPIs must equal the hand-counted truth.
Then: a second run reads nothing and changes nothing; a new conversation is picked up.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from analytics import AnalyticsSettings
from analytics.kpis import conversation_kpis, intent_trend, kpis_over_time
from analytics.pipeline import run_pipeline
from analytics.schema import Conversation, Rating, Turn, upgrade_analytics
from crm_connector import (
    AgentRole,
    agent_reply,
    claim_conversation,
    create_agent_user,
    rate_conversation,
    read_transaction,
    resolve_conversation,
    sync_after_bot_turn,
    write_transaction,
)
from crm_connector.models import SupportConversation
from tests.analytics.snapshots import analytics_snapshot

EMAIL = "alex.morgan@example.com"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _settings(tmp_path) -> AnalyticsSettings:  # type: ignore[no-untyped-def]
    return AnalyticsSettings(artifacts_dir=tmp_path / "analytics",
                             redaction_key="test-redaction-key")


def _agent_handles(sessions, sender: str) -> None:  # type: ignore[no-untyped-def]
    """What the gateway and an agent do with a handed-off conversation, through the services."""
    with write_transaction(sessions) as session:
        sync_after_bot_turn(session, sender, "web", now=_now())
        agent = create_agent_user(session, f"kpi-agent-{sender[-6:]}", "a long enough password 1",
                                  AgentRole.AGENT, display_name="Kim Agent", now=_now())
        conversation_id = session.scalar(select(SupportConversation.id)
                                         .where(SupportConversation.sender_id == sender))
    with write_transaction(sessions) as session:
        claim_conversation(session, conversation_id, agent, now=_now())
    with write_transaction(sessions) as session:
        agent_reply(session, conversation_id, agent, "Hello, Kim here. How can I help?", now=_now())
    with write_transaction(sessions) as session:
        resolve_conversation(session, conversation_id, agent, now=_now())
    with write_transaction(sessions) as session:
        rate_conversation(session, sender, 4, f"quick help, write me at {EMAIL}", now=_now())


def test_kpis_equal_the_hand_counted_truth(customer, e2e_sessions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = e2e_sessions.kw["bind"]
    upgrade_analytics(engine)
    settings = _settings(tmp_path)
    with write_transaction(e2e_sessions) as session:
        run_pipeline(session, settings)  # whatever other tests left: not part of the period
    since = _now()

    faq_1, faq_2, lost, person, alex = (customer() for _ in range(5))
    assert "from our faq" in faq_1.say("how long does delivery take?").lower(), faq_1.dump()
    assert "from our faq" in faq_2.say("do you ship to Norway?").lower(), faq_2.dump()
    reply = lost.say("what is the capital of Peru?").lower()
    assert "from our faq" not in reply, lost.dump()
    reply = person.say("I want to talk to a real person").lower()
    assert "colleague" in reply or "person" in reply, person.dump()
    assert "email" in alex.say("where is my order 10000103?").lower(), alex.dump()
    assert "10000103" in alex.say(f"my email is {EMAIL}"), alex.dump()
    _agent_handles(e2e_sessions, person.sender)

    with write_transaction(e2e_sessions) as session:
        first = run_pipeline(session, settings)
    assert first.events_read > 0 and first.turns_added == 6

    with read_transaction(e2e_sessions) as session:
        kpis = conversation_kpis(session, since=since)
    # Hand-counted: 5 conversations, 6 customer messages.
    assert kpis.conversations == 5
    assert (kpis.contained, kpis.handed_off, kpis.unresolved) == (3, 1, 1)
    assert kpis.containment_rate == pytest.approx(3 / 5)
    assert kpis.handoff_rate == pytest.approx(1 / 5)
    assert kpis.handoff_reasons == {"human_handoff": 1}
    assert kpis.customer_messages == 6
    assert kpis.fallback_messages == 1
    assert kpis.fallback_rate == pytest.approx(1 / 6)
    assert kpis.top_intents[0] == ("ask_faq", 2)
    assert ("order_status", 1) in kpis.top_intents and ("human_handoff", 1) in kpis.top_intents
    assert (kpis.faq_questions, kpis.faq_answered, kpis.faq_answer_rate) == (2, 2, 1.0)
    assert [(s.key, s.mean, s.count) for s in kpis.rating_by_agent] == [("Kim Agent", 4.0, 1)]
    assert [(s.key, s.mean, s.count) for s in kpis.rating_by_intent] == [("human_handoff", 4.0, 1)]
    assert kpis.median_first_response_seconds is not None
    assert kpis.median_first_response_seconds >= 0
    assert kpis.median_agent_first_response_seconds is not None
    assert kpis.median_resolution_seconds is not None

    with read_transaction(e2e_sessions) as session:
        trend = intent_trend(session, since=since)
        over_time = kpis_over_time(session, since=since)
        assert int(trend.to_numpy().sum()) == 6 and int(trend["ask_faq"].sum()) == 2
        assert int(over_time["conversations"].sum()) == 5
        # Personal data never reaches the analytics tables; the order number is a stable hash.
        texts = list(session.scalars(select(Turn.text).join(Conversation)
                                     .where(Conversation.sender_id == alex.sender)
                                     .order_by(Turn.sent_at)))
        assert "10000103" not in texts[0] and "[ORDER:" in texts[0]
        assert EMAIL not in texts[1] and "[EMAIL]" in texts[1]
        comment = session.scalar(select(Rating.comment).join(Conversation)
                                 .where(Conversation.sender_id == person.sender))
        assert comment == "quick help, write me at [EMAIL]"

    # Running again reads nothing and changes nothing.
    with read_transaction(e2e_sessions) as session:
        before = analytics_snapshot(session)
    with write_transaction(e2e_sessions) as session:
        again = run_pipeline(session, settings)
    assert (again.events_read, again.turns_added, again.support_rows_read,
            again.gateway_events_read) == (0, 0, 0, 0)
    with read_transaction(e2e_sessions) as session:
        after = analytics_snapshot(session)
    assert after == before

    # New events after it are picked up.
    newcomer = customer()
    newcomer.say("hi")
    with write_transaction(e2e_sessions) as session:
        third = run_pipeline(session, settings)
    assert third.events_read > 0 and third.turns_added == 1
    with read_transaction(e2e_sessions) as session:
        kpis = conversation_kpis(session, since=since)
    assert kpis.conversations == 6 and kpis.contained == 4
    assert kpis.containment_rate == pytest.approx(4 / 6)
