"""Deterministic demo data for the CRM: ``crmbot db seed``.

The content is a function of (seed, as-of date, sizes) alone -- ``DemoConfig`` -- never of the
wall clock: the same config writes the same rows on SQLite and PostgreSQL. ``SHOWCASE`` lists
fixed customers with orders in every interesting state; ``demo_ground_truth`` exposes the hidden
customer behaviours and tastes the analytics should recover.
"""

from crm_connector.demo.config import (
    DEFAULT_CUSTOMERS,
    DEFAULT_MONTHS,
    DEFAULT_ORDERS,
    DEFAULT_PRODUCTS,
    DEFAULT_SEED,
    MAX_MONTHS,
    MIN_CUSTOMERS,
    MIN_MONTHS,
    MIN_PRODUCTS,
    Behaviour,
    DemoConfig,
)
from crm_connector.demo.errors import DatabaseNotEmpty
from crm_connector.demo.generator import SeedSummary, build_tables, seed_demo_data
from crm_connector.demo.ground_truth import DemoGroundTruth, demo_ground_truth
from crm_connector.demo.showcase import (
    SHOWCASE,
    ShowcaseCustomer,
    ShowcaseOrder,
    showcase_customer,
    showcase_lines,
)
from crm_connector.demo.writer import (
    ProgressFactory,
    clear_crm_data,
    count_customers,
    tables_with_rows,
)

__all__ = [
    "DEFAULT_CUSTOMERS",
    "DEFAULT_MONTHS",
    "DEFAULT_ORDERS",
    "DEFAULT_PRODUCTS",
    "DEFAULT_SEED",
    "MAX_MONTHS",
    "MIN_CUSTOMERS",
    "MIN_MONTHS",
    "MIN_PRODUCTS",
    "SHOWCASE",
    "Behaviour",
    "DatabaseNotEmpty",
    "DemoConfig",
    "DemoGroundTruth",
    "ProgressFactory",
    "SeedSummary",
    "ShowcaseCustomer",
    "ShowcaseOrder",
    "build_tables",
    "clear_crm_data",
    "count_customers",
    "demo_ground_truth",
    "seed_demo_data",
    "showcase_customer",
    "showcase_lines",
    "tables_with_rows",
]
