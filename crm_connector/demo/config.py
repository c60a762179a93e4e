"""What a demo data set is a function of: ``DemoConfig`` (seed, as-of date, sizes).

Every timestamp the generator writes is derived from ``as_of``; nothing reads the wall clock.
The data "clock" stops at ``as_of`` 00:00 UTC (``DemoConfig.now``): every order, scan, refund and
audit entry happened before it, only promised delivery dates of parcels still travelling lie after.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
from dataclasses import dataclass

from crm_connector.errors import InvalidInput

DEFAULT_SEED = 42
DEFAULT_CUSTOMERS = 2000
DEFAULT_PRODUCTS = 300
DEFAULT_ORDERS = 20000
DEFAULT_MONTHS = 18

#: Bounds that keep every behaviour type and every showcase scenario representable.
MIN_CUSTOMERS = 20
MIN_PRODUCTS = 12
MIN_MONTHS = 9
MAX_MONTHS = 60
#: Order numbers are 8 digits starting with "10"; generated ones start at 10010000.
MAX_ORDERS = 300_000


class Behaviour(enum.StrEnum):
    """The hidden purchase pattern of a demo customer (never stored in the CRM tables)."""

    LOYAL = "loyal"  # regular purchases over the whole period
    LAPSING = "lapsing"  # active early, no order for the last months (churn signal)
    ONE_OFF = "one_off"  # exactly one order, not recently
    GROWING = "growing"  # order rate and basket size rise over time
    NEW = "new"  # first order within the last ~2 months
    OCCASIONAL = "occasional"  # a few orders at random times (background)
    SHOWCASE = "showcase"  # the fixed, documented demo customers (scripted orders)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months`` calendar months (the day clamped to the month's length)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class DemoConfig:
    """The inputs of the generator. Same config -> same rows, byte for byte, on any backend.

    ``customers``, ``products`` and ``orders`` are exact table sizes (showcase rows included).
    """

    as_of: dt.date
    seed: int = DEFAULT_SEED
    customers: int = DEFAULT_CUSTOMERS
    products: int = DEFAULT_PRODUCTS
    orders: int = DEFAULT_ORDERS
    months: int = DEFAULT_MONTHS

    def __post_init__(self) -> None:
        if isinstance(self.as_of, dt.datetime) or not isinstance(self.as_of, dt.date):
            raise InvalidInput("as_of must be a date (YYYY-MM-DD), not a datetime")
        for name, value in (
            ("seed", self.seed),
            ("customers", self.customers),
            ("products", self.products),
            ("orders", self.orders),
            ("months", self.months),
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidInput(f"{name} must be a whole number")
        if self.seed < 0:
            raise InvalidInput("seed must be zero or more")
        if self.customers < MIN_CUSTOMERS:
            raise InvalidInput(f"customers must be at least {MIN_CUSTOMERS}")
        if self.products < MIN_PRODUCTS:
            raise InvalidInput(f"products must be at least {MIN_PRODUCTS}")
        if not MIN_MONTHS <= self.months <= MAX_MONTHS:
            raise InvalidInput(f"months must be between {MIN_MONTHS} and {MAX_MONTHS}")
        if self.orders > MAX_ORDERS:
            raise InvalidInput(f"orders must be at most {MAX_ORDERS}")

    @property
    def now(self) -> dt.datetime:
        """The instant the data ends: ``as_of`` at 00:00 UTC."""
        return dt.datetime.combine(self.as_of, dt.time(), tzinfo=dt.UTC)

    @property
    def start_date(self) -> dt.date:
        """First day orders may be placed on: ``months`` calendar months before ``as_of``."""
        return add_months(self.as_of, -self.months)

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.start_date, dt.time(), tzinfo=dt.UTC)

    @property
    def days(self) -> int:
        """Number of whole days orders are spread over."""
        return (self.as_of - self.start_date).days

    def day_start(self, index: int) -> dt.datetime:
        """Midnight UTC of day ``index`` (0 = ``start_date``)."""
        return self.start + dt.timedelta(days=index)
