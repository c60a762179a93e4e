"""Support for `crmbot bench intents`: data sets in, Rasa (in `.venv-rasa`) by subprocess, metrics out.

The platform environment never imports rasa. This module writes the training data as Rasa NLU
YAML, runs `.venv-rasa/bin/rasa train nlu` with the production `bot/config.yml`, and parses the
test texts with `.venv-rasa/bin/python -m bot.components.batch_parse` (the model's own NLU graph,
loaded once, batched). Only the standard library is used.
"""

from __future__ import annotations

import csv
import json
import subprocess
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "bot" / "config.yml"
DEFAULT_RASA_VENV = REPO_ROOT / ".venv-rasa"
OOS = "oos"
FALLBACK_INTENT = "nlu_fallback"

# Environment of every Rasa subprocess (see docs/rasa-environment.md).
RASA_ENV: Mapping[str, str] = {
    "RASA_TELEMETRY_ENABLED": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "PYTHONUNBUFFERED": "1",
    # A one-off model: Rasa's training cache would only copy it once more.
    "RASA_MAX_CACHE_SIZE": "0",
}
_LEAKING = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "CONDA_PREFIX")
_LOG_TAIL = 4000


class BenchError(RuntimeError):
    """Bad input or a failed Rasa step; the message says what happened (and shows the log)."""


@dataclass(frozen=True)
class IntentData:
    texts: list[str]
    labels: list[str | None]  # None: unlabelled


# -- reading data ---------------------------------------------------------------------------------

_CLINC_KEYS = {
    "train": (("train", "oos_train"),),
    "test": (("test", "oos_test"), ("val", "oos_val")),
}


def read_intent_data(path: Path, role: str) -> IntentData:
    """A CSV `text,category` (category optional) or a CLINC150-style JSON.

    JSON: `role="train"` reads `train` + `oos_train`; `role="test"` reads `test` + `oos_test` when
    present, else `val` + `oos_val`. Rows are `[text, label]`.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".json":
            return _read_clinc_json(path, role)
        return _read_csv(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BenchError(f"{path}: cannot read: {exc}") from exc


def _read_csv(path: Path) -> IntentData:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "text" not in reader.fieldnames:
            raise BenchError(f"{path}: expected a header with a 'text' column (and 'category')")
        texts, labels = [], []
        for row in reader:
            texts.append(row["text"] or "")
            labels.append((row.get("category") or "").strip() or None)
    return IntentData(texts, labels)


def _read_clinc_json(path: Path, role: str) -> IntentData:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise BenchError(f"{path}: expected a JSON object with CLINC150 keys (train, val, ...)")
    for keys in _CLINC_KEYS[role]:
        if keys[0] in data:
            break
    else:
        wanted = " or ".join(k[0] for k in _CLINC_KEYS[role])
        raise BenchError(f"{path}: no {wanted!r} key for the {role} set (has {sorted(data)})")
    texts, labels = [], []
    for key in keys:
        for row in data.get(key, []):
            if not (isinstance(row, list) and row and isinstance(row[0], str)):
                raise BenchError(f"{path}: {key}: expected [text, label] rows, got {row!r:.80}")
            texts.append(row[0])
            labels.append(str(row[1]) if len(row) > 1 and row[1] is not None else None)
    return IntentData(texts, labels)


# -- Rasa training data ---------------------------------------------------------------------------


def clean_text(text: str) -> str:
    """One line, no control characters (YAML forbids most), surrounding spaces removed."""
    return " ".join("".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text).split())


def write_rasa_nlu(data: IntentData, path: Path) -> int:
    """Write the labelled, non-empty examples as Rasa NLU YAML; return how many."""
    by_intent: dict[str, list[str]] = {}
    for text, label in zip(data.texts, data.labels, strict=True):
        text = clean_text(text)
        if label is not None and text:
            by_intent.setdefault(label, []).append(text)
    if len(by_intent) < 2:
        raise BenchError(f"training data needs at least 2 intents, found {len(by_intent)}")
    lines = ['version: "3.1"', "nlu:"]
    for intent, texts in by_intent.items():
        lines.append(f"- intent: {json.dumps(intent, ensure_ascii=False)}")
        lines.append("  examples: |")
        lines.extend(f"    - {text}" for text in dict.fromkeys(texts))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sum(len(dict.fromkeys(t)) for t in by_intent.values())


# -- running Rasa ---------------------------------------------------------------------------------


def rasa_subprocess_env(base: Mapping[str, str]) -> dict[str, str]:
    """`base` (the caller's environment) made fit for the Rasa environment.

    The repository root goes on PYTHONPATH so that Rasa finds `bot.components.*`.
    """
    env = {k: v for k, v in base.items() if k not in _LEAKING}
    env.update(RASA_ENV)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def _tail(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return text if len(text) <= _LOG_TAIL else "...\n" + text[-_LOG_TAIL:]


def _run(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    timeout: float,
    what: str,
) -> float:
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as fh:
        try:
            result = subprocess.run(
                list(command), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                stdout=fh, stderr=subprocess.STDOUT, timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise BenchError(
                f"{what} did not finish in {timeout:.0f} s; log:\n{_tail(log)}"
            ) from exc
        except OSError as exc:
            raise BenchError(f"{what}: cannot start {command[0]}: {exc}") from exc
    if result.returncode != 0:
        raise BenchError(f"{what} exited with {result.returncode}; log ({log}):\n{_tail(log)}")
    return time.monotonic() - started


@dataclass
class RasaNluRunner:
    """Train and batch-parse with the Rasa environment at `venv`, in `workdir`."""

    venv: Path
    workdir: Path
    env: Mapping[str, str]
    timeout: float = 3600.0

    def __post_init__(self) -> None:
        if not (self.venv / "bin" / "rasa").is_file():
            raise BenchError(
                f"Rasa environment missing ({self.venv}/bin/rasa): build it with `make setup-rasa`"
            )

    def train(self, config: Path, nlu_file: Path) -> tuple[Path, float]:
        out = self.workdir / "models"
        seconds = _run(
            [str(self.venv / "bin" / "rasa"), "train", "nlu", "--config", str(config),
             "--nlu", str(nlu_file), "--out", str(out), "--fixed-model-name", "nlu"],
            cwd=self.workdir, env=self.env, log=self.workdir / "train.log",
            timeout=self.timeout, what="`rasa train nlu`",
        )  # fmt: skip
        model = out / "nlu.tar.gz"
        if not model.is_file():
            raise BenchError(
                f"`rasa train nlu` wrote no model; log:\n{_tail(self.workdir / 'train.log')}"
            )
        return model, seconds

    def parse(self, model: Path, texts: Sequence[str]) -> tuple[list[dict], float]:
        texts_file = self.workdir / "texts.json"
        out = self.workdir / "parsed.jsonl"
        texts_file.write_text(json.dumps(list(texts), ensure_ascii=False), encoding="utf-8")
        seconds = _run(
            [str(self.venv / "bin" / "python"), "-m", "bot.components.batch_parse",
             str(model), str(texts_file), str(out)],
            cwd=REPO_ROOT, env=self.env, log=self.workdir / "parse.log",
            timeout=self.timeout, what="batch parse",
        )  # fmt: skip
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        if len(rows) != len(texts):
            raise BenchError(f"batch parse returned {len(rows)} results for {len(texts)} texts")
        return rows, seconds


def predicted_label(parse: Mapping[str, object]) -> tuple[str, float]:
    """(label, confidence) of one parse: `oos` when the fallback fired.

    For a fallback, the confidence is that of the best real intent (which was too low), so the
    PRED file shows how far below the threshold it was.
    """
    name = parse.get("intent") or OOS
    confidence = float(parse.get("confidence") or 0.0)  # type: ignore[arg-type]
    if name == FALLBACK_INTENT:
        ranked = [r for r in parse.get("ranking", []) if r and r[0] != FALLBACK_INTENT]  # type: ignore[union-attr]
        return OOS, float(ranked[0][1]) if ranked else confidence
    return str(name), confidence


# -- metrics --------------------------------------------------------------------------------------


def intent_metrics(gold: Sequence[str | None], predicted: Sequence[str]) -> dict[str, float]:
    """Accuracy and macro-F1 over labelled rows; with `oos` gold rows also in-scope accuracy
    (in-scope rows predicted exactly) and out-of-scope recall (oos rows predicted `oos`)."""
    pairs = [(g, p) for g, p in zip(gold, predicted, strict=True) if g is not None]
    if not pairs:
        return {}
    n = len(pairs)
    metrics: dict[str, float] = {"labelled": n, "accuracy": sum(g == p for g, p in pairs) / n}
    in_scope = [(g, p) for g, p in pairs if g != OOS]
    out_scope = [(g, p) for g, p in pairs if g == OOS]
    if out_scope:
        metrics["in_scope_accuracy"] = sum(g == p for g, p in in_scope) / max(1, len(in_scope))
        metrics["oos_recall"] = sum(p == OOS for _, p in out_scope) / len(out_scope)
    metrics["macro_f1"] = macro_f1(pairs)
    metrics["fallback_rate"] = sum(p == OOS for _, p in pairs) / n
    return metrics


def macro_f1(pairs: Sequence[tuple[str, str]]) -> float:
    """Unweighted mean of per-label F1 over every label seen in gold or predictions."""
    tp: Counter[str] = Counter()
    gold_n: Counter[str] = Counter()
    pred_n: Counter[str] = Counter()
    for g, p in pairs:
        gold_n[g] += 1
        pred_n[p] += 1
        tp[g] += g == p
    labels = set(gold_n) | set(pred_n)
    scores = [
        2 * tp[label] / (gold_n[label] + pred_n[label]) if gold_n[label] + pred_n[label] else 0.0
        for label in labels
    ]
    return sum(scores) / len(scores)


def run_benchmark(
    train: IntentData,
    test: IntentData,
    *,
    config: Path,
    rasa_venv: Path,
    base_env: Mapping[str, str],
    progress: Callable[[str], None],
    keep_dir: Path | None = None,
) -> tuple[list[tuple[str, str, float]], dict[str, float]]:
    """Train on `train`, parse `test`; return PRED rows (text, predicted, confidence) and metrics."""
    with tempfile.TemporaryDirectory(prefix="intent-bench-") as tmp:
        workdir = Path(keep_dir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        runner = RasaNluRunner(rasa_venv, workdir, rasa_subprocess_env(base_env))
        nlu_file = workdir / "nlu.yml"
        n_examples = write_rasa_nlu(train, nlu_file)
        n_intents = len({label for label in train.labels if label is not None})
        progress(
            f"training {config} on {n_examples} examples, {n_intents} intents "
            f"(log: {workdir / 'train.log'})"
        )
        model, train_s = runner.train(Path(config).resolve(), nlu_file)
        progress(f"trained in {train_s:.1f} s; parsing {len(test.texts)} texts")
        parses, predict_s = runner.parse(model, [clean_text(t) for t in test.texts])
        progress(f"parsed in {predict_s:.1f} s")
    rows = [(text, *predicted_label(p)) for text, p in zip(test.texts, parses, strict=True)]
    metrics: dict[str, float] = {
        "train_examples": n_examples,
        "intents": n_intents,
        "test_rows": len(test.texts),
    }
    metrics.update(intent_metrics(test.labels, [label for _, label, _ in rows]))
    metrics["train_s"] = round(train_s, 1)
    metrics["predict_s"] = round(predict_s, 1)
    metrics["predict_ms_per_text"] = round(1000 * predict_s / max(1, len(test.texts)), 2)
    return rows, metrics
