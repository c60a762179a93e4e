"""The FAQ corpus: entries, validation with line numbers, the YAML file and its content hash."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from knowledge.errors import CorpusError

logger = logging.getLogger(__name__)

#: Bumped whenever the way an index is built from a corpus changes (invalidates old indexes).
INDEX_FORMAT = "faq-index/1: question+alternatives rows, question+answer row, centred"

_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_Id = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][\w.:-]*$"
    ),
]


class Faq(BaseModel):
    """One FAQ entry: a question (and other ways to ask it) with its answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: _Id
    question: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)
    ]
    answer: _Text
    alternatives: tuple[_Text, ...] = ()
    category: str | None = None
    tags: tuple[_Text, ...] = ()

    @property
    def phrasings(self) -> tuple[str, ...]:
        """The question first, then its alternative phrasings (duplicates dropped)."""
        seen: dict[str, None] = {self.question: None}
        for alt in self.alternatives:
            seen.setdefault(alt, None)
        return tuple(seen)


def validate_entries(
    raw: Sequence[Any], *, source: object, lines: Sequence[int | None] | None = None,
    error: type[CorpusError] = CorpusError,
) -> list[Faq]:
    """Turn raw mappings into FAQs; every problem is reported (with its line) in one error."""
    faqs: list[Faq] = []
    problems: list[str] = []
    first_line: dict[str, str] = {}
    for pos, item in enumerate(raw):
        line = lines[pos] if lines is not None and pos < len(lines) else None
        where = f"line {line}" if line else f"entry {pos + 1}"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected a mapping with id, question, answer")
            continue
        try:
            faq = Faq.model_validate(item)
        except ValidationError as exc:
            ident = item.get("id")
            label = f"{where} (id {ident!r})" if ident else where
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"]) or "entry"
                problems.append(f"{label}: {field}: {err['msg']}")
            continue
        if faq.id in first_line:
            problems.append(f"{where}: duplicate id {faq.id!r} (first at {first_line[faq.id]})")
            continue
        first_line[faq.id] = where
        faqs.append(faq)
    if problems:
        raise error(source, problems)
    return faqs


class _LineLoader(yaml.SafeLoader):
    """A safe loader that records the line where each mapping starts (as ``__line__``)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep=deep)
        mapping["__line__"] = node.start_mark.line + 1
        return mapping


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def parse_yaml_corpus(text: str, *, source: object) -> list[Faq]:
    """Parse the corpus format: a mapping with a ``faqs`` list (or a bare list)."""
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", exc)
        raise CorpusError(source, [f"{where}not valid YAML ({problem})"]) from exc
    if data is None:
        return []
    entries = data.get("faqs") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise CorpusError(source, ["expected a top-level 'faqs:' list of entries"])
    lines = [e.get("__line__") if isinstance(e, dict) else None for e in entries]
    return validate_entries([_strip_lines(e) for e in entries], source=source, lines=lines)


def load_corpus(path: Path) -> list[Faq]:
    """Read and validate a YAML corpus file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CorpusError(path, ["file not found (set KNOWLEDGE_CORPUS_PATH or --corpus)"]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(path, [f"cannot read: {exc}"]) from exc
    faqs = parse_yaml_corpus(text, source=path)
    if not faqs:
        raise CorpusError(path, ["the corpus has no FAQ entries"])
    logger.debug("loaded %s FAQs from %s", len(faqs), path)
    return faqs


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)

_HEADER = """\
# FAQ corpus of the demo shop: one entry per question the assistant can answer.
# Fields: id (unique, stable: it appears in logs and analytics), question, alternatives
# (other ways customers ask it), answer, category, tags.
# After editing, run `crmbot knowledge index` (the assistant also rebuilds a stale index on start).
"""


def dump_corpus(faqs: Iterable[Faq]) -> str:
    entries = []
    for faq in faqs:
        entry: dict[str, Any] = {"id": faq.id, "category": faq.category, "question": faq.question}
        if faq.alternatives:
            entry["alternatives"] = list(faq.alternatives)
        entry["answer"] = faq.answer
        if faq.tags:
            entry["tags"] = list(faq.tags)
        if faq.category is None:
            del entry["category"]
        entries.append(entry)
    body = yaml.dump(
        {"faqs": entries}, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100
    )
    return _HEADER + body


def save_corpus(path: Path, faqs: Sequence[Faq]) -> None:
    """Write the corpus atomically (a crash never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(dump_corpus(faqs))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def corpus_hash(faqs: Sequence[Faq]) -> str:
    """A short content hash over what the index is built from (ids, phrasings, answers)."""
    payload = json.dumps(
        [INDEX_FORMAT, [[f.id, list(f.phrasings), f.answer] for f in faqs]],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]
