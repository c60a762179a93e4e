"""The demo catalogue: ~12 categories, products with prices, skewed popularity and companions.

A few bestsellers take a large share of sales (Zipf-like weights); some products are launched
during the period and a few are discontinued, and no order contains a product outside the time
it was on sale.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
from dataclasses import dataclass, field
from typing import Any

from crm_connector.demo.config import DemoConfig
from crm_connector.demo.vocab import CATEGORIES, COLOURS

#: Products are available to orders per "bucket" of this many days.
BUCKET_DAYS = 30
ZIPF_EXPONENT = 1.1


@dataclass(frozen=True)
class ProductInfo:
    id: int
    sku: str
    name: str
    category: int  # index into ``CATEGORIES``
    price_cents: int
    popularity: float
    launched_day: int  # day index (negative: before the period)
    discontinued_day: int | None


@dataclass
class Catalog:
    category_names: tuple[str, ...]
    category_share: tuple[float, ...]
    products: list[ProductInfo]
    companions: dict[int, int]
    category_rows: list[dict[str, Any]] = field(repr=False)
    product_rows: list[dict[str, Any]] = field(repr=False)
    _pools: dict[tuple[int, int], tuple[list[int], list[float]]] = field(
        default_factory=dict, repr=False
    )

    def product(self, product_id: int) -> ProductInfo:
        return self.products[product_id - 1]

    def available(self, product_id: int, day: int) -> bool:
        info = self.product(product_id)
        bucket = day // BUCKET_DAYS
        return info.launched_day < bucket * BUCKET_DAYS and (
            info.discontinued_day is None or info.discontinued_day >= (bucket + 1) * BUCKET_DAYS
        )

    def pick(self, rng: random.Random, category: int, day: int) -> int:
        """A product id of ``category`` on sale on ``day``, drawn by popularity."""
        key = (category, day // BUCKET_DAYS)
        pool = self._pools.get(key)
        if pool is None:
            ids = [
                p.id for p in self.products if p.category == category and self.available(p.id, day)
            ]
            cumulative, running = [], 0.0
            for pid in ids:
                running += self.product(pid).popularity
                cumulative.append(running)
            pool = (ids, cumulative)
            self._pools[key] = pool
        ids, cumulative = pool
        return ids[bisect.bisect_left(cumulative, rng.random() * cumulative[-1])]

    def bestsellers(self, count: int) -> tuple[str, ...]:
        """SKUs of the ``count`` products with the highest expected demand."""
        ranked = sorted(
            self.products,
            key=lambda p: (
                -self.category_share[p.category] * p.popularity / self._category_weight(p.category),
                p.id,
            ),
        )
        return tuple(p.sku for p in ranked[:count])

    def _category_weight(self, category: int) -> float:
        return sum(p.popularity for p in self.products if p.category == category)


def _price(rng: random.Random, low: int, high: int) -> int:
    value = math.exp(rng.uniform(math.log(low), math.log(high)))
    return max(149, round(value / 100.0) * 100 - 1)


def build_catalog(config: DemoConfig) -> Catalog:
    rng = random.Random(f"crmbot-demo:{config.seed}:catalog")
    names = tuple(c.name for c in CATEGORIES)
    total_demand = float(sum(c.demand for c in CATEGORIES))
    share = tuple(c.demand / total_demand for c in CATEGORIES)
    category_rows = [{"id": i + 1, "name": name, "parent_id": None} for i, name in enumerate(names)]

    # Round-robin over categories so each one has products; global popularity ranks are shuffled
    # and each category's best ranks go to its first products (product 0 of a category is its
    # bestseller, always on sale).
    per_category: list[list[int]] = [[] for _ in CATEGORIES]
    for index in range(config.products):
        per_category[index % len(CATEGORIES)].append(index)
    ranks = list(range(config.products))
    rng.shuffle(ranks)
    rank_of: dict[int, int] = {}
    for members in per_category:
        for member, rank in zip(members, sorted(ranks[m] for m in members), strict=True):
            rank_of[member] = rank

    products: list[ProductInfo] = []
    product_rows: list[dict[str, Any]] = []
    used_names: set[str] = set()
    for cat_index, members in enumerate(per_category):
        spec = CATEGORIES[cat_index]
        for position, member in enumerate(members):
            pid_global = member + 1
            product_name = f"{rng.choice(spec.adjectives)} {rng.choice(spec.nouns)}"
            while product_name in used_names:
                product_name = (
                    f"{rng.choice(spec.adjectives)} {rng.choice(spec.nouns)}, {rng.choice(COLOURS)}"
                )
                if product_name in used_names:
                    product_name = f"{product_name} {len(used_names)}"
            used_names.add(product_name)
            launched = -rng.randint(30, 1100)
            discontinued = None
            if position > 0:
                roll = rng.random()
                if roll < 0.12:
                    launched = int(rng.uniform(0.1, 0.85) * config.days)
                elif roll < 0.15:
                    discontinued = int(rng.uniform(0.3, 0.7) * config.days)
            info = ProductInfo(
                id=pid_global,
                sku=f"{spec.code}-{1000 + position}",
                name=product_name,
                category=cat_index,
                price_cents=_price(rng, *spec.price_range),
                popularity=1.0 / (rank_of[member] + 1) ** ZIPF_EXPONENT,
                launched_day=launched,
                discontinued_day=discontinued,
            )
            products.append(info)
    products.sort(key=lambda p: p.id)
    for info in products:
        launched_at = config.day_start(info.launched_day) + dt.timedelta(
            hours=9, minutes=rng.randint(0, 59)
        )
        product_rows.append(
            {
                "id": info.id,
                "sku": info.sku,
                "name": info.name,
                "category_id": info.category + 1,
                "price_cents": info.price_cents,
                "currency": "EUR",
                "active": info.discontinued_day is None,
                "created_at": launched_at,
            }
        )

    companions: dict[int, int] = {}
    for members in per_category:
        by_rank = [m + 1 for m in sorted(members, key=lambda m: rank_of[m])]
        if len(by_rank) < 2:
            continue
        for product_id in sorted(by_rank):
            others = [o for o in by_rank if o != product_id]
            companions[product_id] = rng.choice(others[: max(3, len(others) // 3)])
    return Catalog(
        category_names=names,
        category_share=share,
        products=products,
        companions=companions,
        category_rows=category_rows,
        product_rows=product_rows,
    )
