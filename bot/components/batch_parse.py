"""Parse many texts with a trained Rasa model in one process: `crmbot bench intents` runs this.

    .venv-rasa/bin/python -m bot.components.batch_parse MODEL.tar.gz TEXTS.json OUT.jsonl

(with the repository root as working directory or on PYTHONPATH). TEXTS.json is a JSON list of
strings; OUT.jsonl gets one JSON object per text, in order:
`{"intent": name, "confidence": c, "ranking": [[name, c], ...]}` (the first five of Rasa's
intent ranking). The messages go through the model's own NLU graph (the same components and
FallbackClassifier as `rasa run` would use for /model/parse), a batch at a time, so the
featurizer encodes a batch per forward pass and the model is loaded once.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

logger = logging.getLogger(__name__)

_RANKING = 5


def parse_texts(model_path: Path, texts: list[str], batch_size: int = 256) -> list[dict]:
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.nlu.constants import (
        INTENT,
        INTENT_NAME_KEY,
        INTENT_RANKING_KEY,
        PREDICTED_CONFIDENCE_KEY,
    )

    agent = Agent.load(str(model_path))
    processor = agent.processor
    if processor is None or processor.model_metadata.nlu_target is None:
        raise SystemExit(f"{model_path}: no NLU model in this archive")
    target = processor.model_metadata.nlu_target
    tracker = DialogueStateTracker.from_events("bench", [])
    results: list[dict] = []
    for start in range(0, len(texts), batch_size):
        batch = [UserMessage(text, sender_id="bench") for text in texts[start : start + batch_size]]
        parsed = processor.graph_runner.run(
            inputs={PLACEHOLDER_MESSAGE: batch, PLACEHOLDER_TRACKER: tracker}, targets=[target]
        )[target]
        for message in parsed:
            intent = message.get(INTENT) or {}
            ranking = message.get(INTENT_RANKING_KEY) or []
            results.append({
                "intent": intent.get(INTENT_NAME_KEY),
                "confidence": float(intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0),
                "ranking": [[r.get(INTENT_NAME_KEY), float(r.get(PREDICTED_CONFIDENCE_KEY, 0.0))]
                            for r in ranking[:_RANKING]],
            })  # fmt: skip
        print(f"parsed {len(results)}/{len(texts)}", file=sys.stderr, flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("texts", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args(argv)
    texts = json.loads(args.texts.read_text(encoding="utf-8"))
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        parser.error(f"{args.texts}: expected a JSON list of strings")
    started = time.monotonic()
    results = parse_texts(args.model, texts, args.batch_size)
    with args.out.open("w", encoding="utf-8") as fh:
        for row in results:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"parsed {len(texts)} texts in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
