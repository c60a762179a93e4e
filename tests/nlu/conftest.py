"""Fixtures for the NLU pipeline tests: the Rasa environment, a BANKING77 slice, one bench run.

The Rasa environment is used by subprocess only (as the platform does). Without `.venv-rasa` the
tests that need it skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import csv
import json
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmbot.cli import main
from tests.nlu.helpers import (
    AWKWARD_TEXT,
    BANKING77,
    GIBBERISH,
    PROBE,
    PROBE_SENTENCES,
    BenchRun,
)
from tests.support.rasa_server import (
    REPO_ROOT,
    in_ci,
    rasa_subprocess_env,
    require_rasa_executable,
)


@pytest.fixture(scope="session")
def rasa_cli() -> Path:
    return require_rasa_executable()


@pytest.fixture(scope="session")
def nlu_rasa_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Rasa subprocess environment with the repository root on PYTHONPATH (bot.components)."""
    return rasa_subprocess_env(
        home=tmp_path_factory.mktemp("nlu-rasa-home"), extra={"PYTHONPATH": str(REPO_ROOT)}
    )


@pytest.fixture(scope="session")
def probe(
    rasa_cli: Path, nlu_rasa_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict:
    """tests/nlu/rasa_probe.py run once in the Rasa environment on PROBE_SENTENCES."""
    tmp = tmp_path_factory.mktemp("nlu-probe")
    (tmp / "sentences.json").write_text(json.dumps(PROBE_SENTENCES), encoding="utf-8")
    result = subprocess.run(
        [str(rasa_cli.parent / "python"), str(PROBE), str(tmp / "sentences.json"),
         str(tmp / "out.json")],
        cwd=REPO_ROOT, env=nlu_rasa_env, stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads((tmp / "out.json").read_text(encoding="utf-8"))


def _banking77_slice(folder: Path, intents: int = 10, train: int = 20, test: int = 8) -> tuple:
    if not BANKING77.is_file():
        reason = f"BANKING77 not found at {BANKING77}"
        if in_ci():
            pytest.fail(f"{reason} (required under CI=true)")
        pytest.skip(reason)
    by_intent: dict[str, list[str]] = defaultdict(list)
    with BANKING77.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            by_intent[row["category"]].append(row["text"])
    chosen = sorted(by_intent)[:intents]
    train_rows = [(t, c) for c in chosen for t in by_intent[c][:train]]
    test_rows = [(t, c) for c in chosen for t in by_intent[c][train : train + test]]
    test_rows += [(AWKWARD_TEXT, "card_arrival")] + [(t, "oos") for t in GIBBERISH]
    for name, rows in (("train.csv", train_rows), ("test.csv", test_rows)):
        with (folder / name).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "category"])
            writer.writerows(rows)
    return folder / "train.csv", folder / "test.csv", test_rows


@pytest.fixture(scope="session")
def bench_run(rasa_cli: Path, tmp_path_factory: pytest.TempPathFactory) -> BenchRun:
    """`crmbot bench intents` once on 10 BANKING77 intents x 20 examples (model kept)."""
    folder = tmp_path_factory.mktemp("bench-intents")
    train_csv, test_csv, test_rows = _banking77_slice(folder)
    pred_csv, keep_dir = folder / "pred.csv", folder / "work"
    result = CliRunner().invoke(main, [
        "bench", "intents", "--train", str(train_csv), "--test", str(test_csv),
        "--out", str(pred_csv), "--keep-dir", str(keep_dir),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return BenchRun(train_csv, test_csv, pred_csv, keep_dir, result.stdout, test_rows)
