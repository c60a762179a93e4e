"""``crmbot knowledge``: the FAQ corpus and its semantic index."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from knowledge import KnowledgeSettings


def offline_models() -> None:
    """Call first in a command: models load by path only (never from a hub), quiet loaders."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    for noisy in ("faiss.loader", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def knowledge_errors() -> Iterator[None]:
    """Turn a domain error into a one-line message and exit code 1 instead of a traceback."""
    from knowledge import KnowledgeError

    try:
        yield
    except KnowledgeError as exc:
        raise click.ClickException(str(exc)) from exc


def _settings(corpus: Path | None = None, index_dir: Path | None = None) -> KnowledgeSettings:
    from knowledge import KnowledgeSettings

    overrides = {}
    if corpus is not None:
        overrides["corpus_path"] = corpus
    if index_dir is not None:
        overrides["index_dir"] = index_dir
    return KnowledgeSettings(**overrides)


_corpus_option = click.option(
    "--corpus", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="FAQ corpus YAML (default: KNOWLEDGE_CORPUS_PATH or knowledge/faqs/shop_faqs.yml).")
_index_dir_option = click.option(
    "--index-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Index folder (default: KNOWLEDGE_INDEX_DIR or var/knowledge).")


@click.group()
def knowledge() -> None:
    """Build and query the FAQ index."""


@knowledge.command()
@_corpus_option
def validate(corpus: Path | None) -> None:
    """Check the corpus file (ids, questions, answers) and print its size."""
    offline_models()
    from knowledge import corpus_hash, load_corpus

    settings = _settings(corpus)
    with knowledge_errors():
        faqs = load_corpus(settings.corpus_path)
    categories = sorted({f.category or "-" for f in faqs})
    click.echo(f"{settings.corpus_path}: {len(faqs)} FAQs, corpus hash {corpus_hash(faqs)}, "
               f"categories: {', '.join(categories)}")


@knowledge.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--into", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Corpus file to update (default: the configured corpus).")
@click.option("--replace", is_flag=True, help="Replace the whole corpus instead of merging by id.")
@click.option("--dry-run", is_flag=True, help="Validate and report, write nothing.")
def import_(file: Path, into: Path | None, replace: bool, dry_run: bool) -> None:
    """Validate FILE (.csv, .json or .yml) and merge it into the corpus by id.

    CSV columns: id,question,answer[,alternatives,category,tags] (lists separated by '|').
    JSON: a list of objects with those keys. A broken file changes nothing.
    """
    offline_models()
    from knowledge import import_faqs

    target = into or _settings().corpus_path
    with knowledge_errors():
        result = import_faqs(file, target, replace=replace, dry_run=dry_run)
    verb = "would update" if dry_run else ("updated" if result.written else "no change to")
    click.echo(f"{verb} {result.target}: {result.added} added, {result.updated} updated, "
               f"{result.unchanged} unchanged, {result.removed} removed; {result.total} FAQs")
    if result.written:
        click.echo("run `crmbot knowledge index` to rebuild the search index")


@knowledge.command()
@_corpus_option
@_index_dir_option
@click.option("--force", is_flag=True, help="Rebuild even if the index is up to date.")
def index(corpus: Path | None, index_dir: Path | None, force: bool) -> None:
    """Build the FAQ index if the corpus (or model) changed."""
    offline_models()
    from knowledge import (Embedder, IndexNotFound, IndexStale, artifact_paths, build_index,
                           corpus_hash, load_corpus, load_index)

    settings = _settings(corpus, index_dir)
    with knowledge_errors():
        faqs = load_corpus(settings.corpus_path)
        embedder = Embedder.load(settings)
        faiss_path, _ = artifact_paths(settings.index_dir, corpus_hash(faqs))
        if not force:
            try:
                load_index(faqs, embedder, settings)
            except (IndexNotFound, IndexStale) as exc:
                click.echo(f"rebuilding: {exc}")
            else:
                click.echo(f"up to date: {faiss_path} ({len(faqs)} FAQs)")
                return
        built = build_index(faqs, embedder, settings, corpus_path=settings.corpus_path,
                            progress=True)
    click.echo(f"built {built.faiss_path} (+ .json): {len(faqs)} FAQs, "
               f"{built.sidecar['count']} vectors, {built.sidecar['build_seconds']}s")


@knowledge.command()
@click.argument("text")
@click.option("-k", "--top-k", "k", default=5, show_default=True, help="How many FAQs to show.")
@_corpus_option
@_index_dir_option
def search(text: str, k: int, corpus: Path | None, index_dir: Path | None) -> None:
    """Show the top-k FAQs for TEXT with their scores, and what the bot would answer."""
    offline_models()
    from knowledge import FaqRetriever

    settings = _settings(corpus, index_dir)
    with knowledge_errors():
        retriever = FaqRetriever.load(settings)
        hits = retriever.search(text, k=k)
    if not hits:
        click.echo("no searchable text in the query")
        return
    for rank, hit in enumerate(hits, start=1):
        click.echo(f"{rank:>2}  {hit.score:.3f}  {hit.faq_id:<28} {hit.question}")
    best = hits[0]
    if best.score >= retriever.threshold:
        click.echo(f"bot answers with {best.faq_id} (score {best.score:.3f} >= "
                   f"threshold {retriever.threshold:.3f})")
    else:
        click.echo(f"bot does not answer (best score {best.score:.3f} < "
                   f"threshold {retriever.threshold:.3f})")
