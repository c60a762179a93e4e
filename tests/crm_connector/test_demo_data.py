"""The demo data behind `crmbot db seed`: deterministic, plausible, consistent, with showcases.

Small sizes everywhere except one default-size data set (module fixture ``default_data``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from crm_connector import CrmSettings, create_db_engine, seed_demo_data
from crm_connector.demo import SHOWCASE, Behaviour, DemoConfig, build_tables, demo_ground_truth
from crm_connector.demo.config import add_months
from crm_connector.demo.people import DRAMA_PREFIXES
from crm_connector.models import (
    Base,
    Cancellation,
    Customer,
    OrderStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    SalesOrder,
    Shipment,
    ShipmentEvent,
    ShipmentStatus,
)
from crmbot.cli import main

AS_OF = dt.date(2026, 3, 15)
NOW = dt.datetime(2026, 3, 15, tzinfo=dt.UTC)
SMALL = {"customers": 60, "products": 40, "orders": 600}


def small(seed: int = 7, as_of: dt.date = AS_OF) -> DemoConfig:
    return DemoConfig(as_of=as_of, seed=seed, **SMALL)


def seed(settings: CrmSettings, config: DemoConfig) -> None:
    engine = create_db_engine(settings)
    try:
        with Session(engine) as session, session.begin():
            seed_demo_data(session, config)
    finally:
        engine.dispose()


#: Reference rows written by a migration (0002's default canned replies, stamped with the moment
#: the database was migrated), not by the seed; the PostgreSQL test fixture empties them.
MIGRATION_DATA = {"canned_reply"}


def dump(settings: CrmSettings) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the seed writes, ordered by primary key."""
    engine = create_db_engine(settings)
    try:
        with engine.connect() as conn:
            return {
                table.name: [
                    tuple(row)
                    for row in conn.execute(select(table).order_by(*table.primary_key.columns))
                ]
                for table in Base.metadata.sorted_tables
                if table.name not in MIGRATION_DATA
            }
    finally:
        engine.dispose()


def rows(engine: Engine, model: type[Base]) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        table = model.__table__  # type: ignore[attr-defined]
        return [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]


@pytest.fixture
def other_sqlite(tmp_path: Path, sqlite_template: Path) -> CrmSettings:
    """A second empty, migrated SQLite database (``crm_settings`` uses tmp_path/crm.sqlite)."""
    path = tmp_path / "other.sqlite"
    shutil.copy(sqlite_template, path)
    return CrmSettings(database_url=f"sqlite:///{path}")


# --- (1) determinism ------------------------------------------------------------------------


def test_same_seed_gives_identical_tables_on_every_backend(
    crm_settings: CrmSettings, other_sqlite: CrmSettings
) -> None:
    """SQLite vs SQLite, and PostgreSQL vs SQLite: the same rows, every table, every column."""
    seed(crm_settings, small())
    seed(other_sqlite, small())
    first, second = dump(crm_settings), dump(other_sqlite)
    assert first == second
    assert len(first["sales_order"]) == SMALL["orders"]
    assert len(first["customer"]) == SMALL["customers"]
    assert first["shipment_event"] and first["refund"] and first["audit_log"]


def test_a_different_seed_gives_different_content(
    sqlite_settings: CrmSettings, other_sqlite: CrmSettings
) -> None:
    seed(sqlite_settings, small(seed=1))
    seed(other_sqlite, small(seed=2))
    first, second = dump(sqlite_settings), dump(other_sqlite)
    assert first["customer"] != second["customer"]
    assert first["sales_order"] != second["sales_order"]
    assert first["product"] != second["product"]


_DIGEST = """
import datetime as dt, hashlib
from crm_connector.demo import DemoConfig, build_tables
config = DemoConfig(as_of=dt.date(2026, 3, 15), seed=7, customers=60, products=40, orders=600)
tables = build_tables(config)
print(hashlib.sha256(repr(sorted(tables.items())).encode()).hexdigest())
"""


def test_content_does_not_depend_on_the_process_or_the_wall_clock() -> None:
    """Two interpreters with different hash seeds build the same rows as this one."""
    digests = {
        subprocess.run(
            [sys.executable, "-c", _DIGEST],
            env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for hash_seed in (1, 2)
    }
    local = hashlib.sha256(repr(sorted(build_tables(small()).items())).encode()).hexdigest()
    assert digests == {local}


def test_every_timestamp_is_before_as_of() -> None:
    """Nothing happens after as-of 00:00 UTC; only promised delivery dates may lie after it."""
    tables = build_tables(small())
    for table, table_rows in tables.items():
        for row in table_rows:
            for column, value in row.items():
                if isinstance(value, dt.datetime) and column != "estimated_delivery_at":
                    assert value < NOW, (table, column, row["id"])


def test_ground_truth_names_every_customer_and_is_stable() -> None:
    truth = demo_ground_truth(small())
    tables = build_tables(small())
    assert set(truth.behaviour) == {row["public_id"] for row in tables["customer"]}
    assert truth == demo_ground_truth(small())
    assert {c.public_id for c in SHOWCASE} == set(truth.customers_with(Behaviour.SHOWCASE))
    assert len(truth.bestseller_skus) == 10


# --- (2) the default data set ------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_data(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[dict[str, Any]]:
    """The default sizes seeded into SQLite once for this module, loaded back as plain rows."""
    path = tmp_path_factory.mktemp("demo-default") / "crm.sqlite"
    shutil.copy(sqlite_template, path)
    settings = CrmSettings(database_url=f"sqlite:///{path}")
    config = DemoConfig(as_of=AS_OF)
    seed(settings, config)
    engine = create_db_engine(settings)
    try:
        data: dict[str, Any] = {
            mapper.class_.__tablename__: rows(engine, mapper.class_)
            for mapper in Base.registry.mappers
        }
    finally:
        engine.dispose()
    data["config"] = config
    data["truth"] = demo_ground_truth(config)
    yield data


def _orders_by_customer(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    public = {c["id"]: c["public_id"] for c in data["customer"]}
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for order in data["sales_order"]:
        out[public[order["customer_id"]]].append(order)
    return out


@pytest.mark.slow
def test_default_sizes_and_period(default_data: dict[str, Any]) -> None:
    d = default_data
    assert len(d["customer"]) >= 2000
    assert len(d["product"]) >= 300
    assert len({p["category_id"] for p in d["product"]}) >= 12
    assert len(d["sales_order"]) >= 20000
    placed = [o["placed_at"] for o in d["sales_order"]]
    assert min(placed).date() <= add_months(AS_OF, -18) + dt.timedelta(days=3)
    assert max(placed).date() >= AS_OF - dt.timedelta(days=2)
    assert {s["status"] for s in d["shipment"]} == set(ShipmentStatus)
    orders = len(d["sales_order"])
    refunded = {
        r["order_id"] for r in d["refund"] if not r["idempotency_key"].startswith("cancel:")
    }
    assert 0.03 <= len(refunded) / orders <= 0.06
    cancelled = [o for o in d["sales_order"] if o["status"] == OrderStatus.CANCELLED]
    assert 0.01 <= len(cancelled) / orders <= 0.03
    assert len(d["cancellation"]) == len(cancelled)
    assert {r["status"] for r in d["refund"]} >= {RefundStatus.COMPLETED, RefundStatus.REJECTED}


@pytest.mark.slow
def test_people_look_real_but_are_fictional(default_data: dict[str, Any]) -> None:
    customers = default_data["customer"]
    assert all(re.fullmatch(r"[a-z0-9._]+@example\.(com|org|net)", c["email"]) for c in customers)
    assert len({c["email"] for c in customers}) == len(customers)
    phones = [c["phone"] for c in customers if c["phone"]]
    assert len(phones) > 0.8 * len(customers)
    assert all(p.startswith(DRAMA_PREFIXES) and len(p) == 13 for p in phones)
    assert all(re.fullmatch(r"C\d{7}", c["public_id"]) for c in customers)
    numbers = [o["number"] for o in default_data["sales_order"]]
    assert all(re.fullmatch(r"10\d{6}", n) for n in numbers) and len(set(numbers)) == len(numbers)
    assert 0.2 < sum(c["marketing_consent"] for c in customers) / len(customers) < 0.7


@pytest.mark.slow
def test_weekly_and_yearly_seasonality(default_data: dict[str, Any]) -> None:
    per_day = Counter(o["placed_at"].date() for o in default_data["sales_order"])
    start, config = add_months(AS_OF, -18), default_data["config"]
    days = [start + dt.timedelta(days=i) for i in range(config.days)]

    def mean(selected: list[dt.date]) -> float:
        return sum(per_day[d] for d in selected) / len(selected)

    weekday, weekend = (
        mean([d for d in days if d.weekday() < 5]),
        mean([d for d in days if d.weekday() >= 5]),
    )
    assert weekday > 1.15 * weekend
    overall = mean(days)
    assert mean([d for d in days if d.month in (11, 12)]) > 1.25 * overall
    assert mean([d for d in days if d.month in (7, 8)]) < 0.9 * overall


@pytest.mark.slow
def test_behaviour_types_can_be_told_apart(default_data: dict[str, Any]) -> None:
    truth, orders = default_data["truth"], _orders_by_customer(default_data)
    start = dt.datetime.combine(add_months(AS_OF, -18), dt.time(), tzinfo=dt.UTC)

    def ago(days: int) -> dt.datetime:
        return NOW - dt.timedelta(days=days)

    lapsing = truth.customers_with(Behaviour.LAPSING)
    assert all(
        len(orders[c]) >= 3 and max(o["placed_at"] for o in orders[c]) < ago(120) for c in lapsing
    )
    one_off = truth.customers_with(Behaviour.ONE_OFF)
    assert all(len(orders[c]) == 1 and orders[c][0]["placed_at"] < ago(90) for c in one_off)
    new = truth.customers_with(Behaviour.NEW)
    assert all(min(o["placed_at"] for o in orders[c]) >= ago(60) for c in new)
    loyal = truth.customers_with(Behaviour.LOYAL)
    regular = [
        c
        for c in loyal
        if min(o["placed_at"] for o in orders[c]) < start + dt.timedelta(days=120)
        and max(o["placed_at"] for o in orders[c]) >= ago(120)
    ]
    assert len(regular) >= 0.95 * len(loyal)

    middle = start + (NOW - start) / 2
    growing = [o for c in truth.customers_with(Behaviour.GROWING) for o in orders[c]]
    early = [o for o in growing if o["placed_at"] < middle]
    late = [o for o in growing if o["placed_at"] >= middle]
    assert len(late) > 1.5 * len(early)
    lines = Counter(line["order_id"] for line in default_data["order_line"])
    assert sum(lines[o["id"]] for o in late) / len(late) > 1.3 * sum(
        lines[o["id"]] for o in early
    ) / len(early)


@pytest.mark.slow
def test_popularity_is_skewed_and_customers_have_tastes(default_data: dict[str, Any]) -> None:
    d = default_data
    units = Counter()
    for line in d["order_line"]:
        units[line["product_id"]] += line["quantity"]
    top10 = sum(q for _, q in units.most_common(10))
    assert top10 > 0.2 * sum(units.values())  # 10 of 300 products (3%) sell over 20% of units
    sku = {p["id"]: p["sku"] for p in d["product"]}
    assert len({sku[p] for p, _ in units.most_common(10)} & set(d["truth"].bestseller_skus)) >= 5

    category_of = {p["id"]: p["category_id"] for p in d["product"]}
    names = {c["id"]: c["name"] for c in d["category"]}
    order_customer = {o["id"]: o["customer_id"] for o in d["sales_order"]}
    public = {c["id"]: c["public_id"] for c in d["customer"]}
    hits: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for line in d["order_line"]:
        customer = public[order_customer[line["order_id"]]]
        total[customer] += 1
        hits[customer] += (
            names[category_of[line["product_id"]]] in d["truth"].favourite_categories[customer]
        )
    heavy = [c for c, n in total.items() if n >= 20]
    assert (
        sum(hits[c] / total[c] for c in heavy) / len(heavy) > 0.4
    )  # 2 of 12 categories by chance: ~0.2


@pytest.mark.slow
def test_statuses_agree_with_shipments_and_events(default_data: dict[str, Any]) -> None:
    d = default_data
    shipment_of = {s["order_id"]: s for s in d["shipment"]}
    events: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in d["shipment_event"]:
        events[event["shipment_id"]].append(event)
    in_flight = {
        ShipmentStatus.IN_TRANSIT,
        ShipmentStatus.OUT_FOR_DELIVERY,
        ShipmentStatus.DELAYED,
        ShipmentStatus.LOST,
    }
    for order in d["sales_order"]:
        shipment = shipment_of.get(order["id"])
        status = order["status"]
        if status in (OrderStatus.PLACED, OrderStatus.PAID):
            assert order["placed_at"] > NOW - dt.timedelta(days=8)
            assert shipment is None or shipment["status"] == ShipmentStatus.PENDING
        elif status == OrderStatus.CANCELLED:
            assert shipment is None
        elif status == OrderStatus.SHIPPED:
            assert shipment is not None and shipment["status"] in in_flight
        elif status == OrderStatus.DELIVERED:
            assert shipment is not None and shipment["status"] == ShipmentStatus.DELIVERED
    for shipment in d["shipment"]:
        story = events[shipment["id"]]
        times = [e["occurred_at"] for e in story]
        assert times == sorted(times)
        assert (
            story[0]["status"] == ShipmentStatus.PENDING
            and story[-1]["status"] == shipment["status"]
        )
        if shipment["status"] == ShipmentStatus.DELIVERED:
            assert shipment["delivered_at"] == story[-1]["occurred_at"]
        if shipment["status"] in (ShipmentStatus.IN_TRANSIT, ShipmentStatus.OUT_FOR_DELIVERY):
            assert shipment["estimated_delivery_at"] > story[-1]["occurred_at"]
        if shipment["status"] == ShipmentStatus.DELAYED:
            assert shipment["estimated_delivery_at"] < story[-1]["occurred_at"] < NOW
        if shipment["status"] == ShipmentStatus.LOST:
            last_scan = [e for e in story if e["location"] is not None][-1]
            assert story[-1]["occurred_at"] - last_scan["occurred_at"] > dt.timedelta(days=14)


@pytest.mark.slow
def test_money_and_references_add_up(default_data: dict[str, Any]) -> None:
    d = default_data
    lines_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for line in d["order_line"]:
        assert line["line_total_cents"] == line["quantity"] * line["unit_price_cents"]
        lines_of[line["order_id"]].append(line)
    orders = {o["id"]: o for o in d["sales_order"]}
    for order in orders.values():
        assert order["subtotal_cents"] == sum(x["line_total_cents"] for x in lines_of[order["id"]])
        assert order["total_cents"] == order["subtotal_cents"] + order["shipping_cents"]
    refunded: Counter[int] = Counter()
    for refund in d["refund"]:
        if refund["status"] != RefundStatus.REJECTED:
            refunded[refund["order_id"]] += refund["amount_cents"]
    assert all(refunded[o] <= orders[o]["total_cents"] for o in refunded)
    items: Counter[int] = Counter()
    for item in d["refund_item"]:
        items[item["refund_id"]] += item["amount_cents"]
    assert all(items[r["id"]] <= r["amount_cents"] for r in d["refund"])
    delivered = {s["order_id"] for s in d["shipment"] if s["delivered_at"] is not None}
    assert not delivered & {c["order_id"] for c in d["cancellation"]}
    captured = {
        p["order_id"]
        for p in d["payment"]
        if p["status"]
        in (PaymentStatus.CAPTURED, PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED)
    }
    assert {
        o
        for o, x in orders.items()
        if x["status"] not in (OrderStatus.PLACED, OrderStatus.CANCELLED)
    } <= captured

    audited = {(a["entity_type"], a["entity_id"]) for a in d["audit_log"]}
    assert {("refund", r["id"]) for r in d["refund"]} <= audited
    assert {("sales_order", c["order_id"]) for c in d["cancellation"]} <= audited
    assert {a["actor"] for a in d["audit_log"]} == {"system:seed"}
    assert len({r["idempotency_key"] for r in d["refund"]}) == len(d["refund"])


# --- (3) the command line ----------------------------------------------------------------------


def _invoke(url: str, *args: str) -> Any:
    return CliRunner().invoke(
        main, ["db", "seed", "--no-progress", *args], env={"CRM_DATABASE_URL": url}
    )


def _count(url: str, model: type[Base]) -> int:
    engine = create_db_engine(CrmSettings(database_url=url))
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(model)) or 0
    finally:
        engine.dispose()


def test_cli_help() -> None:
    result = CliRunner().invoke(main, ["db", "seed", "--help"])
    assert result.exit_code == 0
    assert (
        "--if-empty" in result.output and "--as-of" in result.output and "--force" in result.output
    )


def test_cli_seeds_a_new_file_then_respects_existing_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'new.sqlite'}"  # does not exist: created and migrated
    sizes = ["--customers", "40", "--products", "20", "--orders", "300", "--as-of", "2026-03-15"]
    first = _invoke(url, *sizes)
    assert first.exit_code == 0, first.output
    assert "alex.morgan@example.com" in first.output and "10000101" in first.output
    assert _count(url, SalesOrder) == 300

    again = _invoke(url, "--if-empty", *sizes)
    assert again.exit_code == 0
    assert "nothing to do" in again.output
    assert _count(url, SalesOrder) == 300

    refused = _invoke(url, *sizes)
    assert refused.exit_code != 0
    assert "not empty" in refused.output and "--force" in refused.output

    forced = _invoke(url, "--force", "--seed", "9", *sizes[:-2], "--orders", "350")
    assert forced.exit_code == 0, forced.output
    assert _count(url, SalesOrder) == 350 and _count(url, Customer) == 40


def test_cli_rejects_sizes_that_cannot_hold_the_behaviours(tmp_path: Path) -> None:
    result = _invoke(f"sqlite:///{tmp_path / 'x.sqlite'}", "--customers", "500", "--orders", "100")
    assert result.exit_code != 0
    assert "too few" in result.output


# --- (4) showcase customers --------------------------------------------------------------------


def test_showcase_orders_are_in_the_promised_states(crm_settings: CrmSettings) -> None:
    seed(crm_settings, small())
    engine = create_db_engine(crm_settings)
    try:
        orders = {o["number"]: o for o in rows(engine, SalesOrder)}
        by_id = {o["id"]: o for o in orders.values()}
        customers = {c["email"]: c for c in rows(engine, Customer)}
        shipment = {s["order_id"]: s for s in rows(engine, Shipment)}
        refunds = defaultdict(list)
        for r in rows(engine, Refund):
            refunds[by_id[r["order_id"]]["number"]].append(r)
        payment = {by_id[p["order_id"]]["number"]: p for p in rows(engine, Payment)}
        cancelled = {by_id[c["order_id"]]["number"] for c in rows(engine, Cancellation)}
        last_event = {}
        for e in rows(engine, ShipmentEvent):
            last_event[e["shipment_id"]] = e
    finally:
        engine.dispose()

    def state(number: str) -> tuple[OrderStatus, ShipmentStatus | None]:
        s = shipment.get(orders[number]["id"])
        return orders[number]["status"], s["status"] if s else None

    def days_ago(when: dt.datetime) -> int:
        return (AS_OF - when.date()).days

    alex, sam, jordan = SHOWCASE
    for person in SHOWCASE:
        row = customers[person.email]
        assert row["public_id"] == person.public_id and row["phone"] == person.phone
        assert all(orders[o.number]["customer_id"] == row["id"] for o in person.orders)
    assert not jordan.orders
    assert not any(o["customer_id"] == customers[jordan.email]["id"] for o in orders.values())

    n = alex.order_number
    assert state(n("delivered_recent")) == (OrderStatus.DELIVERED, ShipmentStatus.DELIVERED)
    assert days_ago(shipment[orders[n("delivered_recent")]["id"]]["delivered_at"]) == 5
    assert not refunds[n("delivered_recent")]
    assert days_ago(shipment[orders[n("delivered_old")]["id"]]["delivered_at"]) == 60
    assert state(n("in_transit")) == (OrderStatus.SHIPPED, ShipmentStatus.IN_TRANSIT)
    assert shipment[orders[n("in_transit")]["id"]]["estimated_delivery_at"] > NOW
    delayed = shipment[orders[n("delayed")]["id"]]
    assert state(n("delayed")) == (OrderStatus.SHIPPED, ShipmentStatus.DELAYED)
    assert (
        delayed["estimated_delivery_at"] < NOW
        and last_event[delayed["id"]]["status"] == ShipmentStatus.DELAYED
    )
    assert state(n("lost")) == (OrderStatus.SHIPPED, ShipmentStatus.LOST) and not refunds[n("lost")]
    assert state(n("paid_not_shipped")) == (OrderStatus.PAID, None)
    assert payment[n("paid_not_shipped")]["status"] == PaymentStatus.CAPTURED
    assert NOW - orders[n("paid_not_shipped")]["placed_at"] < dt.timedelta(hours=4)
    assert state(n("refunded")) == (OrderStatus.RETURNED, ShipmentStatus.DELIVERED)
    [full] = refunds[n("refunded")]
    assert (
        full["status"] == RefundStatus.COMPLETED
        and full["amount_cents"] == orders[n("refunded")]["total_cents"]
    )
    assert payment[n("refunded")]["status"] == PaymentStatus.REFUNDED

    n = sam.order_number
    assert state(n("out_for_delivery")) == (OrderStatus.SHIPPED, ShipmentStatus.OUT_FOR_DELIVERY)
    assert state(n("label_created")) == (OrderStatus.PAID, ShipmentStatus.PENDING)
    assert shipment[orders[n("label_created")]["id"]]["shipped_at"] is None
    assert state(n("awaiting_payment")) == (OrderStatus.PLACED, None)
    assert payment[n("awaiting_payment")]["status"] == PaymentStatus.PENDING
    assert state(n("cancelled")) == (OrderStatus.CANCELLED, None) and n("cancelled") in cancelled
    [back] = refunds[n("cancelled")]
    assert (
        back["idempotency_key"] == f"cancel:{n('cancelled')}"
        and back["status"] == RefundStatus.COMPLETED
    )
    assert state(n("partially_refunded")) == (OrderStatus.DELIVERED, ShipmentStatus.DELIVERED)
    [part] = refunds[n("partially_refunded")]
    assert 0 < part["amount_cents"] < orders[n("partially_refunded")]["total_cents"]
    assert payment[n("partially_refunded")]["status"] == PaymentStatus.PARTIALLY_REFUNDED
    [asked] = refunds[n("refund_requested")]
    assert asked["status"] == RefundStatus.REQUESTED and asked["processed_at"] is None
    assert state(n("returned_to_sender")) == (OrderStatus.RETURNED, ShipmentStatus.RETURNED)
    assert [r["status"] for r in refunds[n("returned_to_sender")]] == [RefundStatus.COMPLETED]


def test_showcase_is_relative_to_as_of() -> None:
    """Another as-of date moves every showcase time with it."""
    earlier = dt.date(2025, 12, 1)
    a, b = build_tables(small(as_of=AS_OF)), build_tables(small(as_of=earlier))
    shift = dt.datetime.combine(AS_OF, dt.time(), dt.UTC) - dt.datetime.combine(
        earlier, dt.time(), dt.UTC
    )
    showcase = {o.number for c in SHOWCASE for o in c.orders}
    placed_a = {o["number"]: o["placed_at"] for o in a["sales_order"] if o["number"] in showcase}
    placed_b = {o["number"]: o["placed_at"] for o in b["sales_order"] if o["number"] in showcase}
    assert placed_a.keys() == showcase
    assert all(placed_a[k] - placed_b[k] == shift for k in showcase)
