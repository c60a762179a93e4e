"""Settings of the analytics package, read once by an entry point and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository root (the folder holding ``pyproject.toml``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class AnalyticsSettings(BaseSettings):
    """``ANALYTICS_*`` environment variables (or a ``.env`` file) configure analytics."""

    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", env_file=".env", extra="ignore")

    artifacts_dir: Path = Field(
        default=PROJECT_ROOT / "var" / "analytics",
        description="Where trained models are written (<name>-<date>.skops + .json sidecar).",
    )
    scheduler: str | None = Field(
        default=None,
        description="A Dask scheduler address (tcp://HOST:PORT); default: run in-process.",
    )
    random_state: int = Field(default=42, description="Seed of every randomised model.")
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
    gap_distance_threshold: float = Field(
        default=0.55, gt=0.0, lt=2.0,
        description="Cosine distance below which unanswered questions join one cluster.",
    )
    gap_min_count: int = Field(default=2, ge=1, description="Smallest cluster suggested.")
