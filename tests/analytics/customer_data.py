"""A seeded demo CRM (SQLite) shared by the customer-model tests, and its hidden truth.

Seeding takes a few seconds, so the file is made once per test session (under pytest's base
temporary folder) and only read by the tests that use it.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from crm_connector import CrmSettings, create_db_engine, create_session_factory, seed_demo_data
from crm_connector.demo import DemoConfig, demo_ground_truth

#: 240 customers, 2,400 orders over 18 months: every behaviour type has at least 20 customers.
DEMO = DemoConfig(as_of=dt.date(2026, 3, 15), seed=42, customers=240, products=60, orders=2400)
AS_OF = DEMO.now
#: Public benchmark data beside the checkout (read by path, never copied).
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def demo_crm(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> CrmSettings:
    """Settings of the shared demo database (created on first use). Read it, never write it."""
    path = tmp_path_factory.getbasetemp() / "analytics-demo-crm.sqlite"
    settings = CrmSettings(database_url=f"sqlite:///{path}")
    if not path.exists():
        partial = path.with_suffix(".partial")
        shutil.copy(sqlite_template, partial)
        engine = create_db_engine(CrmSettings(database_url=f"sqlite:///{partial}"))
        try:
            with create_session_factory(engine).begin() as session:
                seed_demo_data(session, DEMO)
        finally:
            engine.dispose()
        partial.replace(path)
    return settings


def behaviours() -> pd.Series:
    """Hidden behaviour per customer public id (loyal, lapsing, one_off, growing, new, ...)."""
    truth = demo_ground_truth(DEMO).behaviour
    return pd.Series({pid: str(b) for pid, b in truth.items()}, name="behaviour")
