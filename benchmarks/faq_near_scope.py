"""Wrong FAQ answers to shop questions the corpus does not cover, against the answer threshold.

The threshold (``KNOWLEDGE_ANSWER_THRESHOLD``) was calibrated on CLINC150's out-of-scope queries
(``faq_tune.py``): everyday questions far from a shop. Questions *near* the shop's FAQs but not
covered by them ("Is there a rewards card?", "Do you offer a student discount?") share words
with an entry and score higher. ``tests/knowledge/data/shop_near_scope.csv`` holds 70 of them,
written by us: a ``tune`` half (40) and a ``check`` half (30, written after the first half's
scores were seen), each with the FAQ ids whose answer does answer it (``acceptable``; mostly
none). For each threshold this prints, through the production retriever on the shop corpus:

- near-scope, per half: answered with a FAQ that does not answer the question (wrong), answered
  acceptably (right);
- our shop paraphrases (``shop_queries.csv``, 60 in-scope questions): answered with the right
  FAQ, answered with a wrong one;
- with ``--clinc``, the share of CLINC150 ``oos_val`` answered.

    .venv/bin/python benchmarks/faq_near_scope.py \
        --clinc ../shared/data/clinc150/data_full_train_val.json
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

import numpy as np

from knowledge import Embedder, FaqRetriever, KnowledgeSettings, load_corpus

DATA = Path(__file__).resolve().parents[1] / "tests" / "knowledge" / "data"
THRESHOLDS = (0.31, 0.33, 0.35, 0.38, 0.40, 0.45)  # 0.31: faq_tune.py's CLINC rule alone


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _top(retriever: FaqRetriever, texts: list[str]) -> tuple[list[str], np.ndarray]:
    hits = retriever.search_many(texts, k=1)
    return ([h[0].faq_id if h else "" for h in hits],
            np.array([h[0].score if h else 0.0 for h in hits]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faqs", type=Path, default=KnowledgeSettings().corpus_path)
    parser.add_argument("--near", type=Path, default=DATA / "shop_near_scope.csv")
    parser.add_argument("--paraphrases", type=Path, default=DATA / "shop_queries.csv")
    parser.add_argument("--clinc", type=Path, default=None,
                        help="CLINC150 data_full_train_val.json: also report oos_val answered")
    args = parser.parse_args()

    base = KnowledgeSettings()
    with tempfile.TemporaryDirectory() as tmp:
        retriever = FaqRetriever.build(load_corpus(args.faqs),
                                       base.model_copy(update={"index_dir": Path(tmp)}),
                                       embedder=Embedder.load(base))
    near = _rows(args.near)
    near_ids, near_scores = _top(retriever, [r["query"] for r in near])
    fine = np.array([faq in r["acceptable"].split(";") if r["acceptable"] else False
                     for faq, r in zip(near_ids, near, strict=True)])
    halves = {half: np.array([r["split"] == half for r in near]) for half in ("tune", "check")}
    para = _rows(args.paraphrases)
    para_ids, para_scores = _top(retriever, [r["query"] for r in para])
    correct = np.array([faq == r["faq_id"] for faq, r in zip(para_ids, para, strict=True)])
    oos_scores = None
    if args.clinc is not None:
        clinc = json.loads(args.clinc.read_text(encoding="utf-8"))
        oos_scores = _top(retriever, [text for text, _ in clinc["oos_val"]])[1]

    header = ["threshold"] + [f"near {h} wrong / right" for h in halves] + [
        "paraphrases right / wrong"] + (["CLINC oos_val answered"] if oos_scores is not None else [])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for threshold in (base.answer_threshold, *[t for t in THRESHOLDS
                                                if t != base.answer_threshold]):
        answered = near_scores >= threshold
        cells = [f"{threshold:.2f}"]
        for mask in halves.values():
            wrong = (answered & ~fine & mask).sum()
            right = (answered & fine & mask).sum()
            cells.append(f"{wrong}/{mask.sum()} ({wrong / mask.sum():.0%}) / {right}")
        hit = para_scores >= threshold
        cells.append(f"{(hit & correct).sum()}/{len(para)} / {(hit & ~correct).sum()}")
        if oos_scores is not None:
            cells.append(f"{(oos_scores >= threshold).mean():.0%}")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
