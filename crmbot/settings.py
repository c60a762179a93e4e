"""Settings of the running platform (ports, paths), read once by the CLI."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crm_connector import PROJECT_ROOT, checked_service_url


class PlatformSettings(BaseSettings):
    """``CRMBOT_*`` environment variables configure where the platform's processes run."""

    model_config = SettingsConfigDict(env_prefix="CRMBOT_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)  # values may be secrets

    host: str = Field(default="127.0.0.1", description="Interface every server binds to.")
    rasa_port: int = Field(default=5005, ge=1, le=65535)
    action_port: int = Field(default=5055, ge=1, le=65535)
    web_port: int = Field(default=8080, ge=1, le=65535)
    project_root: Path = PROJECT_ROOT
    models_dir: Path = PROJECT_ROOT / "var" / "models"
    rasa_venv: Path = PROJECT_ROOT / ".venv-rasa"
    startup_timeout_seconds: float = Field(default=300.0, gt=0)
    rasa_workers: int = Field(
        default=2, ge=1, le=32,
        description="Rasa server processes (Sanic workers) sharing the port. Rasa handles a "
                    "turn on one core, so one per core serves more customers at once; they "
                    "share conversations through the tracker store and the lock store "
                    "(bot/endpoints.yml).")
    # --- production services of the Rasa server (the embedded default needs none) ---
    rasa_lock_store_url: SecretStr | None = Field(
        default=None,
        description="Redis for Rasa's conversation locks, redis://[:PASSWORD@]HOST[:PORT][/DB] "
                    "(or rediss:// with TLS): needed when Rasa servers on several machines share "
                    "the conversations. Default: a SQLite lock file shared by this machine's "
                    "Rasa workers.")
    rasa_event_broker_url: SecretStr | None = Field(
        default=None,
        description="RabbitMQ that the Rasa server publishes every conversation event to, "
                    "amqp://USER:PASSWORD@HOST[:PORT][/VHOST] (or amqps://); analytics can read "
                    "them from there (`crmbot analytics consume`). Default: no broker.")
    rasa_event_queue: str = Field(
        default="crmbot_events", min_length=1, max_length=255,
        description="The durable RabbitMQ queue the events go to (bound to Rasa's fanout "
                    "exchange `rasa-exchange`).")

    @field_validator("rasa_lock_store_url")
    @classmethod
    def _check_lock_store_url(cls, value: SecretStr | None) -> SecretStr | None:
        shape = "redis://[:PASSWORD@]HOST[:PORT][/DB]"
        value = checked_service_url(value, ("redis", "rediss"), shape)
        db = urlsplit(value.get_secret_value()).path.strip("/") if value is not None else ""
        if db and not db.isdigit():
            raise ValueError(f"must look like {shape}, with a number for DB")
        return value

    @field_validator("rasa_event_broker_url")
    @classmethod
    def _check_event_broker_url(cls, value: SecretStr | None) -> SecretStr | None:
        return checked_service_url(value, ("amqp", "amqps"), "amqp://USER:PASSWORD@HOST[:PORT][/VHOST]")

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return f"http://{self.host}:{self.action_port}/webhook"

