"""Build rasa-sdk ``Tracker`` objects from plain dicts (as Rasa sends them) and run actions.

Rasa posts the tracker as JSON; ``Tracker.from_dict`` is what rasa-sdk itself calls on it.
The helpers here write that JSON with the contract's slots (docs/conversation-design.md).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

CUSTOMER = "C0000001"
SENDER = "conv-1"

#: The slots of the contract, all empty.
SLOTS: dict[str, Any] = {
    "verified": None, "customer_id": None, "email": None, "order_number": None,
    "verification_failures": None, "refund_amount": None, "refund_reason": None,
    "cancel_confirmed": None, "new_address": None, "fallback_streak": None,
    "requested_slot": None, "session_started_metadata": None,
}

#: The part of the domain the actions read: forms (required slots) and the session config.
DOMAIN: dict[str, Any] = {
    "forms": {
        "verify_form": {"required_slots": ["email", "order_number"]},
        "refund_form": {"required_slots": ["order_number", "refund_amount", "refund_reason"]},
        "cancel_form": {"required_slots": ["order_number", "cancel_confirmed"]},
        "address_form": {"required_slots": ["order_number", "new_address"]},
    },
    "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
    "slots": {name: {"type": "any", "mappings": []} for name in SLOTS},
}


def verified_slots(customer: str = CUSTOMER, **slots: Any) -> dict[str, Any]:
    return {"verified": True, "customer_id": customer, **slots}


def parse_data(text: str, intent: str | None, entities: Sequence[Mapping[str, Any]] = (),
               metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    ranking = [{"name": intent, "confidence": 0.9}] if intent else []
    return {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9} if intent else {},
        "intent_ranking": ranking,
        "entities": list(entities),
        "metadata": dict(metadata or {}),
    }


def user(text: str, intent: str | None = "inform", *, metadata: Mapping[str, Any] | None = None,
         channel: str = "rest") -> dict[str, Any]:
    return {"event": "user", "timestamp": time.time(), "text": text,
            "parse_data": parse_data(text, intent), "input_channel": channel,
            "metadata": dict(metadata or {})}


def action(name: str) -> dict[str, Any]:
    return {"event": "action", "timestamp": time.time(), "name": name}


def bot(text: str) -> dict[str, Any]:
    return {"event": "bot", "timestamp": time.time(), "text": text, "data": {}}


def bot_response(response: str) -> dict[str, Any]:
    """A bot message from a domain response (Rasa records its name in the metadata)."""
    return {"event": "bot", "timestamp": time.time(), "text": "...", "data": {},
            "metadata": {"utter_action": response}}


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "timestamp": time.time(), "name": name, "value": value}


def turn(text: str, intent: str | None, answered_by: str) -> list[dict[str, Any]]:
    """An earlier exchange: the customer's message and the action that answered it."""
    return [user(text, intent), action(answered_by), bot("..."), action("action_listen")]


def tracker(
    text: str = "",
    intent: str | None = None,
    *,
    slots: Mapping[str, Any] | None = None,
    history: Sequence[Mapping[str, Any]] = (),
    sender_id: str = SENDER,
    metadata: Mapping[str, Any] | None = None,
    active_loop: str | None = None,
    channel: str = "rest",
    latest_user_event: bool = True,
) -> Tracker:
    """A tracker whose latest message is ``text`` (with ``intent``), after ``history``."""
    events = [action("action_session_start"), {"event": "session_started"},
              action("action_listen"), *history]
    if latest_user_event:
        events.append(user(text, intent, metadata=metadata, channel=channel))
    return Tracker.from_dict({
        "sender_id": sender_id,
        "slots": {**SLOTS, **(slots or {})},
        "latest_message": parse_data(text, intent, metadata=metadata) if latest_user_event else {},
        "events": events,
        "paused": False,
        "followup_action": None,
        "active_loop": {"name": active_loop} if active_loop else {},
        "latest_action_name": "action_listen",
    })


def form_tracker(
    form: str,
    candidates: Mapping[str, Any],
    *,
    slots: Mapping[str, Any] | None = None,
    requested_slot: str | None = None,
    text: str = "",
    sender_id: str = SENDER,
    bot_said: str | None = None,
) -> Tracker:
    """What Rasa sends to ``validate_<form>``: the events so far, then the form's action and
    this turn's slot candidates (``FormAction._temporary_tracker``). ``bot_said`` is the
    response of the bot's message before this turn (e.g. ``utter_ask_continue``)."""
    values = {**SLOTS, **(slots or {}), "requested_slot": requested_slot, **candidates}
    said = [bot_response(bot_said)] if bot_said else []
    events = [*said, action("action_listen"), user(text, "inform"),
              slot("requested_slot", requested_slot), action(form),
              *(slot(name, value) for name, value in candidates.items())]
    return Tracker.from_dict({
        "sender_id": sender_id, "slots": values, "latest_message": parse_data(text, "inform"),
        "events": events, "paused": False, "followup_action": None,
        "active_loop": {"name": form}, "latest_action_name": form,
    })


async def run(
    act: Action, state: Tracker, domain: Mapping[str, Any] = DOMAIN
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run ``act`` like the action server does; its events and the messages it sent."""
    dispatcher = CollectingDispatcher()
    events = await act.run(dispatcher, state, dict(domain))
    return events, dispatcher.messages


def texts(messages: Sequence[Mapping[str, Any]]) -> str:
    """Every text the bot sent, one per line."""
    return "\n".join(m["text"] for m in messages if m.get("text"))


def responses(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    return [m["response"] for m in messages if m.get("response")]


def payloads(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    return [b["payload"] for m in messages for b in m.get("buttons") or []]


def slot_events(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The values the events set, last one wins."""
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
