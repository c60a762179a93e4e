"""Messaging channels besides the web widget. Each plugs into the gateway through its channel
adapter interface (``web.gateway``)."""

from web.channels.errors import (
    ChannelError,
    DeliveryUncertain,
    ProviderRejected,
    ProviderUnavailable,
)
from web.channels.telegram import (
    TELEGRAM,
    WEBHOOK_PATH,
    TelegramChannel,
    TelegramClient,
    TelegramUpdate,
    inline_keyboard,
    parse_update,
    secret_matches,
    setup_telegram,
)

__all__ = [
    "TELEGRAM",
    "WEBHOOK_PATH",
    "ChannelError",
    "DeliveryUncertain",
    "ProviderRejected",
    "ProviderUnavailable",
    "TelegramChannel",
    "TelegramClient",
    "TelegramUpdate",
    "inline_keyboard",
    "parse_update",
    "secret_matches",
    "setup_telegram",
]
