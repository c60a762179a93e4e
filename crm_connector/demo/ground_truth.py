"""The generator's hidden truth, for tests that check analytics models recover it.

Nothing here is stored in the CRM tables; it is recomputed from the same ``DemoConfig``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from crm_connector.demo.catalog import build_catalog
from crm_connector.demo.config import Behaviour, DemoConfig
from crm_connector.demo.people import build_people


@dataclass(frozen=True)
class DemoGroundTruth:
    #: customer public_id -> behaviour (showcase customers are ``Behaviour.SHOWCASE``).
    behaviour: Mapping[str, Behaviour]
    #: customer public_id -> names of their two favourite categories, strongest first.
    favourite_categories: Mapping[str, tuple[str, ...]]
    #: SKUs of the ten products with the highest expected demand, highest first.
    bestseller_skus: tuple[str, ...]

    def customers_with(self, behaviour: Behaviour) -> list[str]:
        return sorted(pid for pid, b in self.behaviour.items() if b is behaviour)


def demo_ground_truth(config: DemoConfig) -> DemoGroundTruth:
    """What the data set seeded with ``config`` was generated from."""
    catalog = build_catalog(config)
    people = build_people(config)
    return DemoGroundTruth(
        behaviour=MappingProxyType({p.public_id: p.behaviour for p in people.persons}),
        favourite_categories=MappingProxyType(
            {
                p.public_id: tuple(catalog.category_names[i] for i in p.favourite_categories)
                for p in people.persons
            }
        ),
        bestseller_skus=catalog.bestsellers(10),
    )
