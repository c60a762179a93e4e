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
