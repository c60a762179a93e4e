"""``crmbot knowledge import``: CSV/JSON merged into a corpus; a broken file changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmbot.cli import main
from knowledge import Faq, ImportFileError, import_faqs, load_corpus, save_corpus


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "faqs.yml"
    save_corpus(path, [
        Faq(id="shipping-cost", question="How much is shipping?", answer="4.95 EUR.",
            category="shipping"),
        Faq(id="returns-policy", question="Can I return items?", answer="Within 30 days."),
    ])
    return path


def test_csv_import_merges_by_id(tmp_path: Path, corpus: Path) -> None:
    source = tmp_path / "new.csv"
    source.write_text(
        "id,question,answer,alternatives,category,tags\n"
        'shipping-cost,How much is shipping?,"5.95 EUR, free from 50 EUR.",'
        "Delivery cost?|Postage?,shipping,fees\n"
        "gift-wrap,Do you gift wrap?,\"Yes, 3.50 EUR.\",,products,gift|wrap\n",
        encoding="utf-8",
    )
    result = import_faqs(source, corpus)
    assert (result.added, result.updated, result.unchanged, result.total) == (1, 1, 0, 3)
    faqs = {f.id: f for f in load_corpus(corpus)}
    assert faqs["shipping-cost"].answer == "5.95 EUR, free from 50 EUR."
    assert faqs["shipping-cost"].alternatives == ("Delivery cost?", "Postage?")
    assert faqs["gift-wrap"].tags == ("gift", "wrap")
    assert list(faqs) == ["shipping-cost", "returns-policy", "gift-wrap"]


def test_json_import_and_replace(tmp_path: Path, corpus: Path) -> None:
    source = tmp_path / "new.json"
    source.write_text(json.dumps([
        {"id": "faq-1", "question": "Q one?", "answer": "A one", "alternatives": ["Q 1?"]},
        {"id": "faq-2", "question": "Q two?", "answer": "A two"},
    ]))
    result = import_faqs(source, corpus, replace=True)
    assert (result.added, result.removed, result.total) == (2, 2, 2)
    assert [f.id for f in load_corpus(corpus)] == ["faq-1", "faq-2"]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.csv", "id,question\nx,Q?\n", "line 1: missing column 'answer'"),
        ("fields.csv", "id,question,answer\na,Q?,A\nb,Q2?\n", "line 3: 2 fields, the header has 3"),
        ("empty_answer.csv", "id,question,answer\na,Q?,A\nb,Q2?,   \n", "line 3 (id 'b'): answer"),
        ("dup.csv", "id,question,answer\na,Q?,A\n\"a\",\"multi\nline?\",B\na,Q3?,C\n",
         "line 5: duplicate id 'a' (first at line 2)"),
        ("syntax.json", '[\n {"id": "a", "question": "Q?", "answer": "A"},\n {"id": "b",,}\n]',
         "line 3, column"),
        ("entry.json", '[\n {"id": "a", "question": "Q?", "answer": "A"},\n'
         ' {"id": "b", "question": "Q2?"}\n]', "line 3 (id 'b'): answer: Field required"),
        ("shape.json", '{"id": "a"}', "expected a list of FAQ objects"),
        ("latin1.csv", None, "line 2: not UTF-8"),
        ("notes.txt", "hello", "unknown file type '.txt'"),
    ],
)
def test_broken_files_give_line_numbers_and_change_nothing(
    tmp_path: Path, corpus: Path, name: str, content: str | None, expected: str
) -> None:
    source = tmp_path / name
    if content is None:
        source.write_bytes("id,question,answer\na,Qué?,Sí\n".encode("latin-1"))
    else:
        source.write_text(content, encoding="utf-8")
    before = corpus.read_bytes()
    with pytest.raises(ImportFileError) as caught:
        import_faqs(source, corpus)
    assert expected in str(caught.value)
    assert corpus.read_bytes() == before


def test_cli_import_reports_and_fails_cleanly(tmp_path: Path, corpus: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("id,question,answer\nnew-one,New question?,New answer.\n")
    result = CliRunner().invoke(main, ["knowledge", "import", str(good), "--into", str(corpus)])
    assert result.exit_code == 0, result.output
    assert "1 added, 0 updated" in result.output
    assert "crmbot knowledge index" in result.output

    bad = tmp_path / "bad.csv"
    bad.write_text("id,question,answer\nx,,A\n")
    before = corpus.read_bytes()
    result = CliRunner().invoke(main, ["knowledge", "import", str(bad), "--into", str(corpus)])
    assert result.exit_code == 1
    assert "line 2 (id 'x'): question" in result.output
    assert "Traceback" not in result.output
    assert corpus.read_bytes() == before
