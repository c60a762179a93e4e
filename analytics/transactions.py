"""Purchase lines in one shape, from an Online Retail file or from the CRM tables.

The shape is the UCI Online Retail schema, typed, plus a credit-note flag:

| column | type | meaning |
|---|---|---|
| ``InvoiceNo`` | str | invoice (order) number; file cancellations start with ``C`` |
| ``StockCode`` | str | product code (the CRM's ``Product.sku``) |
| ``Description`` | str | product name ("" when unknown) |
| ``Quantity`` | int64 | units; negative on credit notes |
| ``InvoiceDate`` | datetime64 (naive UTC) | when the invoice was placed |
| ``UnitPrice`` | float64 | price per unit (for analytics only; the CRM keeps money in cents) |
| ``CustomerID`` | str or missing | the customer (file: the numeric id; CRM: ``Customer.public_id``) |
| ``Country`` | str | country of the invoice ("" when unknown) |
| ``IsCreditNote`` | bool | a cancellation (file: ``C`` prefix; CRM: ``OrderKind.CREDIT_NOTE``) |

A file that cannot be read as a whole (missing, empty, not CSV text, a damaged archive, a header
without the columns) raises ``InvalidInputData`` naming the file. Rows with unusable values (no
invoice or stock code, a quantity that is not a whole number, an unreadable date) are dropped and
counted in ``frame.attrs["rows_dropped"]``; a file with no usable row is an error.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import logging
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.errors import InvalidInputData
from crm_connector import OrderKind, OrderStatus
from crm_connector.models import Customer, OrderLine, Product, SalesOrder

log = logging.getLogger(__name__)

RETAIL_COLUMNS = (
    "InvoiceNo", "StockCode", "Description", "Quantity",
    "InvoiceDate", "UnitPrice", "CustomerID", "Country",
)
COLUMNS = (*RETAIL_COLUMNS, "IsCreditNote")
CREDIT_NOTE_PREFIX = "C"

_GZIP_MAGIC = b"\x1f\x8b"
_OTHER_FORMATS = {
    b"PK\x03\x04": "a ZIP archive (unzip it first)",
    b"BZh": "a bzip2 archive",
    b"\xfd7zXZ\x00": "an xz archive",
    b"\x89PNG": "a PNG image",
    b"%PDF": "a PDF document",
    b"SQLite format 3\x00": "an SQLite database",
}


def empty_frame() -> pd.DataFrame:
    """A frame with the columns and types of ``read_transactions`` and no rows."""
    return _typed(pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS}))


def read_transactions(path: Path) -> pd.DataFrame:
    """The lines of an Online Retail ``.csv`` or ``.csv.gz`` file (see the module docstring)."""
    path = Path(path)
    compressed = _check_file(path)
    try:
        raw = pd.read_csv(
            path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
            compression="gzip" if compressed else None, on_bad_lines="skip",
            engine="c", low_memory=False,
        )
    except pd.errors.EmptyDataError as exc:
        raise InvalidInputData(f"{path.name}: the file is empty") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputData(f"{path.name}: not UTF-8 text ({exc.reason})") from exc
    except (EOFError, OSError, zlib.error, gzip.BadGzipFile) as exc:
        raise InvalidInputData(
            f"{path.name}: the compressed file is damaged or truncated ({exc})") from exc
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        raise InvalidInputData(f"{path.name}: not a readable CSV file ({exc})") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in RETAIL_COLUMNS if c not in raw.columns]
    if missing:
        raise InvalidInputData(
            f"{path.name}: expected the Online Retail columns {', '.join(RETAIL_COLUMNS)}; "
            f"missing {', '.join(missing)}")
    frame, dropped = _parse(raw[list(RETAIL_COLUMNS)])
    if frame.empty:
        raise InvalidInputData(
            f"{path.name}: no usable row ({dropped} rows with a missing code, a quantity that "
            "is not a whole number or an unreadable date)")
    if dropped:
        log.warning("%s: dropped %s of %s rows with unusable values", path.name, dropped,
                    len(raw))
    frame.attrs["rows_dropped"] = dropped
    frame.attrs["source"] = path.name
    return frame


def _check_file(path: Path) -> bool:
    """Raise for what is clearly not a CSV file; True when it is gzip-compressed."""
    if not path.exists():
        raise InvalidInputData(f"{path}: no such file")
    if not path.is_file():
        raise InvalidInputData(f"{path}: not a regular file")
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
            compressed = head.startswith(_GZIP_MAGIC)
            if compressed:
                fh.seek(0)
                with gzip.GzipFile(fileobj=fh) as unzipped:
                    head = unzipped.read(4096)
    except (OSError, EOFError, zlib.error) as exc:
        raise InvalidInputData(f"{path.name}: not a readable gzip file ({exc})") from exc
    for magic, name in _OTHER_FORMATS.items():
        if head.startswith(magic):
            raise InvalidInputData(f"{path.name}: this is {name}, not a CSV file")
    if not head.strip():
        raise InvalidInputData(f"{path.name}: the file is empty")
    if b"\x00" in head:
        raise InvalidInputData(f"{path.name}: binary data, not a CSV text file")
    return compressed


def _parse_dates(text: pd.Series) -> pd.Series:
    """ISO 8601 or the UCI spreadsheet form ``12/1/2010 8:26``; NaT when neither."""
    iso = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    todo = iso.isna() & text.ne("")
    if todo.any():
        uci = pd.to_datetime(text[todo], format="%m/%d/%Y %H:%M", errors="coerce", utc=True)
        iso = iso.copy()
        iso[todo] = uci
    return iso.dt.tz_localize(None)


def _parse(raw: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    text = raw.apply(lambda col: col.str.strip())
    quantity = pd.to_numeric(text["Quantity"], errors="coerce")
    price = pd.to_numeric(text["UnitPrice"], errors="coerce")
    dates = _parse_dates(text["InvoiceDate"])
    customer = text["CustomerID"].str.replace(r"\.0+$", "", regex=True)
    ok = (
        text["InvoiceNo"].ne("") & text["StockCode"].ne("") & quantity.notna()
        & np.isfinite(quantity.fillna(0)) & quantity.fillna(0).mod(1).eq(0) & dates.notna()
    )
    invoice = text["InvoiceNo"][ok]
    frame = pd.DataFrame({
        "InvoiceNo": invoice,
        "StockCode": text["StockCode"][ok].str.upper(),
        "Description": text["Description"][ok],
        "Quantity": quantity[ok],
        "InvoiceDate": dates[ok],
        "UnitPrice": price[ok].where(np.isfinite(price[ok].fillna(np.nan)), np.nan),
        "CustomerID": customer[ok].where(customer[ok].ne(""), None),
        "Country": text["Country"][ok],
        "IsCreditNote": invoice.str.upper().str.startswith(CREDIT_NOTE_PREFIX),
    })
    return _typed(frame.reset_index(drop=True)), int((~ok).sum())


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({
        "InvoiceNo": str, "StockCode": str, "Description": str, "Quantity": "int64",
        "InvoiceDate": "datetime64[ns]", "UnitPrice": "float64", "CustomerID": object,
        "Country": str, "IsCreditNote": bool,
    })


def transactions_from_crm(
    session: Session, *, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> pd.DataFrame:
    """The CRM's order lines in the same shape (``CustomerID`` is the customer's public id).

    Orders that were cancelled before they shipped are not sales and are left out; credit notes
    (imported cancellation invoices) are kept with their negative quantities. ``since`` and
    ``until`` (aware datetimes, ``until`` exclusive) bound ``placed_at``.
    """
    query = (
        select(SalesOrder.number, Product.sku, Product.name, OrderLine.quantity,
               SalesOrder.placed_at, OrderLine.unit_price_cents, Customer.public_id,
               SalesOrder.country, SalesOrder.kind)
        .join(OrderLine, OrderLine.order_id == SalesOrder.id)
        .join(Product, Product.id == OrderLine.product_id)
        .outerjoin(Customer, Customer.id == SalesOrder.customer_id)
        .where((SalesOrder.kind == OrderKind.CREDIT_NOTE)
               | (SalesOrder.status != OrderStatus.CANCELLED))
        .order_by(SalesOrder.placed_at, OrderLine.id)
    )
    if since is not None:
        query = query.where(SalesOrder.placed_at >= since)
    if until is not None:
        query = query.where(SalesOrder.placed_at < until)
    rows = session.execute(query).all()
    if not rows:
        return empty_frame()
    frame = pd.DataFrame(rows, columns=[
        "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
        "CustomerID", "Country", "kind",
    ])
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"], utc=True).dt.tz_localize(None)
    frame["UnitPrice"] = frame["UnitPrice"].astype("float64") / 100
    frame["Country"] = frame["Country"].fillna("")
    frame["Description"] = frame["Description"].fillna("")
    frame["IsCreditNote"] = frame.pop("kind").eq(OrderKind.CREDIT_NOTE)
    frame["CustomerID"] = frame["CustomerID"].astype(object).where(frame["CustomerID"].notna(),
                                                                   None)
    typed = _typed(frame[list(COLUMNS)])
    typed.attrs["rows_dropped"] = 0
    typed.attrs["source"] = "crm"
    return typed


def sales_lines(frame: pd.DataFrame) -> pd.DataFrame:
    """Lines that are sales: a positive quantity on an invoice that is not a credit note."""
    return frame[(frame["Quantity"] > 0) & ~frame["IsCreditNote"]]
