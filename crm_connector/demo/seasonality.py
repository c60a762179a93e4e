"""When people shop: weekly and yearly seasonality, sale days and the hour of day.

The weights are relative order intensities; they multiply each customer's own pattern.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

#: Monday .. Sunday. Weekdays are busier than the weekend (Saturday is the quietest day).
WEEKDAY_FACTOR = (1.15, 1.10, 1.05, 1.00, 0.90, 0.70, 0.85)

#: January .. December: a November/December peak and a summer dip.
MONTH_FACTOR = (0.85, 0.80, 0.92, 0.95, 0.95, 0.85, 0.72, 0.75, 0.95, 1.00, 1.40, 1.55)

#: Relative share of orders per hour of the day (UTC): quiet nights, lunch and evening peaks.
HOUR_WEIGHTS = (2, 1, 1, 1, 1, 2, 4, 6, 8, 9, 10, 11, 12, 11, 10, 10, 10, 11, 13, 15, 15, 12, 8, 4)

#: Percentage off the list price on sale days (Black Friday to Cyber Monday).
SALE_DISCOUNT_PERCENT = 15


def black_friday(year: int) -> dt.date:
    """The day after the fourth Thursday of November."""
    first = dt.date(year, 11, 1)
    first_thursday = first + dt.timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + dt.timedelta(days=22)


def is_sale_day(day: dt.date) -> bool:
    """Black Friday, the weekend after it and Cyber Monday."""
    friday = black_friday(day.year)
    return friday <= day <= friday + dt.timedelta(days=3)


def day_factor(day: dt.date) -> float:
    factor = WEEKDAY_FACTOR[day.weekday()] * MONTH_FACTOR[day.month - 1]
    if is_sale_day(day):
        factor *= 2.2
    if day.month == 12 and 24 <= day.day <= 26:
        factor *= 0.45
    if day.month == 12 and 15 <= day.day <= 20:
        factor *= 1.25  # last orders that arrive before Christmas
    return factor


def day_weights(start: dt.date, days: int) -> np.ndarray:
    """Relative order intensity of each of ``days`` days from ``start``."""
    return np.array([day_factor(start + dt.timedelta(days=i)) for i in range(days)], dtype=float)


def hour_cumulative() -> list[float]:
    total = float(sum(HOUR_WEIGHTS))
    running, out = 0.0, []
    for weight in HOUR_WEIGHTS:
        running += weight / total
        out.append(running)
    return out
