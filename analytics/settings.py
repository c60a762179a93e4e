"""Settings of the analytics package, read once by an entry point and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crm_connector.settings import checked_service_url

#: The repository root (the folder holding ``pyproject.toml``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class AnalyticsSettings(BaseSettings):
    """``ANALYTICS_*`` environment variables (or a ``.env`` file) configure analytics."""

    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)  # a URL may hold a password

    artifacts_dir: Path = Field(
        default=PROJECT_ROOT / "var" / "analytics",
        description="Where trained models are written (<name>-<date>.skops + .json sidecar).",
    )
    scheduler: str | None = Field(
        default=None,
        description="A Dask scheduler address (tcp://HOST:PORT); default: run in-process.",
    )
    scheduler_timeout: float = Field(
        default=30.0, gt=0, le=3600, allow_inf_nan=False,
        description="Seconds to wait for the Dask scheduler to answer before the refresh fails "
        "with a clear error.",
    )
    random_state: int = Field(default=42, description="Seed of every randomised model.")
    retrain_hours: float = Field(
        default=24.0, gt=0, le=24 * 366, allow_inf_nan=False,
        description="`crmbot analytics refresh --every` retrains a customer model when its "
        "newest artifact is older than this many hours (or there is none); above 0, at most "
        "a year.",
    )
    # --- conversation analytics (pipeline, KPIs, unanswered questions) ---
    redaction_key: SecretStr = Field(
        default=SecretStr("dev-only-analytics-redaction-key-change-me"),
        description="HMAC key that turns order numbers in stored text into stable hashes.",
    )
    max_text_chars: int = Field(default=2000, gt=0, description="Stored message text is cut here.")
    low_confidence_threshold: float = Field(
        default=0.5, ge=0.0, le=1.0,
        description="A customer message whose intent confidence is below this counts as "
        "low-confidence (a candidate unanswered question).",
    )
    pipeline_batch_size: int = Field(default=5000, gt=0, description="Tracker events per read.")
    events_from: Literal["tracker", "broker"] = Field(
        default="tracker",
        description="Where the pipeline reads conversation events: `tracker` (Rasa's SQL tracker "
        "store table `events` in this database) or `broker` (the events `crmbot analytics "
        "consume` stored from RabbitMQ).",
    )
    broker_url: SecretStr | None = Field(
        default=None,
        description="RabbitMQ that the Rasa server publishes its events to, "
        "amqp://USER:PASSWORD@HOST[:PORT][/VHOST] (or amqps://); needed by `crmbot analytics "
        "consume` (`crmbot up` passes its CRMBOT_RASA_EVENT_BROKER_URL when this is unset).",
    )
    broker_queue: str = Field(
        default="crmbot_events", min_length=1, max_length=255,
        description="The durable queue to read (bound to Rasa's fanout exchange `rasa-exchange`; "
        "the same name as the Rasa server's CRMBOT_RASA_EVENT_QUEUE).",
    )
    broker_exchange: str = Field(
        default="rasa-exchange", min_length=1, max_length=255,
        description="The fanout exchange the Rasa server publishes to (its event broker's "
        "`exchange_name`, `rasa-exchange` unless changed there).",
    )
    gap_distance_threshold: float = Field(
        default=0.55, gt=0.0, lt=2.0,
        description="Cosine distance below which unanswered questions join one cluster.",
    )
    gap_min_count: int = Field(default=2, ge=1, description="Smallest cluster suggested.")

    @field_validator("broker_url")
    @classmethod
    def _check_broker_url(cls, value: SecretStr | None) -> SecretStr | None:
        """Empty means unset; the message never repeats the value (it may hold a password)."""
        return checked_service_url(value, ("amqp", "amqps"),
                                   "amqp://USER:PASSWORD@HOST[:PORT][/VHOST]")
