"""The UCI Online Retail file format: the rules for one row, and the file grouped by invoice.

Header: ``InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country``.

A row is *malformed*, reported with its line number and reason, and skipped, when (first
matching rule wins):

``wrong_column_count``
    not exactly 8 fields. (A line without any value, only whitespace or commas, is a blank
    line: skipped and not counted as a row.)
``missing_invoice_no`` / ``missing_stock_code``
    ``InvoiceNo`` or ``StockCode`` is empty.
``value_too_long``
    ``InvoiceNo`` or ``StockCode`` longer than 32 characters, ``Country`` longer than 64 (the
    column sizes of the CRM schema).
``bad_quantity`` / ``zero_quantity``
    ``Quantity`` is not a whole number (``1.5``, ``six``) or is 0.
``bad_price`` / ``negative_price``
    ``UnitPrice`` is not a finite decimal number, or is below 0. A price of 0 is valid (free
    items). Prices are rounded half-up to whole pence, so the four ``0.001`` prices of the
    public file become 0 cents and ``0.005`` would become 1 cent.
``bad_date``
    ``InvoiceDate`` is neither ISO 8601 (``2010-12-01 08:26:00``) nor the original UCI
    spreadsheet form ``12/1/2010 8:26`` (month first). Dates without an offset are UTC.
``bad_customer_id``
    ``CustomerID`` is neither empty (a guest order) nor a whole number (``17850`` or
    ``17850.0``) of at most 20 digits.
``negative_quantity_on_invoice``
    a negative quantity on an invoice whose number does not start with ``C``. In the public
    file these are stock adjustments (price 0, no customer, descriptions such as "damaged"),
    not sales; they are rejected rather than loaded as orders.
``positive_quantity_on_credit_note``
    a positive quantity on a ``C`` invoice (a cancellation always returns goods).
``amount_out_of_range``
    quantity x unit price does not fit the database's 32-bit integer cents.
``inconsistent_invoice``
    the row's ``CustomerID`` or ``Country`` differs from the first valid row of the same
    invoice (an invoice belongs to one customer). Different *times* on one invoice are
    accepted (the public file has 40 invoices spanning a minute boundary); the order is
    placed at the earliest.

Not malformed, loaded as they are: empty descriptions, repeated identical rows (the public file
has 3,621; each becomes its own order line, as in the source), lines of one invoice that are
not next to each other in the file, invoice numbers with other letters (``A563185``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path

from tqdm import tqdm

from crm_connector.errors import ImportFileError
from crm_connector.importers.source import open_csv

HEADER = (
    "InvoiceNo", "StockCode", "Description", "Quantity",
    "InvoiceDate", "UnitPrice", "CustomerID", "Country",
)
CREDIT_NOTE_PREFIX = "C"
MAX_CODE_LENGTH = 32
MAX_COUNTRY_LENGTH = 64
MAX_PRODUCT_NAME_LENGTH = 200
MAX_AMOUNT_CENTS = 2**31 - 1
_CENT = Decimal("0.01")
_QUANTITY = re.compile(r"[+-]?[0-9]+")
_CUSTOMER_ID = re.compile(r"([0-9]{1,20})(?:\.0+)?")
_PROGRESS_EVERY = 8192


class Reason(StrEnum):
    WRONG_COLUMN_COUNT = "wrong_column_count"
    MISSING_INVOICE_NO = "missing_invoice_no"
    MISSING_STOCK_CODE = "missing_stock_code"
    VALUE_TOO_LONG = "value_too_long"
    BAD_QUANTITY = "bad_quantity"
    ZERO_QUANTITY = "zero_quantity"
    BAD_PRICE = "bad_price"
    NEGATIVE_PRICE = "negative_price"
    BAD_DATE = "bad_date"
    BAD_CUSTOMER_ID = "bad_customer_id"
    NEGATIVE_QUANTITY_ON_INVOICE = "negative_quantity_on_invoice"
    POSITIVE_QUANTITY_ON_CREDIT_NOTE = "positive_quantity_on_credit_note"
    AMOUNT_OUT_OF_RANGE = "amount_out_of_range"
    INCONSISTENT_INVOICE = "inconsistent_invoice"
    #: Not a file rule: the invoice number is already in the database with other content.
    INVOICE_CONFLICT = "invoice_conflict"


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """One skipped row: where it starts in the file, why, and its fields as read."""

    line: int
    reason: str
    detail: str
    fields: tuple[str, ...]


#: ``(file line, stock code, quantity, unit price in cents)``
LineDraft = tuple[int, str, int, int]


@dataclass(slots=True)
class InvoiceDraft:
    number: str
    is_credit_note: bool
    customer_ref: str | None  # the CustomerID as digits, None for a guest order
    country: str | None
    placed_at: dt.datetime
    lines: list[LineDraft] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return sum(qty * price for _, _, qty, price in self.lines)


@dataclass(slots=True)
class ProductDraft:
    descriptions: Counter[str] = field(default_factory=Counter)
    #: ``((placed_at, line), cents)`` of the latest non-zero price, and of the latest price.
    latest_nonzero: tuple[tuple[dt.datetime, int], int] | None = None
    latest_any: tuple[tuple[dt.datetime, int], int] | None = None

    def name(self, sku: str) -> str:
        """The most frequent non-empty description (the first seen on a tie), else the SKU."""
        common = self.descriptions.most_common(1)
        return (common[0][0] if common else sku)[:MAX_PRODUCT_NAME_LENGTH]

    def price_cents(self) -> int:
        """The most recent non-zero unit price, or 0 when the product only ever sold for 0."""
        latest = self.latest_nonzero or self.latest_any
        return latest[1] if latest else 0


@dataclass(slots=True)
class ParsedFile:
    rows_read: int = 0
    blank_lines: int = 0
    invoices: dict[str, InvoiceDraft] = field(default_factory=dict)  # in order of first row
    products: dict[str, ProductDraft] = field(default_factory=dict)
    customer_countries: dict[str, str | None] = field(default_factory=dict)
    rejects: list[RejectedRow] = field(default_factory=list)

    @property
    def rows_valid(self) -> int:
        return self.rows_read - len(self.rejects)


def parse_price(text: str) -> Decimal | None:
    """A finite decimal number, or None (``"abc"``, ``"NaN"``, ``"inf"``)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def to_cents(value: Decimal) -> int:
    """``Decimal("2.555")`` -> 256: whole cents, rounding half-up (``0.001`` -> 0)."""
    return int(value.quantize(_CENT, rounding=ROUND_HALF_UP) * 100)


def parse_timestamp(text: str) -> dt.datetime | None:
    """ISO 8601 or UCI ``M/D/YYYY H:MM``, as an aware UTC datetime; None when unparseable."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            value = dt.datetime.strptime(text, "%m/%d/%Y %H:%M")
        except ValueError:
            return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


class _RowChecker:
    """Validates rows one by one and groups the valid ones; caches repeated dates and prices."""

    def __init__(self) -> None:
        self.parsed = ParsedFile()
        self._dates: dict[str, dt.datetime | None] = {}
        self._prices: dict[str, tuple[Decimal | None, int]] = {}

    def add(self, line: int, fields: list[str]) -> None:
        parsed = self.parsed
        if not any(f.strip() for f in fields):
            parsed.blank_lines += 1
            return
        parsed.rows_read += 1
        problem = self._check(line, fields)
        if problem is not None:
            parsed.rejects.append(RejectedRow(line, problem[0], problem[1], tuple(fields)))

    def _check(self, line: int, fields: list[str]) -> tuple[Reason, str] | None:
        if len(fields) != len(HEADER):
            return Reason.WRONG_COLUMN_COUNT, f"{len(fields)} fields, expected {len(HEADER)}"
        number, sku, description, qty_text, date_text, price_text, customer_text, country = (
            f.strip() for f in fields
        )
        if not number:
            return Reason.MISSING_INVOICE_NO, "InvoiceNo is empty"
        if not sku:
            return Reason.MISSING_STOCK_CODE, "StockCode is empty"
        if len(number) > MAX_CODE_LENGTH or len(sku) > MAX_CODE_LENGTH:
            return Reason.VALUE_TOO_LONG, f"InvoiceNo/StockCode longer than {MAX_CODE_LENGTH}"
        if len(country) > MAX_COUNTRY_LENGTH:
            return Reason.VALUE_TOO_LONG, f"Country longer than {MAX_COUNTRY_LENGTH}"
        if not _QUANTITY.fullmatch(qty_text):
            return Reason.BAD_QUANTITY, f"Quantity {qty_text!r} is not a whole number"
        quantity = int(qty_text)
        if quantity == 0:
            return Reason.ZERO_QUANTITY, "Quantity is 0"
        price_value, price = self._price(price_text)
        if price_value is None:
            return Reason.BAD_PRICE, f"UnitPrice {price_text!r} is not a number"
        if price_value < 0:
            return Reason.NEGATIVE_PRICE, f"UnitPrice {price_text} is negative"
        placed_at = self._date(date_text)
        if placed_at is None:
            return Reason.BAD_DATE, f"InvoiceDate {date_text!r} is not a date and time"
        customer_ref: str | None = None
        if customer_text:
            match = _CUSTOMER_ID.fullmatch(customer_text)
            if match is None:
                return Reason.BAD_CUSTOMER_ID, "CustomerID is not a whole number"
            customer_ref = str(int(match[1]))
        is_credit_note = number.startswith(CREDIT_NOTE_PREFIX)
        if quantity < 0 and not is_credit_note:
            return (Reason.NEGATIVE_QUANTITY_ON_INVOICE,
                    f"Quantity {quantity} on invoice {number} (a stock adjustment, not a sale)")
        if quantity > 0 and is_credit_note:
            return (Reason.POSITIVE_QUANTITY_ON_CREDIT_NOTE,
                    f"Quantity {quantity} on credit note {number}")
        if abs(quantity * price) > MAX_AMOUNT_CENTS:
            return Reason.AMOUNT_OUT_OF_RANGE, "Quantity x UnitPrice is too large"
        return self._group(line, number, is_credit_note, sku, description, quantity, price,
                           placed_at, customer_ref, country or None)

    def _group(self, line: int, number: str, is_credit_note: bool, sku: str, description: str,
               quantity: int, price: int, placed_at: dt.datetime, customer_ref: str | None,
               country: str | None) -> tuple[Reason, str] | None:
        parsed = self.parsed
        invoice = parsed.invoices.get(number)
        if invoice is None:
            invoice = parsed.invoices[number] = InvoiceDraft(
                number, is_credit_note, customer_ref, country, placed_at)
        elif invoice.customer_ref != customer_ref or invoice.country != country:
            return (Reason.INCONSISTENT_INVOICE,
                    f"CustomerID/Country differ from the first row of invoice {number}")
        elif placed_at < invoice.placed_at:
            invoice.placed_at = placed_at
        invoice.lines.append((line, sku, quantity, price))
        if customer_ref is not None and customer_ref not in parsed.customer_countries:
            parsed.customer_countries[customer_ref] = country
        product = parsed.products.get(sku)
        if product is None:
            product = parsed.products[sku] = ProductDraft()
        if description:
            product.descriptions[description] += 1
        when = (placed_at, line)
        if product.latest_any is None or when > product.latest_any[0]:
            product.latest_any = (when, price)
        if price and (product.latest_nonzero is None or when > product.latest_nonzero[0]):
            product.latest_nonzero = (when, price)
        return None

    def _price(self, text: str) -> tuple[Decimal | None, int]:
        try:
            return self._prices[text]
        except KeyError:
            value = parse_price(text)
            cached = self._prices[text] = (value, 0 if value is None else to_cents(value))
            return cached

    def _date(self, text: str) -> dt.datetime | None:
        try:
            return self._dates[text]
        except KeyError:
            value = self._dates[text] = parse_timestamp(text)
            return value


def parse_file(path: Path, *, progress: bool = False) -> ParsedFile:
    """Read and check the whole file; raise ``ImportFileError`` if it is not this format."""
    checker = _RowChecker()
    with open_csv(path) as (records, line_number, bytes_consumed):
        header = next(records, None)
        if header is None:
            raise ImportFileError(f"{path.name}: the file is empty")
        found = tuple(h.strip() for h in header)
        if found != HEADER:
            raise ImportFileError(
                f"{path.name}: not an Online Retail transactions file: the header is "
                f"{','.join(found)[:200]!r}, expected {','.join(HEADER)!r}"
            )
        size = path.stat().st_size
        with tqdm(total=size, unit="B", unit_scale=True, desc="reading", disable=not progress,
                  leave=False) as bar:
            previous_end = line_number()
            for count, fields in enumerate(records, 1):
                checker.add(previous_end + 1, fields)
                previous_end = line_number()
                if count % _PROGRESS_EVERY == 0:
                    bar.update(bytes_consumed() - bar.n)
            bar.update(size - bar.n)
    return checker.parsed
