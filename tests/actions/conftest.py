"""Fixtures of the action tests: an ``ActionContext`` over a real database (SQLite, and
PostgreSQL through ``crm_settings``), a fixed clock, and the real FAQ index built once per
session into a temporary folder through the knowledge API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sqlalchemy import select

from actions.context import ActionContext, configure
from actions.settings import ActionSettings
from crm_connector import CrmSettings, OrderKind, OrderStatus, ShipmentStatus
from crm_connector.models import Cancellation, Customer
from knowledge import FaqRetriever, KnowledgeSettings
from tests.crm_connector.factories import NOW, Sessions, days_ago, make_order, make_shipment

#: A database nobody listens on: every call fails with DatabaseUnavailable.
UNREACHABLE_DB = "postgresql+psycopg://postgres@127.0.0.1:1/unreachable"

MakeContext = Callable[..., ActionContext]


def action_settings(**overrides: Any) -> ActionSettings:
    """Settings from the given values and the defaults only (no environment, no .env)."""
    return ActionSettings(_env_file=None, **{"faq_enabled": False, **overrides})


@pytest.fixture(scope="session")
def knowledge_settings(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeSettings:
    return KnowledgeSettings(_env_file=None, index_dir=tmp_path_factory.mktemp("faq-index"))


@pytest.fixture(scope="session")
def faq_retriever(knowledge_settings: KnowledgeSettings) -> FaqRetriever:
    """The shop FAQ corpus with its index, built into a temporary folder (the index is
    missing there, so ``load`` builds it) and loaded once for the session."""
    retriever = FaqRetriever.load(knowledge_settings)
    assert Path(retriever.index.faiss_path).parent == knowledge_settings.index_dir
    return retriever


@pytest.fixture
def make_context(tmp_path: Path) -> Iterator[MakeContext]:
    """Install an ``ActionContext`` for the test (restored and closed afterwards)."""
    made: list[ActionContext] = []
    previous = configure(None)

    def make(
        crm: CrmSettings,
        *,
        clock: Callable[[], dt.datetime] = lambda: NOW,
        retriever: FaqRetriever | None = None,
        knowledge: KnowledgeSettings | None = None,
        **settings: Any,
    ) -> ActionContext:
        if retriever is not None:
            settings.setdefault("faq_enabled", True)
        context = ActionContext(
            action_settings(**settings), crm,
            knowledge or KnowledgeSettings(_env_file=None, index_dir=tmp_path / "no-index"),
            clock=clock, retriever=retriever,
        )
        made.append(context)
        configure(context)
        return context

    yield make
    configure(previous)
    for context in made:
        context.close()


@pytest.fixture
def context(crm_settings: CrmSettings, make_context: MakeContext) -> ActionContext:
    """The actions' context over the test database (SQLite, then PostgreSQL)."""
    return make_context(crm_settings)


@pytest.fixture
def faq_context(
    sqlite_settings: CrmSettings, make_context: MakeContext, faq_retriever: FaqRetriever
) -> ActionContext:
    return make_context(sqlite_settings, retriever=faq_retriever)


@pytest.fixture
def down_context(make_context: MakeContext) -> ActionContext:
    """A context whose database cannot be reached."""
    return make_context(CrmSettings(_env_file=None, database_url=UNREACHABLE_DB))


@pytest.fixture
def finished_orders(orders: None, sessions: Sessions) -> None:
    """On top of the test module's ``orders`` (customer C0000001), orders that can neither be
    cancelled nor redirected: 10004230 cancelled, 10004231 returned, 10004232 paid but with
    the carrier, C536379 a credit note."""
    with sessions.begin() as s:
        anna = s.scalars(select(Customer).where(Customer.public_id == "C0000001")).one()
        cancelled = make_order(s, anna, "10004230", status=OrderStatus.CANCELLED)
        s.add(Cancellation(order_id=cancelled.id, reason="wrong size", requested_by="bot",
                           created_at=days_ago(2)))
        make_order(s, anna, "10004231", status=OrderStatus.RETURNED)
        picked_up = make_order(s, anna, "10004232", status=OrderStatus.PAID)
        make_shipment(s, picked_up, status=ShipmentStatus.IN_TRANSIT, shipped_at=days_ago(1))
        make_order(s, anna, "C536379", kind=OrderKind.CREDIT_NOTE, paid=False)
