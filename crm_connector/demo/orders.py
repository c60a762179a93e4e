"""When each generated customer orders, and what: the order schedule and the baskets.

Each behaviour has an activity window and an intensity shape; the days are drawn with the
global weekly/yearly seasonality, so totals show both while each customer keeps their pattern.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
from dataclasses import dataclass

import numpy as np

from crm_connector.demo.catalog import Catalog
from crm_connector.demo.config import Behaviour, DemoConfig
from crm_connector.demo.people import People, Person
from crm_connector.demo.plans import PlannedLine, PlannedOrder
from crm_connector.demo.seasonality import (
    SALE_DISCOUNT_PERCENT,
    day_weights,
    hour_cumulative,
    is_sale_day,
)
from crm_connector.demo.vocab import COUNTRIES
from crm_connector.errors import InvalidInput

#: Days before as-of: lapsing customers stop at least this long ago, one-off orders are older
#: than ONE_OFF_MIN_AGE, new customers start within NEW_WINDOW.
LAPSED_FOR = 150
ONE_OFF_MIN_AGE = 90
NEW_WINDOW = 60
FREE_SHIPPING_FROM_CENTS = 5000


@dataclass(frozen=True)
class Rule:
    min_orders: int
    weight: float  # share of the remaining orders (times a per-customer random factor)
    stratified: bool  # regular spacing instead of independent draws
    basket: float  # mean number of extra lines


RULES = {
    Behaviour.LOYAL: Rule(8, 4.0, True, 0.9),
    Behaviour.GROWING: Rule(6, 3.0, True, 0.0),  # basket grows with time, see _extra_lines
    Behaviour.LAPSING: Rule(3, 1.6, False, 0.7),
    Behaviour.OCCASIONAL: Rule(2, 1.0, False, 0.6),
}
NEW_COUNTS = ((1, 0.6), (2, 0.3), (3, 0.1))


def _fixed_counts(rng: random.Random, persons: list[Person]) -> dict[int, int]:
    counts = {}
    for person in persons:
        if person.behaviour is Behaviour.ONE_OFF:
            counts[person.id] = 1
        elif person.behaviour is Behaviour.NEW:
            counts[person.id] = rng.choices(
                [c for c, _ in NEW_COUNTS], weights=[w for _, w in NEW_COUNTS]
            )[0]
    return counts


def allocate_counts(
    config: DemoConfig,
    people: People,
    generated_orders: int,
    rng: random.Random,
    np_rng: np.random.Generator,
) -> dict[int, int]:
    """Orders per generated customer, summing to exactly ``generated_orders``."""
    persons = [p for p in people.persons if p.behaviour is not Behaviour.SHOWCASE]
    counts = _fixed_counts(rng, persons)
    flexible = [p for p in persons if p.behaviour in RULES]
    minimum = sum(counts.values()) + sum(RULES[p.behaviour].min_orders for p in flexible)
    if generated_orders < minimum:
        raise InvalidInput(
            f"{config.orders} orders are too few for {config.customers} customers; "
            f"use at least {minimum + config.orders - generated_orders} orders or fewer customers"
        )
    factors = np.exp(np_rng.normal(0.0, 0.5, size=len(flexible)))
    weights = np.array([RULES[p.behaviour].weight for p in flexible]) * factors
    extra = np_rng.multinomial(generated_orders - minimum, weights / weights.sum())
    for person, more in zip(flexible, extra, strict=True):
        counts[person.id] = RULES[person.behaviour].min_orders + int(more)
    return counts


def _window(rng: random.Random, behaviour: Behaviour, days: int) -> tuple[int, int]:
    if behaviour is Behaviour.LAPSING:
        return 0, max(30, min(int(rng.uniform(0.3, 0.6) * days), days - LAPSED_FOR))
    if behaviour is Behaviour.ONE_OFF:
        return 0, days - ONE_OFF_MIN_AGE
    if behaviour is Behaviour.NEW:
        return days - NEW_WINDOW, days
    if behaviour is Behaviour.GROWING:
        return int(rng.uniform(0.0, 0.3) * days), days
    if behaviour is Behaviour.OCCASIONAL:
        return int(rng.uniform(0.0, 0.6) * days), days
    return 0, days


def _sample_days(
    np_rng: np.random.Generator,
    season: np.ndarray,
    lo: int,
    hi: int,
    count: int,
    *,
    rising: bool,
    stratified: bool,
) -> list[int]:
    weights = season[lo:hi].copy()
    if rising:
        weights *= 0.2 + 1.6 * np.linspace(0.0, 1.0, hi - lo)
    if stratified:
        cumulative = np.cumsum(weights)
        targets = (np.arange(count) + np_rng.random(count)) / count * cumulative[-1]
        picked = np.minimum(np.searchsorted(cumulative, targets, side="right"), hi - lo - 1)
    else:
        picked = np_rng.choice(hi - lo, size=count, p=weights / weights.sum())
    return sorted(int(d) + lo for d in picked)


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


class BasketMaker:
    def __init__(self, config: DemoConfig, catalog: Catalog, rng: random.Random) -> None:
        self._config, self._catalog, self._rng = config, catalog, rng

    def lines(self, person: Person, day: int, growth: float) -> list[PlannedLine]:
        """``growth`` in 0..1 is how far a growing customer is into their window (else 0)."""
        rng, catalog = self._rng, self._catalog
        rule_basket = RULES[person.behaviour].basket if person.behaviour in RULES else 0.5
        mean = 0.2 + 1.8 * growth if person.behaviour is Behaviour.GROWING else rule_basket
        quantities: dict[int, int] = {}
        for _ in range(1 + min(6, _poisson(rng, mean))):
            category = bisect.bisect_left(person.category_cumulative, rng.random())
            category = min(category, len(catalog.category_names) - 1)
            product_id = catalog.pick(rng, category, day)
            quantities[product_id] = quantities.get(product_id, 0) + self._quantity(growth)
            companion = catalog.companions.get(product_id)
            if (
                companion
                and companion not in quantities
                and rng.random() < 0.22
                and catalog.available(companion, day)
            ):
                quantities[companion] = 1
        sale = is_sale_day(self._config.start_date + dt.timedelta(days=day))
        out = []
        for product_id, quantity in quantities.items():  # the order items went into the basket
            price = catalog.product(product_id).price_cents
            if sale:
                price = price * (100 - SALE_DISCOUNT_PERCENT) // 100
            out.append(PlannedLine(product_id, quantity, price))
        return out

    def _quantity(self, growth: float) -> int:
        roll = self._rng.random()
        quantity = (
            1
            if roll < 0.72
            else 2
            if roll < 0.90
            else 3
            if roll < 0.96
            else self._rng.randint(4, 6)
        )
        if growth and self._rng.random() < 0.45 * growth:
            quantity += 1
        return quantity


def shipping_cents(country: str, subtotal_cents: int) -> int:
    if subtotal_cents >= FREE_SHIPPING_FROM_CENTS:
        return 0
    return 495 if COUNTRIES[country].transit_days == 1 else 695


def plan_orders(
    config: DemoConfig, people: People, catalog: Catalog, generated_orders: int
) -> list[PlannedOrder]:
    """The orders of every generated customer (not yet numbered), in customer order."""
    rng = random.Random(f"crmbot-demo:{config.seed}:orders")
    np_rng = np.random.default_rng([config.seed, 2])
    counts = allocate_counts(config, people, generated_orders, rng, np_rng)
    season = day_weights(config.start_date, config.days)
    hours = hour_cumulative()
    baskets = BasketMaker(config, catalog, rng)
    cities = {row["id"]: row["city"] for row in people.addresses}
    planned: list[PlannedOrder] = []
    for person in people.persons:
        if person.id not in counts:
            continue
        lo, hi = _window(rng, person.behaviour, config.days)
        rule = RULES.get(person.behaviour)
        days = _sample_days(
            np_rng,
            season,
            lo,
            hi,
            counts[person.id],
            rising=person.behaviour is Behaviour.GROWING,
            stratified=bool(rule and rule.stratified),
        )
        for day in days:
            hour = min(23, bisect.bisect_left(hours, rng.random()))
            placed_at = config.day_start(day) + dt.timedelta(
                hours=hour, minutes=rng.randint(0, 59), seconds=rng.randint(0, 59)
            )
            growth = (day - lo) / max(1, hi - lo) if person.behaviour is Behaviour.GROWING else 0.0
            lines = baskets.lines(person, day, growth)
            subtotal = sum(line.total_cents for line in lines)
            address_id = person.address_ids[0]
            if len(person.address_ids) > 1 and rng.random() < 0.25:
                address_id = person.address_ids[1]
            method = person.method if rng.random() < 0.85 else rng.choice(("card", "paypal"))
            planned.append(
                PlannedOrder(
                    customer_id=person.id,
                    customer_public_id=person.public_id,
                    address_id=address_id,
                    country=person.country,
                    city=str(cities[address_id]),
                    placed_at=placed_at,
                    lines=lines,
                    shipping_cents=shipping_cents(person.country, subtotal),
                    method=method,
                    card_last4=person.card_last4 if method == "card" else None,
                )
            )
    return planned
