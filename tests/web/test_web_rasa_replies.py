"""Recovering the bot's answers from Rasa's tracker events (used before resending a message
whose request timed out), on the event shapes Rasa 3.6 records."""

from __future__ import annotations

from web.rasa import replies_to

EVENTS = [
    {"event": "action", "name": "action_session_start"},
    {"event": "user", "text": "hello", "metadata": {"gateway_message_id": 1}},
    {"event": "bot", "text": "Hi! How can I help?", "data": {"buttons": None}},
    {"event": "user", "text": "where is my order?", "metadata": {"gateway_message_id": 2, "shop_token": "t"}},
    {"event": "action", "name": "order_form"},
    {"event": "bot", "text": "Which order?", "data": {"buttons": [{"title": "10000104", "payload": "/inform"}]}},
    {"event": "bot", "text": "You can find it in your confirmation email.", "data": {}},
    {"event": "user", "text": "thanks", "metadata": {}},
]


def test_the_replies_to_a_recorded_message_are_found() -> None:
    assert replies_to(EVENTS, 2) == [
        {"text": "Which order?", "buttons": [{"title": "10000104", "payload": "/inform"}]},
        {"text": "You can find it in your confirmation email.", "buttons": None},
    ]
    assert replies_to(EVENTS, 1) == [{"text": "Hi! How can I help?", "buttons": None}]


def test_a_message_rasa_never_recorded_is_sent_again() -> None:
    assert replies_to(EVENTS, 3) is None
    assert replies_to([], 1) is None
    assert replies_to([{"event": "user", "metadata": "not a dict"}], 1) is None


def test_a_recorded_message_without_answers_yet_gives_an_empty_list() -> None:
    assert replies_to([{"event": "user", "text": "x", "metadata": {"gateway_message_id": 9}}], 9) == []
