"""Read FAQ entries from CSV or JSON files and merge them into a corpus file.

CSV: a header row with ``id,question,answer`` and optionally ``alternatives``, ``category`` and
``tags`` (several alternatives or tags separated by ``|``). JSON: a list of objects with the same
keys (``alternatives`` and ``tags`` as lists), or an object with such a list under ``faqs``.
Every problem is reported with its line number, and a broken file changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowledge.corpus import Faq, load_corpus, save_corpus, validate_entries
from knowledge.errors import CorpusError, ImportFileError

logger = logging.getLogger(__name__)

CSV_REQUIRED = ("id", "question", "answer")
CSV_OPTIONAL = ("alternatives", "category", "tags")
LIST_SEPARATOR = "|"


def _read_text(path: Path) -> str:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ImportFileError(path, [f"cannot read: {exc.strerror or exc}"]) from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ImportFileError(path, [f"line {line}: not UTF-8 text (byte {exc.start})"]) from exc


def _split_list(value: str | None) -> list[str]:
    if not value:
        return []
    return [part.strip() for part in value.split(LIST_SEPARATOR) if part.strip()]


def parse_csv(text: str, *, source: object) -> list[Faq]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise ImportFileError(source, ["line 1: empty file, expected a header row"])
        columns = [h.strip().lower() for h in header]
        missing = [c for c in CSV_REQUIRED if c not in columns]
        unknown = [c for c in columns if c not in CSV_REQUIRED + CSV_OPTIONAL]
        if missing or unknown:
            problems = [f"line 1: missing column {c!r}" for c in missing]
            problems += [f"line 1: unknown column {c!r}" for c in unknown]
            problems.append(f"line 1: expected columns {', '.join(CSV_REQUIRED + CSV_OPTIONAL)}")
            raise ImportFileError(source, problems)
        raw: list[dict[str, Any]] = []
        lines: list[int] = []
        problems = []
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(columns):
                problems.append(f"line {line}: {len(row)} fields, the header has {len(columns)}")
                continue
            cells = dict(zip(columns, row, strict=True))
            entry: dict[str, Any] = {c: cells[c] for c in CSV_REQUIRED}
            entry["alternatives"] = _split_list(cells.get("alternatives"))
            entry["tags"] = _split_list(cells.get("tags"))
            if cells.get("category", "").strip():
                entry["category"] = cells["category"].strip()
            raw.append(entry)
            lines.append(line)
    except csv.Error as exc:
        raise ImportFileError(source, [f"line {reader.line_num}: not valid CSV ({exc})"]) from exc
    if problems:
        raise ImportFileError(source, problems)
    return validate_entries(raw, source=source, lines=lines, error=ImportFileError)


def parse_json(text: str, *, source: object) -> list[Faq]:
    decoder = json.JSONDecoder()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            source, [f"line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})"]
        ) from exc
    entries = data.get("faqs") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ImportFileError(
            source, ['line 1: expected a list of FAQ objects (or {"faqs": [...]})']
        )
    # Find the line where each entry starts, for messages (json.loads does not keep positions).
    lines: list[int | None] | None = []
    pos = text.find("[", text.find('"faqs"') if isinstance(data, dict) else 0) + 1
    try:
        for _ in entries:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            lines.append(text.count("\n", 0, pos) + 1)
            _, pos = decoder.raw_decode(text, pos)
    except ValueError:  # positions are only for messages; fall back to entry numbers
        lines = None
    return validate_entries(entries, source=source, lines=lines, error=ImportFileError)


def read_faq_file(path: Path) -> list[Faq]:
    """Read FAQs from a ``.csv``, ``.json``, ``.yml`` or ``.yaml`` file, fully validated."""
    path = Path(path)
    suffix = path.suffix.lower()
    text = _read_text(path)
    if suffix == ".csv":
        faqs = parse_csv(text, source=path)
    elif suffix == ".json":
        faqs = parse_json(text, source=path)
    elif suffix in (".yml", ".yaml"):
        from knowledge.corpus import parse_yaml_corpus

        try:
            faqs = parse_yaml_corpus(text, source=path)
        except CorpusError as exc:
            raise ImportFileError(path, exc.problems) from exc
    else:
        raise ImportFileError(path, [f"unknown file type {suffix!r}: use .csv, .json or .yml"])
    if not faqs:
        raise ImportFileError(path, ["no FAQ entries found"])
    return faqs


@dataclass(frozen=True)
class ImportResult:
    target: Path
    added: int
    updated: int
    unchanged: int
    removed: int
    total: int
    written: bool


def merge(existing: Sequence[Faq], incoming: Sequence[Faq]) -> tuple[list[Faq], int, int, int]:
    """Upsert by id: known ids are replaced in place, new ids appended in file order."""
    by_id = {f.id: f for f in incoming}
    added = updated = unchanged = 0
    result: list[Faq] = []
    for faq in existing:
        new = by_id.pop(faq.id, None)
        if new is None:
            result.append(faq)
        elif new == faq:
            unchanged += 1
            result.append(faq)
        else:
            updated += 1
            result.append(new)
    added = len(by_id)
    result.extend(by_id.values())
    return result, added, updated, unchanged


def import_faqs(
    source: Path, target: Path, *, replace: bool = False, dry_run: bool = False
) -> ImportResult:
    """Validate ``source`` and merge it into (or, with ``replace``, substitute for) ``target``.

    Nothing is written when the source or the existing target is invalid, or on ``dry_run``.
    """
    incoming = read_faq_file(source)
    target = Path(target)
    existing: list[Faq] = [] if replace or not target.exists() else load_corpus(target)
    if replace:
        try:
            old_ids = {f.id for f in load_corpus(target)} if target.exists() else set()
        except CorpusError:  # replacing a broken corpus is how one repairs it
            old_ids = set()
        new_ids = {f.id for f in incoming}
        result = list(incoming)
        added, updated, unchanged = len(new_ids - old_ids), len(new_ids & old_ids), 0
        removed = len(old_ids - new_ids)
    else:
        result, added, updated, unchanged = merge(existing, incoming)
        removed = 0
    written = not dry_run and (replace or added or updated or not target.exists())
    if written:
        save_corpus(target, result)
        logger.info("imported %s FAQs from %s into %s", len(incoming), source, target)
    return ImportResult(target, added, updated, unchanged, removed, len(result), bool(written))
