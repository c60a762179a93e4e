"""Loading grouped Online Retail invoices into the CRM tables, in chunks of whole invoices.

Each chunk is one transaction holding every line of its invoices, the customers and products
they need that do not exist yet, and the import batch's progress counters. A crash loses at
most the chunk in flight, never part of an invoice. Invoices whose number is already in the
database are skipped: counted as present when their content matches (an earlier, interrupted
run of this file, or the same invoice in another file), reported as ``invoice_conflict``
otherwise.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.orm import Session
from tqdm import tqdm

from crm_connector.importers.online_retail_rows import InvoiceDraft, ParsedFile, Reason, RejectedRow
from crm_connector.models import (
    Customer,
    ImportBatch,
    OrderKind,
    OrderLine,
    OrderStatus,
    Product,
    SalesOrder,
)

log = logging.getLogger(__name__)

EXTERNAL_REF_PREFIX = "online_retail:"
PUBLIC_ID_PREFIX = "OR"
CURRENCY = "GBP"
SOURCE = "import"

#: Called inside each chunk's transaction, after its rows are inserted and before the commit,
#: with the chunk's 0-based index. Raising aborts (rolls back) that chunk: tests use it to
#: simulate a crash in the middle of an import.
ChunkHook = Callable[[int], None]
#: (kind, customer external_ref, placed_at, total_cents, number of lines, sum of quantities)
Fingerprint = tuple[str, str | None, dt.datetime, int, int, int]


def external_ref(customer_ref: str) -> str:
    return f"{EXTERNAL_REF_PREFIX}{customer_ref}"


def public_id(customer_ref: str) -> str:
    """Customer number derived from the Online Retail ``CustomerID`` ("OR17850"): stable across
    resumed and repeated imports, and distinct from the shop's own "C0001234" numbers."""
    return f"{PUBLIC_ID_PREFIX}{customer_ref}"


def fingerprint(invoice: InvoiceDraft) -> Fingerprint:
    kind = OrderKind.CREDIT_NOTE if invoice.is_credit_note else OrderKind.ORDER
    ref = external_ref(invoice.customer_ref) if invoice.customer_ref else None
    return (kind.value, ref, invoice.placed_at, invoice.total_cents, len(invoice.lines),
            sum(qty for _, _, qty, _ in invoice.lines))


@dataclass
class LoadResult:
    invoices_loaded: int = 0
    credit_notes_loaded: int = 0
    rows_loaded: int = 0
    invoices_present: int = 0
    rows_present: int = 0
    customers_created: int = 0
    products_created: int = 0
    conflicts: list[RejectedRow] = field(default_factory=list)

    def add(self, other: LoadResult) -> None:
        for name in ("invoices_loaded", "credit_notes_loaded", "rows_loaded", "invoices_present",
                     "rows_present", "customers_created", "products_created"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.conflicts.extend(other.conflicts)

    @property
    def invoices_in_db(self) -> int:
        """Invoices of the file now in the database: loaded by this run or already present."""
        return self.invoices_loaded + self.credit_notes_loaded + self.invoices_present

    @property
    def rows_in_db(self) -> int:
        return self.rows_loaded + self.rows_present


class InvoiceLoader:
    """Writes the invoices of one parsed file; caches ids of customers and products it saw."""

    def __init__(self, engine: Engine, parsed: ParsedFile, batch_id: int,
                 chunk_hook: ChunkHook | None = None) -> None:
        # On SQLite take the write lock at BEGIN, so the existence checks and the inserts of a
        # chunk see the same database even with another writer waiting.
        self._engine = (engine.execution_options(sqlite_begin="IMMEDIATE")
                        if engine.dialect.name == "sqlite" else engine)
        self._parsed = parsed
        self._batch_id = batch_id
        self._hook = chunk_hook
        self._customer_ids: dict[str, int] = {}
        self._product_ids: dict[str, int] = {}

    def run(self, chunk_invoices: int, *, progress: bool = False) -> LoadResult:
        invoices = list(self._parsed.invoices.values())
        total = LoadResult()
        with tqdm(total=len(invoices), unit="invoice", desc="loading", disable=not progress,
                  leave=False) as bar:
            for index, start in enumerate(range(0, len(invoices), chunk_invoices)):
                chunk = invoices[start:start + chunk_invoices]
                customers: dict[str, int] = {}
                products: dict[str, int] = {}
                with Session(self._engine) as session, session.begin():
                    result = self._load_chunk(session, chunk, total, customers, products)
                    if self._hook is not None:
                        self._hook(index)
                # Committed: only now may the new ids be reused by later chunks.
                self._customer_ids.update(customers)
                self._product_ids.update(products)
                total.add(result)
                bar.update(len(chunk))
                log.debug("import batch %s: chunk %s committed (%s invoices)",
                          self._batch_id, index, len(chunk))
        return total

    def _load_chunk(self, session: Session, chunk: Sequence[InvoiceDraft], done: LoadResult,
                    new_customers: dict[str, int], new_products: dict[str, int]) -> LoadResult:
        result = LoadResult()
        existing = _existing_fingerprints(session, [inv.number for inv in chunk])
        fresh: list[InvoiceDraft] = []
        for invoice in chunk:
            found = existing.get(invoice.number)
            if found is None:
                fresh.append(invoice)
            elif found == fingerprint(invoice):
                result.invoices_present += 1
                result.rows_present += len(invoice.lines)
            else:
                result.conflicts.extend(_conflict_rows(invoice))
        if fresh:
            customer_ids = self._ensure_customers(session, fresh, new_customers, result)
            product_ids = self._ensure_products(session, fresh, new_products, result)
            order_ids = _insert_orders(session, fresh, customer_ids)
            session.execute(insert(OrderLine), [
                {"order_id": order_ids[inv.number], "product_id": product_ids[sku],
                 "quantity": qty, "unit_price_cents": price, "line_total_cents": qty * price}
                for inv in fresh for _, sku, qty, price in inv.lines
            ])
            result.invoices_loaded = sum(not inv.is_credit_note for inv in fresh)
            result.credit_notes_loaded = len(fresh) - result.invoices_loaded
            result.rows_loaded = sum(len(inv.lines) for inv in fresh)
        so_far = LoadResult()
        so_far.add(done)
        so_far.add(result)
        session.execute(update(ImportBatch).where(ImportBatch.id == self._batch_id).values(
            rows_loaded=so_far.rows_in_db,
            invoices_loaded=so_far.invoices_in_db,
            rows_rejected=len(self._parsed.rejects) + len(so_far.conflicts),
        ))
        return result

    def _ensure_customers(self, session: Session, invoices: Sequence[InvoiceDraft],
                          new_ids: dict[str, int], result: LoadResult) -> dict[str, int]:
        wanted = {inv.customer_ref for inv in invoices if inv.customer_ref is not None}
        ids = {ref: self._customer_ids[ref] for ref in wanted if ref in self._customer_ids}
        missing = {external_ref(ref): ref for ref in wanted - ids.keys()}
        if missing:
            rows = session.execute(select(Customer.external_ref, Customer.id)
                                   .where(Customer.external_ref.in_(list(missing))))
            for ref, customer_id in rows:
                ids[missing.pop(ref)] = customer_id
        if missing:
            countries = self._parsed.customer_countries
            stmt = insert(Customer).returning(Customer.external_ref, Customer.id)
            created = session.execute(stmt, [
                {"public_id": public_id(ref), "external_ref": key, "country": countries.get(ref)}
                for key, ref in sorted(missing.items(), key=lambda item: int(item[1]))
            ])
            for key, customer_id in created:
                ids[missing[key]] = new_ids[missing[key]] = customer_id
            result.customers_created += len(missing)
        return ids

    def _ensure_products(self, session: Session, invoices: Sequence[InvoiceDraft],
                         new_ids: dict[str, int], result: LoadResult) -> dict[str, int]:
        wanted = {sku for inv in invoices for _, sku, _, _ in inv.lines}
        ids = {sku: self._product_ids[sku] for sku in wanted if sku in self._product_ids}
        missing = wanted - ids.keys()
        if missing:
            rows = session.execute(
                select(Product.sku, Product.id).where(Product.sku.in_(list(missing))))
            for sku, product_id in rows:
                ids[sku] = product_id
                missing.discard(sku)
        if missing:
            drafts = self._parsed.products
            created = session.execute(insert(Product).returning(Product.sku, Product.id), [
                {"sku": sku, "name": drafts[sku].name(sku),
                 "price_cents": drafts[sku].price_cents(), "currency": CURRENCY,
                 "category_id": None}
                for sku in sorted(missing)
            ])
            for sku, product_id in created:
                ids[sku] = new_ids[sku] = product_id
            result.products_created += len(missing)
        return ids


def _existing_fingerprints(session: Session, numbers: list[str]) -> dict[str, Fingerprint]:
    stmt = (
        select(SalesOrder.number, SalesOrder.kind, Customer.external_ref, SalesOrder.placed_at,
               SalesOrder.total_cents, func.count(OrderLine.id),
               func.coalesce(func.sum(OrderLine.quantity), 0))
        .outerjoin(Customer, SalesOrder.customer_id == Customer.id)
        .outerjoin(OrderLine, OrderLine.order_id == SalesOrder.id)
        .where(SalesOrder.number.in_(numbers))
        .group_by(SalesOrder.id, SalesOrder.number, SalesOrder.kind, Customer.external_ref,
                  SalesOrder.placed_at, SalesOrder.total_cents)
    )
    return {number: (OrderKind(kind).value, ref, placed_at, total, int(count), int(quantity))
            for number, kind, ref, placed_at, total, count, quantity in session.execute(stmt)}


def _conflict_rows(invoice: InvoiceDraft) -> list[RejectedRow]:
    detail = f"invoice {invoice.number} already exists in the database with different content"
    return [RejectedRow(line, Reason.INVOICE_CONFLICT, detail, (invoice.number, sku))
            for line, sku, _, _ in invoice.lines]


def _insert_orders(session: Session, invoices: Sequence[InvoiceDraft],
                   customer_ids: dict[str, int]) -> dict[str, int]:
    rows = []
    for inv in invoices:
        total = inv.total_cents
        rows.append({
            "number": inv.number,
            "kind": OrderKind.CREDIT_NOTE if inv.is_credit_note else OrderKind.ORDER,
            "status": OrderStatus.CANCELLED if inv.is_credit_note else OrderStatus.DELIVERED,
            "customer_id": customer_ids[inv.customer_ref] if inv.customer_ref is not None else None,
            "currency": CURRENCY,
            "subtotal_cents": total,
            "shipping_cents": 0,
            "total_cents": total,
            "country": inv.country,
            "source": SOURCE,
            "placed_at": inv.placed_at,
        })
    created = session.execute(insert(SalesOrder).returning(SalesOrder.number, SalesOrder.id), rows)
    return {number: order_id for number, order_id in created}
