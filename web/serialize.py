"""JSON shapes of the API (docs/web-api.md): messages, conversations, profiles."""

from __future__ import annotations

import datetime as dt
from typing import Any

from crm_connector import (
    AgentView,
    ChannelDeliveryState,
    ChannelDeliveryView,
    ConversationView,
    CustomerProfile,
    MessageView,
    handoff_reason_label,
    money,
)


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _label(reason: str | None) -> str | None:
    """Why the bot handed over, in words (``crm_connector.handoff_reason_label``)."""
    return None if reason is None else handoff_reason_label(reason)


def delivery_json(channel: str, state: ChannelDeliveryState, error: str | None) -> dict[str, Any]:
    """How a message to a messaging-channel customer stands (its ``channel_delivery`` row)."""
    return {"channel": channel, "state": state.value, "error": error}


def message_json(message: MessageView, *, internal: bool = False,
                 delivery: ChannelDeliveryView | None = None) -> dict[str, Any]:
    """A ``Message``; ``internal=True`` (agents only) adds the internal-note flag, and the
    message's outbox row when it went to a messaging channel (``delivery``)."""
    data: dict[str, Any] = {
        "id": message.id, "author": message.author.value, "text": message.text,
        "buttons": [{"title": b.get("title", ""), "payload": b.get("payload", "")} for b in message.buttons],
        "created_at": iso(message.created_at),
    }
    if message.client_message_id:
        data["client_id"] = message.client_message_id
    if message.agent_name:
        data["agent_name"] = message.agent_name
    if internal:
        data["internal"] = message.internal
        if message.delivery_state is not None:
            data["delivery_state"] = message.delivery_state.value
        if delivery is not None:
            data["delivery"] = delivery_json(delivery.channel, delivery.state, delivery.last_error)
    return data


def conversation_json(view: ConversationView) -> dict[str, Any]:
    return {
        "id": view.id, "state": view.status.value, "channel": view.channel,
        "customer_name": view.customer_name, "customer_public_id": view.customer_public_id,
        "handoff_reason": view.handoff_reason, "handoff_reason_label": _label(view.handoff_reason),
        "summary": view.summary,
        "queued_at": iso(view.queued_at), "waiting_seconds": view.waiting_seconds,
        "assigned_agent": None if view.assigned_agent_id is None else {
            "id": view.assigned_agent_id, "display_name": view.assigned_agent_name},
        "created_at": iso(view.created_at), "closed_at": iso(view.closed_at),
        "last_message_at": iso(view.last_message_at), "preview": view.preview,
        "rating": view.rating, "rating_comment": view.rating_comment,
    }


def agent_json(agent: AgentView) -> dict[str, Any]:
    return {"id": agent.id, "username": agent.username, "display_name": agent.display_name,
            "role": agent.role.value}


def profile_json(profile: CustomerProfile, insights: dict[str, Any] | None) -> dict[str, Any]:
    customer = None
    if profile.public_id is not None:
        customer = {"public_id": profile.public_id, "name": profile.name, "email": profile.email}
        for key in ("segment", "churn_risk", "churn_level", "churn_reasons", "clv", "clv_weeks",
                    "clv_currency", "recommendations"):
            if insights and key in insights:
                customer[key] = insights[key]
    return {
        "customer": customer,
        "orders": [{"number": o.number, "status": o.status, "placed_at": iso(o.placed_at),
                    "total": money(o.total_cents, o.currency), "total_cents": o.total_cents,
                    "currency": o.currency} for o in profile.orders],
        "refunds": [{"order_number": r.order_number, "amount": money(r.amount_cents, r.currency),
                     "amount_cents": r.amount_cents, "status": r.status, "created_at": iso(r.created_at)}
                    for r in profile.refunds],
        "past_conversations": [{"id": c.id, "state": c.status.value, "channel": c.channel,
                                "handoff_reason": c.handoff_reason,
                                "handoff_reason_label": _label(c.handoff_reason),
                                "created_at": iso(c.created_at),
                                "closed_at": iso(c.closed_at), "rating": c.rating}
                               for c in profile.past_conversations],
    }
