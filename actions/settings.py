"""Settings of the action server, read once (lazily) by ``actions.context`` and passed down."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ActionSettings(BaseSettings):
    """``ACTIONS_*`` environment variables (or a ``.env`` file) configure the action server.

    The CRM database and the FAQ index have their own settings (``CRM_*``, ``KNOWLEDGE_*``).
    """

    model_config = SettingsConfigDict(env_prefix="ACTIONS_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)  # values may be secrets

    faq_enabled: bool = Field(
        default=True,
        description="Answer FAQ questions (and try the FAQ in the fallback) from the FAQ index.",
    )
    preload_faq: bool = Field(
        default=False,
        description="Load the embedding model and FAQ index when a server worker starts, "
        "instead of on the first FAQ question (that first answer then takes seconds).",
    )
    max_verification_failures: int = Field(
        default=3, ge=1, le=10,
        description="Wrong email/order-number pairs before verification is locked.",
    )
    handoff_summary_max_chars: int = Field(
        default=800, ge=200, le=10_000,
        description="Longest summary written for the agent on a handoff.",
    )
    handoff_summary_messages: int = Field(
        default=4, ge=1, le=20, description="How many of the last customer messages it quotes."
    )
    recent_orders_shown: int = Field(
        default=5, ge=1, le=10, description="Orders offered as buttons when none was named."
    )
    timeline_events_shown: int = Field(
        default=4, ge=1, le=20, description="Tracking events listed in an order status reply."
    )
    max_input_chars: int = Field(
        default=2000, ge=100, le=100_000,
        description="Customer text longer than this is cut before it is searched or stored.",
    )
    display_timezone: str = Field(
        default="Europe/Berlin", description="Time zone of times shown to customers."
    )
    default_channel: str = Field(
        default="web", max_length=32, description="Channel recorded when Rasa names none."
    )

    @field_validator("display_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.display_timezone)
