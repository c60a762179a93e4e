"""``crmbot import transactions``: UCI Online Retail files into the CRM tables.

Small generated files (plain and gzip) with known good and bad rows on both backends; file
errors; a crash in the middle of an import and its resumption; and, marked slow, the real
public file on SQLite checked against an independent pandas count.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, delete, func, select

from crm_connector import CrmSettings, ImportFileError, create_db_engine, import_online_retail
from crm_connector.importers.online_retail_rows import to_cents
from crm_connector.models import (
    Customer,
    ImportBatch,
    OrderKind,
    OrderLine,
    OrderStatus,
    Product,
    SalesOrder,
)
from crm_connector.settings import PROJECT_ROOT
from crmbot.cli import main

REAL_FILE = PROJECT_ROOT.parent / "shared/data/online_retail/transactions_until_2011-10-31.csv.gz"
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
HEART = "WHITE HANGING HEART T-LIGHT HOLDER"
UNICODE_NAME = "Crème brûlée dish ☕ 日本"

#: One physical line per entry, except entry 23 which holds a quoted newline (lines 23-24).
SMALL_LINES = [
    HEADER,                                                                                   # 1
    f"536365,85123A,{HEART},6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",              # 2
    '536365,71053,"LANTERN, WHITE METAL",6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom',  # 3
    "536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,,United Kingdom",        # 4
    "",                                                                                       # 5
    "536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,2010-12-01 08:34:00,1.69,13047.0,France",  # 6
    "536367,22745,POPPY'S PLAYHOUSE BEDROOM,0,2010-12-01 08:34:00,2.10,13047.0,France",     # 7
    "536368,22960,JAM MAKING SET WITH JARS,6,not a date,4.25,13047.0,United Kingdom",        # 8
    "536369,21756,BATH BUILDING BLOCK WORD,3,2010-12-01 08:35:00,abc,13047.0,United Kingdom",  # 9
    "536370,22728,ALARM CLOCK BAKELIKE PINK,24,2010-12-01 08:45:00,3.75,12583.0",            # 10
    "C536379,D,Discount,-1,2010-12-01 09:41:00,27.50,14527.0,United Kingdom",                # 11
    f"536380,23084,{UNICODE_NAME},2,2010-12-01 09:45:00,0.001,17809.0,United Kingdom",       # 12
    "536381,21777,,-10,2010-12-01 16:50:00,0.0,,United Kingdom",                             # 13
    "536365,84406B,CREAM CUPID HEARTS COAT HANGER,8,2010-12-01 08:27:00,2.75,17850.0,"
    "United Kingdom",                                                                         # 14
    f"536382,85123A,{HEART},1,2010-12-02 10:00:00,-2.55,17850.0,United Kingdom",             # 15
    "536383,,NO CODE,1,2010-12-02 10:00:00,1.00,17850.0,United Kingdom",                     # 16
    f",85123A,{HEART},1,2010-12-02 10:00:00,2.55,17850.0,United Kingdom",                    # 17
    f"536384,85123A,{HEART},1.5,2010-12-02 10:00:00,2.55,17850.0,United Kingdom",            # 18
    f"C536385,85123A,{HEART},3,2010-12-02 10:00:00,2.55,17850.0,United Kingdom",             # 19
    f"536386,85123A,{HEART},2,2010-12-02 11:00:00,2.65,17850.0,United Kingdom",              # 20
    f"536387,85123A,{HEART},2,2010-12-02 11:00:00,2.65,abc,United Kingdom",                  # 21
    "536365,22752,SET 7 BABUSHKA NESTING BOXES,2,2010-12-01 08:26:00,7.65,12583.0,UK",      # 22
    '536388,22086,"PAPER CHAIN KIT, 50\'S\nCHRISTMAS",2,2010-12-02 12:00:00,2.955,12583.0,'
    "France",                                                                       # 23-24
    "536389,85123A,hanging heart (variant),1,2010-12-01 07:00:00,9.99,,United Kingdom",      # 25
    "   ",                                                                                    # 26
    "536390,22633,HAND WARMER UNION JACK,1,12/3/2010 8:26,1.85,13047,France",               # 27
]
EXPECTED_REJECTS = [
    (7, "zero_quantity"), (8, "bad_date"), (9, "bad_price"), (10, "wrong_column_count"),
    (13, "negative_quantity_on_invoice"), (15, "negative_price"), (16, "missing_stock_code"),
    (17, "missing_invoice_no"), (18, "bad_quantity"), (19, "positive_quantity_on_credit_note"),
    (21, "bad_customer_id"), (22, "inconsistent_invoice"),
]
#: number -> (kind, status, customer external_ref, total cents, [(sku, qty, unit cents)])
EXPECTED_ORDERS = {
    "536365": ("order", "delivered", "online_retail:17850", 5764,
               [("85123A", 6, 255), ("71053", 6, 339), ("84406B", 8, 275)]),
    "536366": ("order", "delivered", None, 1110, [("22633", 6, 185)]),
    "536367": ("order", "delivered", "online_retail:13047", 5408, [("84879", 32, 169)]),
    "C536379": ("credit_note", "cancelled", "online_retail:14527", -2750, [("D", -1, 2750)]),
    "536380": ("order", "delivered", "online_retail:17809", 0, [("23084", 2, 0)]),
    "536386": ("order", "delivered", "online_retail:17850", 530, [("85123A", 2, 265)]),
    "536388": ("order", "delivered", "online_retail:12583", 592, [("22086", 2, 296)]),
    "536389": ("order", "delivered", None, 999, [("85123A", 1, 999)]),
    "536390": ("order", "delivered", "online_retail:13047", 185, [("22633", 1, 185)]),
}
EXPECTED_FILE_LINES = {  # physical lines of each invoice's valid rows
    "536365": [2, 3, 14], "536366": [4], "536367": [6], "C536379": [11], "536380": [12],
    "536386": [20], "536388": [23], "536389": [25], "536390": [27],
}


def write_file(path: Path, lines: list[str], *, gzipped: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    return write_file(tmp_path / "small.csv", SMALL_LINES)


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {model.__tablename__: conn.scalar(select(func.count()).select_from(model))
                for model in (SalesOrder, OrderLine, Customer, Product, ImportBatch)}


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Table contents by natural keys (ids and creation times differ between runs)."""
    with engine.connect() as conn:
        return {
            "orders": [tuple(r) for r in conn.execute(
                select(SalesOrder.number, SalesOrder.kind, SalesOrder.status, Customer.external_ref,
                       SalesOrder.currency, SalesOrder.subtotal_cents, SalesOrder.shipping_cents,
                       SalesOrder.total_cents, SalesOrder.country, SalesOrder.source,
                       SalesOrder.placed_at)
                .outerjoin(Customer, SalesOrder.customer_id == Customer.id)
                .order_by(SalesOrder.number))],
            "lines": [tuple(r) for r in conn.execute(
                select(SalesOrder.number, Product.sku, OrderLine.quantity,
                       OrderLine.unit_price_cents, OrderLine.line_total_cents)
                .join(SalesOrder, OrderLine.order_id == SalesOrder.id)
                .join(Product, OrderLine.product_id == Product.id)
                .order_by(SalesOrder.number, OrderLine.id))],
            "customers": [tuple(r) for r in conn.execute(
                select(Customer.public_id, Customer.external_ref, Customer.country,
                       Customer.first_name, Customer.last_name, Customer.email)
                .order_by(Customer.external_ref))],
            "products": [tuple(r) for r in conn.execute(
                select(Product.sku, Product.name, Product.price_cents, Product.currency,
                       Product.category_id).order_by(Product.sku))],
        }


def wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        for model in (OrderLine, SalesOrder, Customer, Product, ImportBatch):
            conn.execute(delete(model))


def test_prices_round_half_up_to_cents() -> None:
    prices = ("2.55", "0.001", "0.004", "0.005", "2.555", "38970")
    assert [to_cents(Decimal(p)) for p in prices] == [255, 0, 0, 1, 256, 3897000]


@pytest.mark.parametrize("form", ["csv", "csv.gz", "gzip named .csv", "plain named .csv.gz"])
def test_small_file_counts_rejects_and_contents(engine: Engine, tmp_path: Path, form: str) -> None:
    gzipped = form in ("csv.gz", "gzip named .csv")
    name = "small.csv.gz" if form in ("csv.gz", "plain named .csv.gz") else "small.csv"
    path = write_file(tmp_path / name, SMALL_LINES, gzipped=gzipped)

    summary = import_online_retail(engine, path)

    assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected) == (23, 11, 12)
    assert summary.blank_lines == 2
    assert [(r.line, r.reason) for r in summary.rejects] == EXPECTED_REJECTS
    assert summary.rejected_by_reason == dict(Counter(reason for _, reason in EXPECTED_REJECTS))
    assert (summary.orders_created, summary.credit_notes_created) == (8, 1)
    assert (summary.customers_created, summary.products_created) == (5, 8)
    assert not summary.already_completed and not summary.resumed

    with engine.connect() as conn:
        orders = {o.number: o for o in conn.execute(select(SalesOrder))}
        lines = conn.execute(
            select(SalesOrder.number, Product.sku, OrderLine.quantity, OrderLine.unit_price_cents,
                   OrderLine.line_total_cents)
            .join(SalesOrder, OrderLine.order_id == SalesOrder.id)
            .join(Product, OrderLine.product_id == Product.id).order_by(OrderLine.id)).all()
        refs = dict(conn.execute(select(Customer.id, Customer.external_ref)).all())
        customers = {c.external_ref: c for c in conn.execute(select(Customer))}
        products = {p.sku: p for p in conn.execute(select(Product))}
    assert set(orders) == set(EXPECTED_ORDERS)
    for number, (kind, status, ref, total, expected_lines) in EXPECTED_ORDERS.items():
        order = orders[number]
        assert (order.kind, order.status, refs.get(order.customer_id), order.total_cents) == (
            OrderKind(kind), OrderStatus(status), ref, total), number
        assert (order.currency, order.source, order.subtotal_cents, order.shipping_cents) == (
            "GBP", "import", total, 0)
        got = [(sku, qty, price) for n, sku, qty, price, _ in lines if n == number]
        assert got == expected_lines, number
    assert all(line_total == qty * price for _, _, qty, price, line_total in lines)
    # Placed at the earliest time of the invoice (lines 2 and 14 differ by a minute), in UTC;
    # the UCI spreadsheet date form is month first.
    assert orders["536365"].placed_at == dt.datetime(2010, 12, 1, 8, 26, tzinfo=dt.UTC)
    assert orders["536390"].placed_at == dt.datetime(2010, 12, 3, 8, 26, tzinfo=dt.UTC)
    assert orders["536390"].country == "France"
    # "13047.0" and "13047" are one customer; no personal data exists to import.
    assert set(customers) == {f"online_retail:{i}" for i in (17850, 13047, 14527, 17809, 12583)}
    c = customers["online_retail:13047"]
    assert (c.public_id, c.country, c.first_name, c.last_name, c.email) == (
        "OR13047", "France", None, None, None)
    # Name: the most frequent description; price: the most recent non-zero unit price.
    assert (products["85123A"].name, products["85123A"].price_cents) == (HEART, 265)
    assert (products["23084"].name, products["23084"].price_cents) == (UNICODE_NAME, 0)
    assert products["71053"].name == "LANTERN, WHITE METAL"
    assert products["22086"].name == "PAPER CHAIN KIT, 50'S\nCHRISTMAS"
    assert {p.currency for p in products.values()} == {"GBP"}
    assert {p.category_id for p in products.values()} == {None}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("header.csv", b"Invoice,Stock,Description\n1,2,3\n", "expected 'InvoiceNo,StockCode"),
        ("empty.csv", b"", "empty"),
        ("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "PNG image"),
        ("binary.csv.gz", bytes(range(256)) * 4, "binary data"),
        ("archive.csv", b"PK\x03\x04" + bytes(60), "ZIP archive"),
        ("latin1.csv",
         (HEADER + "\n536365,1,Cr\xe8me,1,2010-12-01 08:26:00,1.0,,UK\n").encode("latin-1"),
         "not UTF-8"),
        ("header.csv.gz", gzip.compress(b"a,b,c\n1,2,3\n"), "not an Online Retail"),
        ("truncated.csv.gz", gzip.compress(("\n".join(SMALL_LINES) * 50).encode())[:300],
         "damaged"),
        ("notgzip.csv.gz", b"\x1f\x8b" + bytes(range(40)), "gzip"),
    ],
    ids=lambda value: value if isinstance(value, str) and value.endswith((".csv", ".gz")) else "",
)
def test_unreadable_file_raises_and_writes_nothing(
    engine: Engine, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        import_online_retail(engine, path)
    assert set(table_counts(engine).values()) == {0}


def test_missing_file_and_directory_raise(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="no such file"):
        import_online_retail(engine, tmp_path / "missing.csv.gz")
    with pytest.raises(ImportFileError, match="not a regular file"):
        import_online_retail(engine, tmp_path)
    assert set(table_counts(engine).values()) == {0}


class SimulatedCrash(RuntimeError):
    pass


@pytest.mark.parametrize("interruption", [SimulatedCrash, KeyboardInterrupt])
def test_crash_mid_import_leaves_whole_invoices_and_resumes(
    engine: Engine, small_csv: Path, interruption: type[BaseException]
) -> None:
    crash_at_chunk = 3

    def crash(chunk: int) -> None:
        # Runs inside the chunk's transaction after its rows were inserted, before commit.
        if chunk == crash_at_chunk:
            raise interruption("simulated crash")

    with pytest.raises(interruption):
        import_online_retail(engine, small_csv, chunk_invoices=1, chunk_hook=crash)

    with engine.connect() as conn:
        numbers = conn.scalars(select(SalesOrder.number).order_by(SalesOrder.id)).all()
        line_counts = dict(conn.execute(
            select(SalesOrder.number, func.count(OrderLine.id))
            .join(OrderLine, OrderLine.order_id == SalesOrder.id)
            .group_by(SalesOrder.number)).all())
        batch = conn.execute(select(ImportBatch)).one()
    # Chunks 0..2 committed (one invoice each, in file order); chunk 3 was rolled back whole.
    assert numbers == ["536365", "536366", "536367"]
    assert line_counts == {n: len(EXPECTED_FILE_LINES[n]) for n in numbers}
    assert (batch.status, batch.invoices_loaded, batch.rows_loaded) == ("failed", 3, 5)

    resumed = import_online_retail(engine, small_csv, chunk_invoices=1)
    assert resumed.resumed and resumed.batch_id == batch.id
    assert resumed.invoices_already_present == 3
    assert (resumed.orders_created, resumed.credit_notes_created) == (5, 1)
    assert (resumed.rows_read, resumed.rows_loaded, resumed.rows_rejected) == (23, 11, 12)
    after_resume = snapshot(engine)
    assert table_counts(engine)["import_batch"] == 1

    wipe(engine)
    import_online_retail(engine, small_csv)
    assert after_resume == snapshot(engine)


def test_rerun_of_completed_import_is_a_noop(engine: Engine, small_csv: Path) -> None:
    first = import_online_retail(engine, small_csv)
    before, counts = snapshot(engine), table_counts(engine)

    again = import_online_retail(engine, small_csv)

    assert again.already_completed and again.batch_id == first.batch_id
    assert (again.rows_read, again.rows_loaded, again.rows_rejected, again.invoices_loaded) == (
        23, 11, 12, 9)
    assert (again.orders_created, again.customers_created, again.products_created) == (0, 0, 0)
    assert snapshot(engine) == before and table_counts(engine) == counts


def test_existing_invoice_with_other_content_is_reported_not_duplicated(
    engine: Engine, small_csv: Path, tmp_path: Path
) -> None:
    import_online_retail(engine, small_csv)
    before = snapshot(engine)
    other = write_file(tmp_path / "other.csv", [
        HEADER,
        f"536365,85123A,{HEART},60,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",  # 2 conflict
        "536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,,United Kingdom",  # 3 same
        "536400,22633,HAND WARMER,3,2010-12-05 10:00:00,1.95,17850.0,United Kingdom",  # 4 new
        "536365,71053,LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom",  # 5 conflict
    ])

    summary = import_online_retail(engine, other)

    assert [(r.line, r.reason) for r in summary.rejects] == [
        (2, "invoice_conflict"), (5, "invoice_conflict")]
    assert "536365" in summary.rejects[0].detail
    assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected) == (4, 2, 2)
    assert (summary.orders_created, summary.invoices_already_present) == (1, 1)
    after = snapshot(engine)
    assert [o for o in after["orders"] if o[0] != "536400"] == before["orders"]
    assert [line for line in after["lines"] if line[0] != "536400"] == before["lines"]
    # The existing product keeps its name and price: an import never changes what exists.
    assert after["products"] == before["products"]


def test_cli_imports_reports_and_writes_rejects(crm_settings: CrmSettings, small_csv: Path,
                                                tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"CRM_DATABASE_URL": crm_settings.database_url}
    rejects = tmp_path / "rejects.csv"
    args = ["import", "transactions", str(small_csv), "--no-progress"]

    result = runner.invoke(main, [*args, "--rejects-out", str(rejects)], env=env)

    assert result.exit_code == 0, result.output
    for label, value in [("rows read", 23), ("rows loaded", 11), ("rows rejected", 12),
                         ("zero_quantity", 1), ("invoices", 8), ("credit notes", 1),
                         ("customers created", 5), ("products created", 8)]:
        assert re.search(rf"^ +{label} +{value}\b", result.output, re.MULTILINE), label
    assert "line 7: zero_quantity: Quantity is 0" in result.output
    assert re.search(r"time taken +[0-9.]+ s", result.output)
    written = rejects.read_text(encoding="utf-8").splitlines()
    assert written[0] == "line,reason,detail,row"
    assert [tuple(row.split(",")[:2]) for row in written[1:]] == [
        (str(line), reason) for line, reason in EXPECTED_REJECTS]

    again = runner.invoke(main, args, env=env)
    assert again.exit_code == 0 and "already imported completely" in again.output

    bad = write_file(tmp_path / "bad.csv", ["a,b,c", "1,2,3"])
    failed = runner.invoke(main, ["import", "transactions", str(bad)], env=env)
    assert failed.exit_code == 1 and "not an Online Retail transactions file" in failed.output


def _orders(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(SalesOrder))


def _many_invoices_file(path: Path, invoices: int) -> Path:
    lines = [HEADER]
    for i in range(invoices):
        for sku in ("85123A", "71053", "22633"):
            lines.append(f"{600000 + i},{sku},ITEM {sku},{1 + i % 5},2011-01-01 10:00:00,1.25,"
                         f"{12000 + i % 300}.0,United Kingdom")
    return write_file(path, lines, gzipped=True)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_cli_process_resumes_to_the_same_database(
    sqlite_settings: CrmSettings, tmp_path: Path, sig: signal.Signals
) -> None:
    invoices = 800
    path = _many_invoices_file(tmp_path / "many.csv.gz", invoices)
    env = {**os.environ, "CRM_DATABASE_URL": sqlite_settings.database_url}
    # Ctrl-C as in a terminal: a test run started in the background by a shell inherits SIGINT
    # ignored, and so would the import.
    command = [sys.executable, "-c", "import signal; signal.signal(signal.SIGINT, "
               "signal.default_int_handler); from crmbot.cli import main; main()", "import",
               "transactions", str(path), "--chunk-invoices", "1", "--no-progress"]
    engine = create_db_engine(sqlite_settings)
    try:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while _orders(engine) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=60)
        loaded_at_kill = table_counts(engine)["sales_order"]
        assert 0 < loaded_at_kill < invoices, "the import ended before it could be interrupted"
        if sig == signal.SIGINT:
            assert process.returncode == 130 and b"run the same command again" in stderr
        with engine.connect() as conn:
            per_order = conn.scalars(
                select(func.count(OrderLine.id)).group_by(OrderLine.order_id))
            assert set(per_order) == {3}  # no half-imported invoice

        resumed = subprocess.run(command, env=env, capture_output=True, timeout=300, check=True)
        assert b"resumed an interrupted import" in resumed.stdout
        assert re.search(rf"already present +{loaded_at_kill:,} ", resumed.stdout.decode())
        after_resume = snapshot(engine)
        wipe(engine)
        import_online_retail(engine, path, chunk_invoices=500)
        assert snapshot(engine) == after_resume
        assert len(after_resume["orders"]) == invoices
        assert len(after_resume["lines"]) == 3 * invoices
    finally:
        engine.dispose()


def _independent_valid_rows(path: Path):  # type: ignore[no-untyped-def]
    """The malformed-row rules restated with pandas, vectorised, to cross-check the importer."""
    import pandas as pd

    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    invoice, sku = df["InvoiceNo"].str.strip(), df["StockCode"].str.strip()
    quantity = pd.to_numeric(df["Quantity"], errors="coerce")
    price = pd.to_numeric(df["UnitPrice"], errors="coerce")
    placed = pd.to_datetime(df["InvoiceDate"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    credit = invoice.str.startswith("C")
    valid = ((invoice != "") & (sku != "") & quantity.notna() & (quantity % 1 == 0)
             & (quantity != 0) & price.notna() & (price >= 0) & placed.notna()
             & ((credit & (quantity < 0)) | (~credit & (quantity > 0))))
    return df[valid].assign(Quantity=quantity[valid].astype(int)), len(df)


@pytest.mark.slow
def test_real_online_retail_file_on_sqlite(sqlite_settings: CrmSettings) -> None:
    if not REAL_FILE.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{REAL_FILE} is missing (required under CI=true)")
        pytest.skip(f"{REAL_FILE} is missing")
    engine = create_db_engine(sqlite_settings)
    try:
        summary = import_online_retail(engine, REAL_FILE)
        valid, rows = _independent_valid_rows(REAL_FILE)

        assert rows == summary.rows_read == 431_673
        assert summary.rows_loaded + summary.rows_rejected == summary.rows_read
        assert summary.rejected_by_reason == {
            "negative_quantity_on_invoice": 1169, "negative_price": 2}
        cents = valid["UnitPrice"].map(
            lambda p: int((Decimal(p) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)))
        with engine.connect() as conn:
            line_count, line_sum = conn.execute(
                select(func.count(), func.sum(OrderLine.line_total_cents))).one()
            kinds = dict(conn.execute(
                select(SalesOrder.kind, func.count()).group_by(SalesOrder.kind)).all())
            customers = conn.scalar(select(func.count()).select_from(Customer))
            products = conn.scalar(select(func.count()).select_from(Product))
            order_sum = conn.scalar(select(func.sum(SalesOrder.total_cents)))
        assert line_count == summary.rows_loaded == len(valid)
        assert line_sum == order_sum == int((valid["Quantity"] * cents).sum())
        assert sum(kinds.values()) == valid["InvoiceNo"].nunique() == summary.invoices_loaded
        numbers = valid["InvoiceNo"].drop_duplicates()
        assert kinds[OrderKind.CREDIT_NOTE] == numbers.str.startswith("C").sum() == 3249
        assert customers == valid.loc[valid["CustomerID"] != "", "CustomerID"].nunique()
        assert products == valid["StockCode"].nunique()
    finally:
        engine.dispose()
