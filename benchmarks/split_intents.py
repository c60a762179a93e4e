"""Split a `text,category` CSV into stratified train/test CSVs for `crmbot bench intents`.

    .venv/bin/python benchmarks/split_intents.py ../shared/data/banking77/train.csv \
        --test-size 0.2 --seed 0 --out-dir /tmp/banking77-split

writes /tmp/banking77-split/train.csv and test.csv (the held-out split of benchmarks/README.md,
"Intent classification": scikit-learn's stratified train_test_split, random_state=0). The data
stays where it is: write to a temporary folder, never into the repository.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from sklearn.model_selection import train_test_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv_path", type=Path, help="CSV with text,category columns")
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args()
    with args.csv_path.open(newline="", encoding="utf-8-sig") as fh:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    train, test = train_test_split(
        rows, test_size=args.test_size, stratify=[c for _, c in rows], random_state=args.seed
    )
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", train), ("test", test)):
        with (args.out_dir / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "category"])
            writer.writerows(part)
        print(f"{args.out_dir / name}.csv: {len(part)} rows")


if __name__ == "__main__":
    main()
