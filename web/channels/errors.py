"""Errors of the messaging channels."""

from __future__ import annotations

from web.errors import WebError


class ChannelError(WebError):
    """Root of the channel errors."""

    code = "channel_error"
    status = 502


class ProviderRejected(ChannelError):
    """The provider refused a call for good (a 4xx other than 429): retrying will not help."""

    code = "provider_rejected"

    def __init__(self, method: str, status: int, description: str) -> None:
        super().__init__(f"{method} refused with {status}: {description}")
        self.method = method
        self.http_status = status


class ProviderUnavailable(ChannelError):
    """The provider kept answering 429 or 5xx (or could not be reached) through every retry."""

    code = "provider_unavailable"


class DeliveryUncertain(ChannelError):
    """The request may have reached the provider (timeout, dropped connection after sending).

    Not retried: the Bot API has no idempotency key, so a retry could show the customer the
    same message twice.
    """

    code = "delivery_uncertain"
