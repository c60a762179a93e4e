"""Reading purchase lines: Online Retail files (plain and gzip, broken ones) and the CRM."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.orm import Session, sessionmaker

from analytics import InvalidInputData, read_transactions, sales_lines, transactions_from_crm
from analytics.transactions import COLUMNS
from crm_connector import OrderKind, OrderStatus
from tests.crm_connector.factories import days_ago, make_customer, make_order

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
ROWS = (
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,"
    "United Kingdom\n"
    "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom\n"
    "C536379,D,Discount,-1,2010-12-01 09:41:00,27.50,14527.0,United Kingdom\n"
    "536370,22728,ALARM CLOCK BAKELIKE PINK,24,2010-12-01 08:45:00,3.75,,France\n"
)


def write(tmp_path: Path, text: str, name: str = "retail.csv") -> Path:
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["retail.csv", "retail.csv.gz"])
def test_reads_plain_and_gzip_files_into_typed_lines(tmp_path: Path, name: str) -> None:
    frame = read_transactions(write(tmp_path, HEADER + ROWS, name))

    assert len(frame) == 4 and frame.attrs["rows_dropped"] == 0
    first = frame.iloc[0]
    assert first["StockCode"] == "85123A" and first["Quantity"] == 6
    assert first["CustomerID"] == "17850"  # "17850.0" in the file
    assert str(frame["InvoiceDate"].iloc[1]) == "2010-12-01 08:26:00"  # the UCI spreadsheet form
    assert pd.isna(frame["CustomerID"].iloc[3])  # guest order
    assert frame["IsCreditNote"].tolist() == [False, False, True, False]
    assert sales_lines(frame)["InvoiceNo"].tolist() == ["536365", "536365", "536370"]


def test_rows_with_unusable_values_are_dropped_and_counted(tmp_path: Path) -> None:
    bad = ("536371,22729,CLOCK,six,2010-12-01 08:45:00,3.75,12583,France\n"
           "536372,,NO CODE,1,2010-12-01 08:45:00,3.75,12583,France\n"
           "536373,22730,CLOCK,2,yesterday,3.75,12583,France\n"
           "536374,22731,CLOCK,1.5,2010-12-01 08:45:00,3.75,12583,France\n")
    frame = read_transactions(write(tmp_path, HEADER + ROWS + bad))
    assert len(frame) == 4
    assert frame.attrs["rows_dropped"] == 4


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"PK\x03\x04rest-of-a-zip", "ZIP archive"),
        (b"\x1f\x8b\x08\x00garbage", "gzip"),
        (b"a,b\n1,2\n", "missing InvoiceNo"),
        (HEADER.encode(), "no usable row"),
        (b"\x00\x01\x02binary", "binary"),
    ],
)
def test_broken_files_are_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidInputData, match=message):
        read_transactions(path)


def test_a_truncated_archive_and_a_missing_file(tmp_path: Path) -> None:
    whole = gzip.compress((HEADER + ROWS * 2000).encode())
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InvalidInputData, match="damaged or truncated"):
        read_transactions(cut)
    with pytest.raises(InvalidInputData, match="no such file"):
        read_transactions(tmp_path / "nope.csv")


def test_the_crm_gives_the_same_shape(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        anna = make_customer(s, "C0000001")
        make_order(s, anna, "10004217", placed_at=days_ago(3), lines=[("MUG-1", 2, 250)])
        make_order(s, anna, "10004218", status=OrderStatus.CANCELLED, lines=[("MUG-1", 9, 250)])
        make_order(s, anna, "C536379", kind=OrderKind.CREDIT_NOTE, status=OrderStatus.CANCELLED,
                   lines=[("MUG-1", -1, 250)], paid=False)
    with sessions.begin() as s:
        frame = transactions_from_crm(s)

    assert list(frame.columns) == list(COLUMNS)
    # the cancelled order is not a sale; the credit note stays, flagged
    assert sorted(frame["InvoiceNo"]) == ["10004217", "C536379"]
    sale = frame[frame["InvoiceNo"] == "10004217"].iloc[0]
    assert sale["CustomerID"] == "C0000001" and sale["Quantity"] == 2
    assert sale["UnitPrice"] == pytest.approx(2.50)
    assert frame.set_index("InvoiceNo")["IsCreditNote"].to_dict() == {
        "10004217": False, "C536379": True}
    assert sales_lines(frame)["InvoiceNo"].tolist() == ["10004217"]
