"""The inbox services on SQLite and PostgreSQL: storing messages once, the state machine with
its event log, ratings, agents and passwords, and the customer profile."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_connector import (
    AgentRole,
    AgentUserExists,
    ConversationEventKind,
    ConversationStateConflict,
    ConversationStatus,
    CrmSettings,
    DeliveryState,
    InvalidInput,
    MessageAuthor,
    add_note,
    agent_reply,
    authenticate_agent,
    claim_conversation,
    conversation_history,
    conversations_with_pending,
    create_agent_user,
    create_db_engine,
    create_session_factory,
    customer_profile,
    hand_back_to_bot,
    list_canned_replies,
    list_conversations,
    mark_delivered,
    open_conversation,
    pending_customer_messages,
    queue_conversation,
    queue_for_person,
    rate_conversation,
    resolve_conversation,
    store_customer_message,
    store_outgoing_message,
    sync_after_bot_turn,
    transfer_conversation,
    write_transaction,
)
from crm_connector.models import ConversationEvent, ConversationMessage
from tests.crm_connector.factories import NOW, Sessions, days_ago, make_customer, make_order, make_refund

PASSWORD = "correct horse battery"


def _agents(sessions: Sessions):  # type: ignore[no-untyped-def]
    with write_transaction(sessions) as s:
        ann = create_agent_user(s, "ann", PASSWORD, "agent", display_name="Ann", now=NOW)
        bob = create_agent_user(s, "bob", PASSWORD, AgentRole.AGENT, now=NOW)
        meg = create_agent_user(s, "meg", PASSWORD, "manager", now=NOW)
    return ann, bob, meg


def _events(sessions: Sessions, conversation_id: int) -> list[ConversationEvent]:
    with write_transaction(sessions) as s:
        return list(s.scalars(select(ConversationEvent).where(
            ConversationEvent.conversation_id == conversation_id).order_by(ConversationEvent.id)))


def _queued(sessions: Sessions, sender: str = "web-1") -> int:
    with write_transaction(sessions) as s:
        conversation = open_conversation(s, sender, "web", now=days_ago(1))
        store_customer_message(s, sender, "hello", "c1", now=days_ago(1))
        queue_conversation(s, sender, "rest", None, "complaint", "Customer is unhappy.", NOW)
        sync_after_bot_turn(s, sender, "web", now=NOW)
    return conversation.id


def test_a_customer_message_is_stored_once_per_client_id(sessions: Sessions) -> None:
    with write_transaction(sessions) as s:
        open_conversation(s, "web-1", "web", now=NOW)
        first = store_customer_message(s, "web-1", "  where is my order? ", "c1", now=NOW)
        again = store_customer_message(s, "web-1", "where is my order?", "c1", now=NOW)
    assert first.created and not again.created
    assert again.message.id == first.message.id
    assert first.message.text == "where is my order?"
    assert first.message.delivery_state == DeliveryState.PENDING
    with write_transaction(sessions) as s:
        assert s.scalar(select(ConversationMessage.id).where(ConversationMessage.id != first.message.id)) is None


@pytest.mark.parametrize("text", ["", "   ", "x" * 4001, None])
def test_bad_customer_text_is_refused_and_nothing_is_stored(sessions: Sessions, text: object) -> None:
    with write_transaction(sessions) as s:
        open_conversation(s, "web-1", "web", now=NOW)
    with pytest.raises(InvalidInput), write_transaction(sessions) as s:
        store_customer_message(s, "web-1", text, "c1", now=NOW)  # type: ignore[arg-type]
    with write_transaction(sessions) as s:
        assert s.scalar(select(ConversationMessage.id)) is None


def test_unicode_markup_and_sql_looking_text_is_kept_verbatim(sessions: Sessions) -> None:
    text = "Grüße 🚚 <script>alert(1)</script> '; DROP TABLE customer; --"
    with write_transaction(sessions) as s:
        conversation = open_conversation(s, "web-1", "web", now=NOW)
        store_customer_message(s, "web-1", text, None, now=NOW)
    with write_transaction(sessions) as s:
        assert [m.text for m in conversation_history(s, conversation.id, include_internal=False)] == [text]


def test_pending_messages_come_back_in_order_until_delivered(sessions: Sessions) -> None:
    with write_transaction(sessions) as s:
        conversation = open_conversation(s, "web-1", "web", now=NOW)
        ids = [store_customer_message(s, "web-1", f"m{i}", f"c{i}", now=NOW).message.id for i in range(3)]
    with write_transaction(sessions) as s:
        assert [m.id for m in pending_customer_messages(s, conversation.id)] == ids
        assert conversations_with_pending(s) == ["web-1"]
        mark_delivered(s, ids[0], now=NOW)
    with write_transaction(sessions) as s:
        assert [m.text for m in pending_customer_messages(s, conversation.id)] == ["m1", "m2"]


def test_the_bot_handoff_shows_in_the_queue_with_its_summary_and_one_event(sessions: Sessions) -> None:
    ann, _, _ = _agents(sessions)
    conversation_id = _queued(sessions)
    with write_transaction(sessions) as s:
        sync_after_bot_turn(s, "web-1", "web", now=NOW)  # a second turn records nothing new
        queue = list_conversations(s, "queue", ann, now=NOW)
    assert [(c.id, c.status, c.summary, c.channel) for c in queue] == [
        (conversation_id, ConversationStatus.QUEUED, "Customer is unhappy.", "web")]
    assert queue[0].waiting_seconds == 0
    kinds = [(e.kind, e.actor, e.reason) for e in _events(sessions, conversation_id)]
    assert kinds == [(ConversationEventKind.STARTED, "system", None),
                     (ConversationEventKind.QUEUED, "bot", "complaint")]


def test_claim_reply_note_transfer_resolve_rate(sessions: Sessions) -> None:
    ann, bob, meg = _agents(sessions)
    cid = _queued(sessions)
    with write_transaction(sessions) as s:
        claimed = claim_conversation(s, cid, ann, now=NOW)
    assert claimed.status == ConversationStatus.AGENT and claimed.assigned_agent_id == ann.id
    with pytest.raises(ConversationStateConflict), write_transaction(sessions) as s:
        claim_conversation(s, cid, bob, now=NOW)
    with pytest.raises(ConversationStateConflict), write_transaction(sessions) as s:
        agent_reply(s, cid, bob, "I'm not the owner", now=NOW)
    with write_transaction(sessions) as s:
        reply = agent_reply(s, cid, ann, "Hello, I'm Ann.", now=NOW)
        note = add_note(s, cid, bob, "VIP customer", now=NOW)
        assert store_customer_message(s, "web-1", "thanks", "c2", now=NOW).message.delivery_state \
            == DeliveryState.DELIVERED  # a person owns it: not for the bot
    assert reply.author == MessageAuthor.AGENT and reply.agent_name == "Ann"
    with write_transaction(sessions) as s:
        customer_view = [m.text for m in conversation_history(s, cid, include_internal=False)]
        agent_view = [m.text for m in conversation_history(s, cid, include_internal=True)]
    assert "VIP customer" not in customer_view and "VIP customer" in agent_view
    assert note.internal
    with pytest.raises(ConversationStateConflict), write_transaction(sessions) as s:
        transfer_conversation(s, cid, bob, bob.id, now=NOW)  # bob neither owns it nor manages
    with write_transaction(sessions) as s:
        moved = transfer_conversation(s, cid, ann, bob.id, now=NOW)
        assert [c.id for c in list_conversations(s, "mine", bob, now=NOW)] == [cid]
        with pytest.raises(ConversationStateConflict):
            rate_conversation(s, "web-1", 5, None, now=NOW)  # not resolved yet
    assert moved.assigned_agent_id == bob.id
    with write_transaction(sessions) as s:
        closed = resolve_conversation(s, cid, meg, now=NOW)  # a manager may resolve
    assert closed.status == ConversationStatus.CLOSED
    with write_transaction(sessions) as s:
        with pytest.raises(ConversationStateConflict):
            agent_reply(s, cid, bob, "late", now=NOW)
        rated = rate_conversation(s, "web-1", 4, "quick, thanks", now=NOW)
    assert (rated.rating, rated.rating_comment) == (4, "quick, thanks")
    with pytest.raises(ConversationStateConflict), write_transaction(sessions) as s:
        rate_conversation(s, "web-1", 1, None, now=NOW)
    events = _events(sessions, cid)
    assert [e.kind for e in events] == [
        ConversationEventKind.STARTED, ConversationEventKind.QUEUED, ConversationEventKind.CLAIMED,
        ConversationEventKind.TRANSFERRED, ConversationEventKind.RESOLVED, ConversationEventKind.RATED]
    assert events[3].target_agent_id == bob.id and events[4].agent_id == meg.id
    assert events[5].score == 4 and events[5].agent_id == meg.id


@pytest.mark.parametrize("score", [0, 6, "5", 4.5, True, None])
def test_a_rating_outside_1_to_5_is_refused(sessions: Sessions, score: object) -> None:
    ann, _, _ = _agents(sessions)
    cid = _queued(sessions)
    with write_transaction(sessions) as s:
        claim_conversation(s, cid, ann, now=NOW)
        resolve_conversation(s, cid, ann, now=NOW)
    with pytest.raises(InvalidInput), write_transaction(sessions) as s:
        rate_conversation(s, "web-1", score, None, now=NOW)  # type: ignore[arg-type]


def test_hand_back_and_reopen_return_the_conversation_to_the_bot(sessions: Sessions) -> None:
    ann, _, _ = _agents(sessions)
    cid = _queued(sessions)
    with write_transaction(sessions) as s:
        claim_conversation(s, cid, ann, now=NOW)
        back = hand_back_to_bot(s, cid, ann, now=NOW)
        assert back.status == ConversationStatus.BOT and back.assigned_agent_id is None
        assert store_customer_message(s, "web-1", "one more", "c3", now=NOW).message.delivery_state \
            == DeliveryState.PENDING
    with write_transaction(sessions) as s:
        queue_conversation(s, "web-1", "rest", None, "human_handoff", "again", NOW)
        sync_after_bot_turn(s, "web-1", "web", now=NOW)
        assert pending_customer_messages(s, cid) == []  # handed over, not lost
        claim_conversation(s, cid, ann, now=NOW)
        resolve_conversation(s, cid, ann, now=NOW)
        stored = store_customer_message(s, "web-1", "hello again", "c4", now=NOW)
    assert stored.reopened and stored.status == ConversationStatus.BOT
    assert [e.kind for e in _events(sessions, cid)][-1] == ConversationEventKind.REOPENED


def test_the_gateway_queues_a_conversation_when_the_bot_is_down(sessions: Sessions) -> None:
    with write_transaction(sessions) as s:
        conversation = open_conversation(s, "web-1", "web", now=NOW)
        store_customer_message(s, "web-1", "my parcel is lost", "c1", now=NOW)
        view = queue_for_person(s, "web-1", "bot_unavailable", now=NOW)
        history = conversation_history(s, conversation.id, include_internal=True)
    assert view.status == ConversationStatus.QUEUED and view.handoff_reason == "bot_unavailable"
    assert "my parcel is lost" in (view.summary or "")
    assert [m.delivery_state for m in history] == [DeliveryState.HANDED_OVER]
    assert [(e.kind, e.actor) for e in _events(sessions, conversation.id)][-1] == (
        ConversationEventKind.QUEUED, "system")


def test_agents_passwords_and_login(sessions: Sessions) -> None:
    _agents(sessions)
    with write_transaction(sessions) as s:
        assert authenticate_agent(s, "ANN", PASSWORD, now=NOW).username == "ann"
        assert authenticate_agent(s, "ann", "wrong password!", now=NOW) is None
        assert authenticate_agent(s, "nobody", PASSWORD, now=NOW) is None
        with pytest.raises(AgentUserExists):
            create_agent_user(s, "ann", PASSWORD, "agent", now=NOW)
        with pytest.raises(InvalidInput):
            create_agent_user(s, "short-pw", "123", "agent", now=NOW)
        with pytest.raises(InvalidInput):
            create_agent_user(s, "x y", PASSWORD, "agent", now=NOW)
        with pytest.raises(InvalidInput):
            create_agent_user(s, "boss", PASSWORD, "superuser", now=NOW)
        stored = s.scalar(select(ConversationMessage.id))
    assert stored is None


def test_the_profile_lists_orders_refunds_and_past_conversations(sessions: Sessions) -> None:
    with write_transaction(sessions) as s:
        customer = make_customer(s)
        order = make_order(s, customer, "10000001", placed_at=days_ago(20))
        make_order(s, customer, "10000002", placed_at=days_ago(2))
        make_refund(s, order, 1500, key="r1")
        old = open_conversation(s, "web-old", "web", now=days_ago(30), customer_public_id="C0000001")
        current = open_conversation(s, "web-new", "web", now=NOW, customer_public_id="C0000001")
        anonymous = open_conversation(s, "web-anon", "web", now=NOW)
    with write_transaction(sessions) as s:
        profile = customer_profile(s, current.id)
        empty = customer_profile(s, anonymous.id)
    assert profile.public_id == "C0000001" and profile.name == "Anna Schmidt"
    assert [o.number for o in profile.orders] == ["10000002", "10000001"]
    assert [(r.order_number, r.amount_cents) for r in profile.refunds] == [("10000001", 1500)]
    assert [c.id for c in profile.past_conversations] == [old.id]
    assert empty.public_id is None and empty.orders == ()


def test_canned_replies_are_seeded_by_the_migration(sqlite_settings: CrmSettings) -> None:
    # (The PostgreSQL fixture truncates every table between tests, seeded rows included.)
    engine = create_db_engine(sqlite_settings)
    with write_transaction(create_session_factory(engine)) as s:
        replies = list_canned_replies(s)
    engine.dispose()
    assert len(replies) >= 3 and all(r.title and r.text for r in replies)


def test_outgoing_messages_keep_buttons_and_refuse_customer_author(sessions: Sessions) -> None:
    with write_transaction(sessions) as s:
        conversation = open_conversation(s, "web-1", "web", now=NOW)
        message = store_outgoing_message(s, conversation.id, "bot", "Which order?", now=NOW,
                                         buttons=[{"title": "10000101", "payload": "/inform"}, {"bad": 1}])
        with pytest.raises(InvalidInput):
            store_outgoing_message(s, conversation.id, "customer", "x", now=NOW)
    assert message.buttons == ({"title": "10000101", "payload": "/inform"},)
