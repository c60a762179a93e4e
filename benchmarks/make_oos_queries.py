"""Write CLINC150 out-of-scope queries as a `query` CSV for `crmbot bench faq --queries`.

    python benchmarks/make_oos_queries.py ../shared/data/clinc150/data_full_train_val.json \
        --split oos_val --out /tmp/oos_val.csv

The data stays where it is: write the CSV to a temporary folder, never into the repository.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path


def oos_queries(clinc_json: Path, splits: list[str]) -> list[str]:
    data = json.loads(Path(clinc_json).read_text(encoding="utf-8"))
    queries = []
    for split in splits:
        if split not in data:
            raise SystemExit(f"{clinc_json}: no split {split!r} (have: {', '.join(data)})")
        queries += [text for text, label in data[split] if label == "oos"]
    return queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clinc_json", type=Path, help="data_full_train_val.json of CLINC150")
    parser.add_argument("--split", action="append", choices=["oos_train", "oos_val"],
                        help="split(s) to take (repeatable; default: oos_val)")
    parser.add_argument("--out", type=Path, required=True, help="CSV to write (column: query)")
    args = parser.parse_args()
    queries = oos_queries(args.clinc_json, args.split or ["oos_val"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["query"])
        writer.writerows([q] for q in queries)
    print(f"wrote {len(queries)} out-of-scope queries to {args.out}")


if __name__ == "__main__":
    main()
