"""Constants and the bench-run record shared by the NLU tests (fixtures live in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.support.rasa_server import REPO_ROOT

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
BANKING77 = SHARED_DATA / "banking77" / "train.csv"
PROBE = Path(__file__).parent / "rasa_probe.py"

# Texts no banking intent fits: the fallback must answer `oos`.
GIBBERISH = ["asdkj qwpoe zzxv", "purple monkey dishwasher", "lorem ipsum dolor sit amet"]
# A labelled test row whose text must survive the CSV round trip unchanged.
AWKWARD_TEXT = 'Ünïcödé, "quoted", and commas: my card hasn\'t arrived 💳'
PROBE_SENTENCES = [
    "I am still waiting on my card?",
    AWKWARD_TEXT,
    "why was my top-up declined?!",
    "a",
    (
        "This is a much longer sentence about transferring money from my savings account to a "
        "friend abroad, which failed twice and now I do not know what to do."
    ),
]


@dataclass(frozen=True)
class BenchRun:
    train_csv: Path
    test_csv: Path
    pred_csv: Path
    keep_dir: Path
    stdout: str
    test_rows: list[tuple[str, str]]

    @property
    def model(self) -> Path:
        return self.keep_dir / "models" / "nlu.tar.gz"

    def metrics(self) -> dict[str, str]:
        lines = [line.split() for line in self.stdout.splitlines()[1:]]
        return dict(parts for parts in lines if len(parts) == 2)
