"""Settings of the CRM connector, read once by an entry point and passed down."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository root (the folder holding ``pyproject.toml``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "var" / "crmbot.sqlite"


class CrmSettings(BaseSettings):
    """``CRM_*`` environment variables (or a ``.env`` file) configure the CRM connector."""

    model_config = SettingsConfigDict(env_prefix="CRM_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)  # values may be secrets

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_SQLITE_PATH}",
        description="SQLAlchemy URL: the embedded SQLite file by default, "
        "or postgresql+psycopg://user@host:5432/dbname.",
    )
    echo_sql: bool = Field(default=False, description="Log every SQL statement (debugging only).")
    shop_token_secret: SecretStr = Field(
        default=SecretStr("dev-only-shop-token-secret-change-me"),
        description="HMAC secret shared with the shop website to sign customer tokens.",
    )
    shop_token_max_age_seconds: int = Field(default=3600, gt=0)
    return_window_days: int = Field(default=30, gt=0, description="Days after delivery a refund is possible.")
    sqlite_busy_timeout_seconds: float = Field(default=30.0, gt=0)
    default_phone_country_code: str | None = Field(
        default=None,
        pattern=r"^[1-9][0-9]{0,2}$",
        description="Country calling code (e.g. 49) assumed for phone numbers typed in national "
        "form (0151 ...); unset: such numbers are refused with a request for the country code.",
    )

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("CRM_DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @property
    def is_default_secret(self) -> bool:
        return self.shop_token_secret.get_secret_value() == "dev-only-shop-token-secret-change-me"


def describe_settings_error(exc: ValidationError, env_prefix: str) -> str:
    """One line per invalid setting, named as its environment variable, without the value
    (pydantic's own message repeats the input, which may be a password or a secret)."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["loc"]:  # one setting; a check across settings has no location
            message = env_prefix + "_".join(map(str, error["loc"])).upper() + ": " + message
        lines.append(message)
    return "\n".join(lines)


def checked_service_url(value: SecretStr | None, schemes: tuple[str, ...], shape: str
                        ) -> SecretStr | None:
    """An empty value means unset; otherwise the URL must have one of ``schemes``, a host, and
    a valid port. The message never repeats the value (it may hold a password)."""
    if value is None or not value.get_secret_value().strip():
        return None
    try:
        parts = urlsplit(value.get_secret_value().strip())
        port = parts.port
    except ValueError:
        port, parts = -1, None
    if parts is None or parts.scheme not in schemes or not parts.hostname or port == -1:
        raise ValueError(f"must look like {shape}")
    return SecretStr(value.get_secret_value().strip())
