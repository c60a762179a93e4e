"""Settings of the web gateway (``WEB_*`` environment variables or ``.env``), read once by the
entry point (``python -m web`` / ``crmbot web``) and passed to ``init_app``."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEB_", env_file=".env", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Interface the gateway binds to.")
    port: int = Field(default=8080, ge=1, le=65535)
    rasa_url: str = Field(default="http://127.0.0.1:5005", description="Rasa server (REST channel).")
    rasa_timeout_seconds: float = Field(
        default=4.0, gt=0, le=60,
        description="How long a customer waits for the bot before the gateway apologises and "
        "offers a person (the request keeps running until rasa_request_timeout_seconds).")
    rasa_request_timeout_seconds: float = Field(
        default=60.0, gt=0, le=600,
        description="When the gateway gives up on one Rasa request; the message stays pending "
        "and is redelivered (after checking Rasa's tracker, so it is never processed twice).")
    redeliver_interval_seconds: float = Field(
        default=2.0, gt=0, description="How often pending messages are retried while the bot is down.")
    session_secret: SecretStr = Field(
        description="Secret for session cookies and conversation tokens (at least 32 characters). "
        "Required: `make run` / `crmbot up` generate one into var/web-session-secret.")
    cookie_secure: bool = Field(default=False, description="Send the session cookie over HTTPS only.")
    session_max_age_seconds: int = Field(default=8 * 3600, gt=0)
    telegram_bot_token: SecretStr | None = Field(default=None, description="Telegram Bot API token.")
    telegram_secret: SecretStr | None = Field(
        default=None, description="Expected X-Telegram-Bot-Api-Secret-Token of webhook calls.")
    telegram_api_url: str = Field(default="https://api.telegram.org",
                                  description="Bot API base URL (tests point it at a fake).")
    allowed_link_hosts: list[str] = Field(
        default_factory=lambda: ["example.com", "shop.example.com"],
        description="Hosts the widget turns into links; other URLs are shown as text.")
    message_max_length: int = Field(default=2000, ge=1, le=4000,
                                    description="Longest customer message accepted.")

    @field_validator("session_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 32:
            raise ValueError("WEB_SESSION_SECRET must have at least 32 characters")
        return value

    @field_validator("rasa_url", "telegram_api_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")
