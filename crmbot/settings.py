"""Settings of the running platform (ports, paths), read once by the CLI."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from crm_connector import PROJECT_ROOT


class PlatformSettings(BaseSettings):
    """``CRMBOT_*`` environment variables configure where the platform's processes run."""

    model_config = SettingsConfigDict(env_prefix="CRMBOT_", env_file=".env", extra="ignore")

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

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return f"http://{self.host}:{self.action_port}/webhook"
