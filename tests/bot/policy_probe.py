"""Run in the Rasa environment (cwd = a copy of the project): what the dialogue policies train on.

    python tests/bot/policy_probe.py OUT.json

Generates the training trackers of bot/data as `rasa train` does (story augmentation 50), drops
their state caches as `bot.components.fresh_state_policies` does, and writes to OUT.json:
- `story_trackers`, `examples`: TED's training examples (max_history 5);
- `stale_before`: trackers whose cached states differed from the states computed from their
  events (Rasa 3.6's cache does not hide a form's happy path, `applied_events()` does);
- `differ_from_prediction`: trackers whose training states (after the fix) differ from the
  states a live tracker with the same events gives at prediction time (must be 0);
- `best_accuracy`: the share of examples a perfect classifier could fit (identical histories
  with different next actions cap it).
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

from rasa.core.featurizers.single_state_featurizer import SingleStateFeaturizer
from rasa.core.featurizers.tracker_featurizers import MaxHistoryTrackerFeaturizer
from rasa.core.training import load_data
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.importers.importer import TrainingDataImporter

from bot.components.fresh_state_policies import drop_cached_states


def main(out: Path) -> None:
    importer = TrainingDataImporter.load_from_config(
        config_path="bot/config.yml", domain_path="bot/domain.yml",
        training_data_paths=["bot/data"],
    )
    domain = importer.get_domain()
    trackers = [t for t in load_data(importer, domain, augmentation_factor=50)
                if not t.is_rule_tracker]
    cached = [t.past_states(domain) for t in trackers]
    drop_cached_states(trackers)
    fresh = [t.past_states(domain) for t in trackers]
    live = [
        DialogueStateTracker.from_events(t.sender_id, t.events, domain.slots).past_states(domain)
        for t in trackers
    ]
    featurizer = MaxHistoryTrackerFeaturizer(
        SingleStateFeaturizer(), max_history=5, remove_duplicates=False
    )
    states, labels, _ = featurizer.training_states_labels_and_entities(trackers, domain)
    by_history: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for history, label in zip(states, labels, strict=True):
        by_history[json.dumps(history, sort_keys=True, default=list)][label[0]] += 1
    fit = sum(max(counter.values()) for counter in by_history.values())
    out.write_text(json.dumps({
        "story_trackers": len(trackers),
        "examples": len(states),
        "stale_before": sum(c != f for c, f in zip(cached, fresh, strict=True)),
        "differ_from_prediction": sum(f != p for f, p in zip(fresh, live, strict=True)),
        "best_accuracy": fit / len(states),
    }), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
