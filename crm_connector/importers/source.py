"""Opening an import file: plain or gzip-compressed CSV, recognised by its first bytes.

Everything that makes a file unreadable as a whole (missing, a directory, not gzip/CSV text,
not UTF-8, a truncated archive) becomes an ``ImportFileError`` with the file's name in it.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from crm_connector.errors import ImportFileError

GZIP_MAGIC = b"\x1f\x8b"
#: Formats people often pass by mistake, by their magic bytes, with a helpful name.
_OTHER_FORMATS = {
    b"PK\x03\x04": "a ZIP archive (unzip it first)",
    b"BZh": "a bzip2 archive",
    b"\xfd7zXZ\x00": "an xz archive",
    b"\x89PNG": "a PNG image",
    b"%PDF": "a PDF document",
    b"SQLite format 3\x00": "an SQLite database",
}
_SNIFF_BYTES = 4096
#: ``(records, line_number, bytes_consumed)``, see ``open_csv``.
CsvSource = tuple[Iterator[list[str]], Callable[[], int], Callable[[], int]]
_HASH_BLOCK = 1 << 20


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file's bytes as stored (compressed files hash compressed)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as raw:
            while block := raw.read(_HASH_BLOCK):
                digest.update(block)
    except OSError as exc:
        raise ImportFileError(f"{path.name}: cannot read the file ({exc.strerror or exc})") from exc
    return digest.hexdigest()


def check_readable(path: Path) -> None:
    if not path.exists():
        raise ImportFileError(f"{path}: no such file")
    if not path.is_file():
        raise ImportFileError(f"{path}: not a regular file")


def _describe_other_format(head: bytes) -> str | None:
    for magic, name in _OTHER_FORMATS.items():
        if head.startswith(magic):
            return name
    return None


@contextmanager
def open_csv(path: Path) -> Iterator[CsvSource]:
    """Yield ``(records, line_number, bytes_consumed)`` for a UTF-8 CSV file, gzip or not.

    ``records`` is a ``csv.reader``; ``line_number()`` is the physical line the last record
    ended on; ``bytes_consumed()`` is the position in the file as stored (for progress bars).
    Decoding and decompression errors raised while iterating are turned into
    ``ImportFileError``.
    """
    check_readable(path)
    try:
        raw: BinaryIO = path.open("rb")
    except OSError as exc:
        raise ImportFileError(f"{path.name}: cannot open the file ({exc.strerror or exc})") from exc
    try:
        head = raw.read(len(GZIP_MAGIC))
        raw.seek(0)
        binary: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if head == GZIP_MAGIC else raw
        _check_text(path, _peek(path, binary))
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        with text:
            yield _guarded(path, reader), lambda: reader.line_num, raw.tell
    finally:
        raw.close()


def _peek(path: Path, stream: BinaryIO) -> bytes:
    try:
        return stream.peek(_SNIFF_BYTES)[:_SNIFF_BYTES]  # type: ignore[attr-defined]
    except (OSError, EOFError, zlib.error) as exc:
        raise ImportFileError(f"{path.name}: not a readable gzip file ({exc})") from exc


def _check_text(path: Path, head: bytes) -> None:
    other = _describe_other_format(head)
    if other:
        raise ImportFileError(f"{path.name}: this is {other}, not a CSV file")
    if not head:
        raise ImportFileError(f"{path.name}: the file is empty")
    if b"\x00" in head:
        raise ImportFileError(f"{path.name}: binary data, not a CSV text file")


def _guarded(path: Path, reader: Iterator[list[str]]) -> Iterator[list[str]]:
    try:
        yield from reader
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path.name}: not UTF-8 text ({exc.reason})") from exc
    except csv.Error as exc:
        raise ImportFileError(f"{path.name}: not a readable CSV file ({exc})") from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise ImportFileError(
            f"{path.name}: the compressed file is damaged or truncated ({exc})") from exc
