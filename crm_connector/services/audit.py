"""The audit trail: who changed what, with the changed fields before and after.

Actors are strings: ``"customer:C0000042"`` (a verified customer through the bot),
``"agent:7"`` (an agent user id), ``"bot"`` (the assistant on its own), ``"system"`` (jobs).
``before``/``after`` hold only the fields that changed, JSON-safe, and no personal data beyond
what is needed (an address change stores the address ids, not the address text).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm_connector.db import db_boundary
from crm_connector.errors import InvalidInput, OrderNotFound
from crm_connector.models import AuditLog, Cancellation, Refund, SalesOrder
from crm_connector.services.validation import normalise_order_number, normalise_public_id
from crm_connector.services.views import AuditEntryView

BOT_ACTOR = "bot"
SYSTEM_ACTOR = "system"
_ACTOR = re.compile(r"bot|system(?::[a-z_]{1,24})?|customer:[A-Za-z0-9][A-Za-z0-9_-]{0,31}|agent:[0-9]{1,18}")

ENTITY_ORDER = "sales_order"
ENTITY_REFUND = "refund"
ENTITY_CANCELLATION = "cancellation"
ENTITY_CONVERSATION = "support_conversation"


def customer_actor(customer_public_id: str) -> str:
    return f"customer:{normalise_public_id(customer_public_id)}"


def agent_actor(agent_id: int) -> str:
    if isinstance(agent_id, bool) or not isinstance(agent_id, int) or agent_id <= 0:
        raise InvalidInput("An agent actor needs the agent's user id (a positive number).")
    return f"agent:{agent_id}"


def require_actor(actor: object) -> str:
    if not isinstance(actor, str) or not _ACTOR.fullmatch(actor):
        raise InvalidInput(
            'The actor must be "bot", "system", "system:<job>", "customer:<number>" or "agent:<id>".'
        )
    return actor


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, enum.Enum):
        return _json_safe(value.value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    raise TypeError(f"audit values must be JSON-safe, got {type(value).__name__}")


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    now: dt.datetime,
) -> None:
    """Add one audit row to the session (flushed with the change it describes)."""
    session.add(
        AuditLog(
            occurred_at=now,
            actor=require_actor(actor),
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            before=_json_safe(before),
            after=_json_safe(after),
        )
    )


@db_boundary
def audit_trail_for_order(session: Session, order_number: str) -> tuple[AuditEntryView, ...]:
    """Every audit entry about an order, its refunds and its cancellation, oldest first.

    For the agent inbox (agents may look at any order; there is no customer check here).
    """
    number = normalise_order_number(order_number)
    order_id = session.scalar(select(SalesOrder.id).where(SalesOrder.number == number))
    if order_id is None:
        raise OrderNotFound(f"There is no order {number}.")
    refund_ids = select(Refund.id).where(Refund.order_id == order_id)
    cancellation_ids = select(Cancellation.id).where(Cancellation.order_id == order_id)
    rows = session.scalars(
        select(AuditLog)
        .where(
            or_(
                (AuditLog.entity_type == ENTITY_ORDER) & (AuditLog.entity_id == order_id),
                (AuditLog.entity_type == ENTITY_REFUND) & AuditLog.entity_id.in_(refund_ids),
                (AuditLog.entity_type == ENTITY_CANCELLATION)
                & AuditLog.entity_id.in_(cancellation_ids),
            )
        )
        .order_by(AuditLog.occurred_at, AuditLog.id)
    )
    return tuple(
        AuditEntryView(
            occurred_at=row.occurred_at,
            actor=row.actor,
            action=row.action,
            entity_type=row.entity_type,
            before=row.before,
            after=row.after,
        )
        for row in rows
    )
