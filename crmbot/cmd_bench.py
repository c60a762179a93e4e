"""``crmbot bench``: run the production code paths on public benchmark data.

The helpers at the top (reading labelled CSVs, ranking metrics, latency, writing CSVs, printing
metrics) are shared by every bench subcommand.
"""

from __future__ import annotations

import csv
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

# -- shared helpers -------------------------------------------------------------------------------


def read_labelled_csv(
    path: Path, text_column: str, label_column: str
) -> tuple[list[str], list[str | None]]:
    """Texts and labels (``None`` where the label column is missing or empty) from a CSV."""
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or text_column not in reader.fieldnames:
                raise click.ClickException(
                    f"{path}: expected a header with a {text_column!r} column"
                )
            texts: list[str] = []
            labels: list[str | None] = []
            for row in reader:
                texts.append(row[text_column] or "")
                label = (row.get(label_column) or "").strip()
                labels.append(label or None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise click.ClickException(f"{path}: cannot read CSV: {exc}") from exc
    return texts, labels


def ranking_metrics(
    gold: Sequence[str | None], ranked: Sequence[Sequence[str]], k: int = 5
) -> dict[str, float]:
    """precision@1, MRR (within the ranked list) and recall@k over the labelled items."""
    pairs = [(g, r) for g, r in zip(gold, ranked, strict=True) if g is not None]
    if not pairs:
        return {}
    ranks = [list(r).index(g) + 1 if g in r else None for g, r in pairs]
    n = len(pairs)
    return {
        "labelled": n,
        "precision@1": sum(1 for x in ranks if x == 1) / n,
        "mrr": sum(1 / x for x in ranks if x) / n,
        f"recall@{k}": sum(1 for x in ranks if x and x <= k) / n,
    }


def latency_ms(func: Callable[[Any], Any], inputs: Iterable[Any]) -> dict[str, float]:
    """Wall time of one call per input, in milliseconds (p50 and p95)."""
    times = []
    for item in inputs:
        started = time.perf_counter()
        func(item)
        times.append((time.perf_counter() - started) * 1000)
    if not times:
        return {}
    times.sort()
    return {"p50_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))]}


def write_csv(path: Path, fieldnames: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(fieldnames))
        writer.writeheader()
        writer.writerows(rows)


def echo_metrics(title: str, metrics: Mapping[str, float]) -> None:
    click.echo(title)
    for name, value in metrics.items():
        shown = f"{value:.4f}" if isinstance(value, float) and value <= 1 else str(value)
        click.echo(f"  {name:<16} {shown}")


# -- commands -------------------------------------------------------------------------------------


@click.group()
def bench() -> None:
    """Measure quality on public data; results go to benchmarks/README.md."""


@bench.command("faq")
@click.option("--faqs", "faqs_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="FAQ corpus: JSON list of {id, question, answer} (or CSV/YAML).")
@click.option("--queries", "queries_path",
              type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="CSV with a 'query' column and optionally 'faq_id' (the right answer).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Predictions CSV: query,faq_id,rank,score,answered (5 rows per query).")
@click.option("--index-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the built index here (default: a temporary folder).")
@click.option("--latency-sample", default=50, show_default=True,
              help="Time this many single-query searches for the p50 latency (0: skip).")
def faq(faqs_path: Path, queries_path: Path, out_path: Path, index_dir: Path | None,
        latency_sample: int) -> None:
    """Build the FAQ index from FAQS, rank the top 5 for each query, write PRED, print metrics."""
    from crmbot.cmd_knowledge import knowledge_errors, offline_models

    offline_models()
    from knowledge import Embedder, FaqRetriever, KnowledgeSettings, read_faq_file

    k = 5
    queries, gold = read_labelled_csv(queries_path, "query", "faq_id")
    with knowledge_errors(), tempfile.TemporaryDirectory(prefix="faq-bench-") as tmp:
        settings = KnowledgeSettings(index_dir=index_dir or Path(tmp))
        faqs = read_faq_file(faqs_path)
        known = {f.id for f in faqs}
        unknown = sorted({g for g in gold if g is not None and g not in known})
        if unknown:
            raise click.ClickException(
                f"{queries_path}: faq_id not in {faqs_path}: {', '.join(unknown[:5])}")
        started = time.perf_counter()
        embedder = Embedder.load(settings).warm_up()
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        retriever = FaqRetriever.build(faqs, settings, embedder=embedder, progress=True)
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        results = retriever.search_many(queries, k=k)
        search_s = time.perf_counter() - started
        latency = latency_ms(retriever.search, queries[:latency_sample])
    threshold = retriever.threshold
    rows = []
    answered = []
    for query, hits in zip(queries, results, strict=True):
        ok = bool(hits) and hits[0].score >= threshold
        answered.append(ok)
        for rank in range(1, k + 1):
            hit = hits[rank - 1] if rank <= len(hits) else None
            rows.append({"query": query, "faq_id": hit.faq_id if hit else "",
                         "rank": rank, "score": f"{hit.score:.6f}" if hit else "",
                         "answered": str(ok).lower()})
    write_csv(out_path, ["query", "faq_id", "rank", "score", "answered"], rows)

    metrics: dict[str, float] = {"queries": len(queries)}
    metrics.update(ranking_metrics(gold, [[h.faq_id for h in hits] for hits in results], k=k))
    metrics["answered_rate"] = sum(answered) / len(answered) if answered else 0.0
    metrics["threshold"] = threshold
    metrics["model_load_s"] = round(load_s, 2)
    metrics["index_build_s"] = round(build_s, 2)
    metrics["batch_ms_per_query"] = round(1000 * search_s / max(1, len(queries)), 2)
    metrics.update({k_: round(v, 2) for k_, v in latency.items()})
    echo_metrics(f"FAQ retrieval: {len(faqs)} FAQs, {len(queries)} queries -> {out_path}", metrics)


@bench.command("intents")
@click.option("--train", "train_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="CSV text,category, or a CLINC150 JSON (train + oos_train).")
@click.option("--test", "test_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="CSV text[,category], or a CLINC150 JSON (test + oos_test, "
                                  "else val + oos_val).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Predictions CSV: text,predicted,confidence (one row per test row, in order; "
                   "'oos' when the fallback fired).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Rasa config [default: bot/config.yml of this checkout].")
@click.option("--rasa-venv", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The Rasa environment [default: .venv-rasa of this checkout].")
@click.option("--keep-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the Rasa data, model and logs here (default: a temporary folder).")
def intents(train_path: Path, test_path: Path, out_path: Path, config_path: Path | None,
            rasa_venv: Path | None, keep_dir: Path | None) -> None:
    """Train the production NLU pipeline on TRAIN with Rasa, classify TEST, write PRED, print metrics."""
    import os

    from crmbot import nlu_bench

    started = time.perf_counter()

    def progress(message: str) -> None:
        click.echo(f"[{time.perf_counter() - started:7.1f} s] {message}", err=True)

    try:
        train = nlu_bench.read_intent_data(train_path, "train")
        test = nlu_bench.read_intent_data(test_path, "test")
        progress(f"read {len(train.texts)} training rows from {train_path}, "
                 f"{len(test.texts)} test rows from {test_path}")
        rows, metrics = nlu_bench.run_benchmark(
            train, test,
            config=config_path or nlu_bench.DEFAULT_CONFIG,
            rasa_venv=rasa_venv or nlu_bench.DEFAULT_RASA_VENV,
            base_env=os.environ, progress=progress, keep_dir=keep_dir,
        )  # fmt: skip
    except nlu_bench.BenchError as exc:
        raise click.ClickException(str(exc)) from exc
    write_csv(out_path, ["text", "predicted", "confidence"],
              ({"text": t, "predicted": p, "confidence": f"{c:.6f}"} for t, p, c in rows))
    echo_metrics(f"Intent classification: {train_path.name} -> {test_path.name} -> {out_path}",
                 metrics)


# Subcommands in their own modules, imported last because they use the helpers above.
from crmbot import bench_churn, bench_clv  # noqa: E402
from crmbot import bench_demand, bench_recs  # noqa: E402

bench.add_command(bench_churn.churn)
bench.add_command(bench_clv.clv)
bench.add_command(bench_demand.demand)
bench.add_command(bench_recs.recs)
