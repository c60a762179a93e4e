"""Settings of the web gateway (``WEB_*`` environment variables or ``.env``), read once by the
entry point (``python -m web`` / ``crmbot web``) and passed to ``init_app``."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: ``WEB_WIDGET_ORIGINS`` value meaning "any site may embed the widget".
ANY_ORIGIN = "*"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEB_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)  # values may be secrets

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
    widget_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Other sites that may embed the chat widget: origins `scheme://host[:port]`, "
        "comma-separated (or a JSON list), or `*` for any site. Empty: only the gateway's own "
        "pages.")

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

    @field_validator("widget_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """``WEB_WIDGET_ORIGINS`` is comma-separated; a JSON list is accepted too."""
        if not isinstance(value, str):
            return value
        if value.strip().startswith("["):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise ValueError(f"WEB_WIDGET_ORIGINS is not a valid JSON list: {exc}") from exc
        return value.split(",")

    @field_validator("widget_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        entries = [entry.strip() for entry in value if entry.strip()]
        if ANY_ORIGIN in entries:
            if len(entries) > 1:
                raise ValueError("WEB_WIDGET_ORIGINS: `*` (any site) cannot be combined with "
                                 "other origins; use either `*` or a list of origins")
            return [ANY_ORIGIN]
        origins: list[str] = []
        for entry in entries:
            origin = _origin(entry)
            if origin not in origins:
                origins.append(origin)
        return origins


def _origin(entry: str) -> str:
    """``entry`` as a browser sends it in ``Origin``: ``scheme://host[:port]``, lower case,
    without the scheme's default port. Raises ValueError saying what to write instead."""
    problem = f"WEB_WIDGET_ORIGINS: {entry!r} is not an origin (scheme://host[:port])"
    if "://" not in entry:
        raise ValueError(f"{problem}: the scheme is missing, e.g. https://{entry.lstrip('/')}")
    try:
        parts = urlsplit(entry)
    except ValueError as exc:  # e.g. unbalanced IPv6 brackets
        raise ValueError(f"{problem}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"{problem}: the scheme must be http or https")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in entry or "#" in entry:
        raise ValueError(f"{problem}: remove the path, query or fragment; the widget's page may "
                         "be anywhere on that site")
    if "@" in parts.netloc:
        raise ValueError(f"{problem}: remove the user name")
    host = parts.hostname or ""
    if not host or "*" in host:
        raise ValueError(f"{problem}: name one host (wildcards are not supported; list each "
                         "site, or use `*` alone for any site)")
    if not host.isascii():
        raise ValueError(f"{problem}: write an internationalised host name in its xn-- form")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{problem}: the port is not a number from 1 to 65535") from exc
    if port == 0:
        raise ValueError(f"{problem}: the port is not a number from 1 to 65535")
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address keeps its brackets
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"
