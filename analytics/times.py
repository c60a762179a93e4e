"""Times as the analytics compute with them: naive timestamps in UTC (pandas compares naive
with naive; the CRM stores aware datetimes)."""

from __future__ import annotations

import datetime as dt

import pandas as pd


def naive_utc(when: dt.datetime | dt.date | str | pd.Timestamp) -> pd.Timestamp:
    """``when`` as a naive UTC timestamp (an aware one converted to UTC first)."""
    stamp = pd.Timestamp(when)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def naive_utc_series(values: pd.Series) -> pd.Series:
    """A column of times as naive UTC timestamps."""
    placed = pd.to_datetime(values)
    return placed.dt.tz_convert("UTC").dt.tz_localize(None) if placed.dt.tz is not None else placed
