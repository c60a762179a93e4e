"""Import UCI Online Retail transactions (``.csv`` or ``.csv.gz``) into the CRM tables.

Mapping: each ``InvoiceNo`` becomes one ``SalesOrder`` (number = InvoiceNo, source "import",
currency GBP, placed at the invoice's earliest ``InvoiceDate`` read as UTC, the invoice's
country). Invoices starting with ``C`` become credit notes (``kind=credit_note``, status
cancelled, negative quantities kept); the others are historic orders, status delivered. Each
valid row becomes one ``OrderLine``; order totals are the sum of their lines (no shipping).
``CustomerID`` becomes a ``Customer`` with ``external_ref`` "online_retail:<id>" and public id
"OR<id>", without names or e-mail (the data set has none); rows without it are guest orders.
``StockCode`` becomes a ``Product`` (name: most frequent description; price: most recent
non-zero unit price; no category). Customers and products that already exist (same external
ref / SKU) are reused, never changed. Which rows are malformed is documented in
``online_retail_rows``.

The whole file is read and checked before anything is written, so a file that cannot be read
(``ImportFileError``) writes nothing. Progress is kept in an ``ImportBatch`` row keyed by the
file's SHA-256: running the same import again resumes an interrupted one and is a no-op after
a completed one.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from crm_connector.errors import DatabaseUnavailable, ImportFileError, InvalidInput
from crm_connector.errors import ImportConflict
from crm_connector.importers.online_retail_load import ChunkHook, InvoiceLoader, LoadResult
from crm_connector.importers.online_retail_rows import ParsedFile, RejectedRow, parse_file
from crm_connector.importers.source import check_readable, file_sha256
from crm_connector.models import ImportBatch, utcnow

log = logging.getLogger(__name__)

IMPORT_KIND = "online_retail"
DEFAULT_CHUNK_INVOICES = 500


@dataclass
class ImportSummary:
    """What an import did. Row and invoice totals cover the whole file: rows loaded by earlier,
    interrupted runs of the same file count as loaded."""

    file_name: str
    file_sha256: str
    batch_id: int
    #: True when this file had already been imported completely and nothing was done.
    already_completed: bool
    #: True when this run continued an interrupted import of the same file.
    resumed: bool
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    invoices_loaded: int  # orders and credit notes of this file in the database
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    rejects: list[RejectedRow] = field(default_factory=list)
    blank_lines: int = 0
    #: Done by this run (0 on a no-op):
    orders_created: int = 0
    credit_notes_created: int = 0
    invoices_already_present: int = 0
    customers_created: int = 0
    products_created: int = 0
    seconds: float = 0.0


def import_online_retail(
    engine: Engine,
    path: str | Path,
    *,
    chunk_invoices: int = DEFAULT_CHUNK_INVOICES,
    rejects_out: str | Path | None = None,
    progress: bool = False,
    chunk_hook: ChunkHook | None = None,
) -> ImportSummary:
    """Import one Online Retail file; see the module docstring for the mapping.

    ``chunk_invoices`` whole invoices are committed per transaction. ``rejects_out`` receives
    every skipped row as CSV (``line,reason,detail,row``). ``progress`` shows tqdm bars on
    stderr. ``chunk_hook`` is for tests (see ``ChunkHook``).

    Raises ``ImportFileError`` (nothing written) when the file cannot be read as this format,
    ``DatabaseUnavailable`` on a database error and ``ImportConflict`` when another process
    writes the same invoices at the same time; in every case committed chunks stay and running
    the import again resumes it.
    """
    if chunk_invoices < 1:
        raise InvalidInput("chunk_invoices must be at least 1")
    started = time.monotonic()
    path = Path(path)
    check_readable(path)
    sha256 = file_sha256(path)
    try:
        done = _completed_batch(engine, sha256)
        if done is not None:
            log.info("import batch %s: file already imported, nothing to do", done.id)
            return _summary_of_completed(done, path.name, time.monotonic() - started)
        parsed = parse_file(path, progress=progress)
        batch_id, resumed = _start_batch(engine, path.name, sha256, parsed)
        log.info("import batch %s: %s rows read, %s malformed, %s invoices%s", batch_id,
                 parsed.rows_read, len(parsed.rejects), len(parsed.invoices),
                 " (resuming)" if resumed else "")
        try:
            loaded = InvoiceLoader(engine, parsed, batch_id, chunk_hook).run(
                chunk_invoices, progress=progress)
        except (Exception, KeyboardInterrupt):
            _mark_failed(engine, batch_id)
            raise
        rejects = sorted(parsed.rejects + loaded.conflicts, key=lambda r: r.line)
        _finish_batch(engine, batch_id, parsed, loaded)
    except IntegrityError as exc:
        raise ImportConflict(
            f"{path.name}: another process wrote the same invoices at the same time; "
            "run the import again to resume it"
        ) from exc
    except DBAPIError as exc:
        raise DatabaseUnavailable(
            f"database error while importing {path.name}: {_first_line(exc.orig)} "
            "(is the schema up to date? run `crmbot db upgrade`); run the import again to resume"
        ) from exc
    if rejects_out is not None:
        write_rejects(rejects, Path(rejects_out))
    summary = ImportSummary(
        file_name=path.name, file_sha256=sha256, batch_id=batch_id, already_completed=False,
        resumed=resumed, rows_read=parsed.rows_read,
        rows_loaded=loaded.rows_in_db, rows_rejected=len(rejects),
        invoices_loaded=loaded.invoices_in_db,
        rejected_by_reason=dict(Counter(str(r.reason) for r in rejects).most_common()),
        rejects=rejects, blank_lines=parsed.blank_lines,
        orders_created=loaded.invoices_loaded, credit_notes_created=loaded.credit_notes_loaded,
        invoices_already_present=loaded.invoices_present,
        customers_created=loaded.customers_created, products_created=loaded.products_created,
        seconds=time.monotonic() - started,
    )
    log.info("import batch %s: completed, %s rows loaded, %s rejected, in %.1f s",
             batch_id, summary.rows_loaded, summary.rows_rejected, summary.seconds)
    return summary


def write_rejects(rejects: list[RejectedRow], path: Path) -> None:
    """Every skipped row: file line, reason code, explanation, and the row as read (CSV)."""
    try:
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["line", "reason", "detail", "row"])
            for reject in rejects:
                writer.writerow([reject.line, str(reject.reason), reject.detail,
                                 _as_csv(reject.fields)])
    except OSError as exc:
        raise ImportFileError(
            f"{path}: cannot write the rejects file ({exc.strerror or exc})") from exc


def _as_csv(fields: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue()


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip() if error is not None else ""
    return (text.splitlines() or ["unknown error"])[0][:200]


def _completed_batch(engine: Engine, sha256: str) -> ImportBatch | None:
    with Session(engine) as session:
        return session.scalars(
            select(ImportBatch)
            .where(ImportBatch.kind == IMPORT_KIND, ImportBatch.file_sha256 == sha256,
                   ImportBatch.status == "completed")
            .order_by(ImportBatch.id.desc()).limit(1)
        ).first()


def _start_batch(engine: Engine, file_name: str, sha256: str,
                 parsed: ParsedFile) -> tuple[int, bool]:
    """Reuse the latest unfinished batch of this file (resume) or open a new one."""
    with Session(engine) as session, session.begin():
        batch = session.scalars(
            select(ImportBatch)
            .where(ImportBatch.kind == IMPORT_KIND, ImportBatch.file_sha256 == sha256,
                   ImportBatch.status.in_(("running", "failed")))
            .order_by(ImportBatch.id.desc()).limit(1)
        ).first()
        resumed = batch is not None
        if batch is None:
            batch = ImportBatch(kind=IMPORT_KIND, file_name=file_name[:255], file_sha256=sha256)
            session.add(batch)
        batch.status = "running"
        batch.rows_read = parsed.rows_read
        batch.rows_rejected = len(parsed.rejects)
        session.flush()
        return batch.id, resumed


def _mark_failed(engine: Engine, batch_id: int) -> None:
    try:
        with Session(engine) as session, session.begin():
            session.execute(update(ImportBatch)
                            .where(ImportBatch.id == batch_id, ImportBatch.status == "running")
                            .values(status="failed"))
    except DBAPIError:
        log.warning("import batch %s: could not be marked as failed", batch_id, exc_info=True)
    log.warning("import batch %s: interrupted; running the same import again resumes it", batch_id)


def _finish_batch(engine: Engine, batch_id: int, parsed: ParsedFile, loaded: LoadResult) -> None:
    with Session(engine) as session, session.begin():
        session.execute(update(ImportBatch).where(ImportBatch.id == batch_id).values(
            status="completed",
            rows_read=parsed.rows_read,
            rows_loaded=loaded.rows_in_db,
            rows_rejected=len(parsed.rejects) + len(loaded.conflicts),
            invoices_loaded=loaded.invoices_in_db,
            finished_at=utcnow(),
        ))


def _summary_of_completed(batch: ImportBatch, file_name: str, seconds: float) -> ImportSummary:
    return ImportSummary(
        file_name=file_name, file_sha256=batch.file_sha256, batch_id=batch.id,
        already_completed=True, resumed=False, rows_read=batch.rows_read,
        rows_loaded=batch.rows_loaded, rows_rejected=batch.rows_rejected,
        invoices_loaded=batch.invoices_loaded, seconds=seconds,
    )
