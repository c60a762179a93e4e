"""Errors of the analytics package: one root, specific subclasses that say what to do next."""

from __future__ import annotations


class AnalyticsError(Exception):
    """Root of every error the analytics package raises on purpose."""


class NotEnoughData(AnalyticsError):
    """The data cannot support the model (too few customers, weeks or events)."""


class ArtifactError(AnalyticsError):
    """A persisted model is missing, unreadable or does not match its sidecar."""


class InvalidInputData(AnalyticsError):
    """An input file or table does not have the expected columns or values."""


class BrokerError(AnalyticsError):
    """RabbitMQ refused what the consumer asked (a queue declared with other arguments, say)."""


class BrokerUnavailable(BrokerError):
    """RabbitMQ cannot be reached (at the start, or for too long after losing it)."""
