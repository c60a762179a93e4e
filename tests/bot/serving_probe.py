"""Run in the Rasa environment (cwd = a copy of the project): the serving parts of bot/components.

    python tests/bot/serving_probe.py MODEL.tar.gz OUT.json [POSTGRES_URL]

Writes to OUT.json:
- `ted`: every action prediction of TEDPolicy along the story trackers of bot/data, made by the
  model's TEDPolicy with its prediction cache and by the same policy with the cache off:
  `predictions`, `cache_hits`, `max_difference` (largest |p_cached - p_uncached|; must be 0);
- `validation`: Rasa's own `jsonschema.validate` of action-server responses against the
  compiled validator installed by bot.components.action_response: the verdicts and messages
  for a set of valid and invalid responses (must be equal);
- `locks`: two processes issuing 200 tickets each for one conversation through one
  SQLiteLockStore file: `distinct` tickets out of `issued` (must be all), and the lock
  round trip of one conversation;
- `postgres` (with POSTGRES_URL, an empty database): bot.components.sql_tracker_store on it:
  the `synchronous_commit` of its connections, and the events of a tracker saved and read back.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
from rasa.core.actions.action import RemoteAction
from rasa.core.agent import Agent
from rasa.core.training import load_data
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.importers.importer import TrainingDataImporter

from bot.components import action_response
from bot.components.fresh_state_policies import TEDPolicy
from bot.components.sql_tracker_store import SQLTrackerStore
from bot.components.sqlite_lock_store import SQLiteLockStore

RESPONSES: list[Any] = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "order_number", "value": "10000101"}],
     "responses": [{"text": "hi", "buttons": [{"title": "a", "payload": "/a"}]}]},
    {"events": [{"event": "followup", "name": "action_listen"}]},
    {"events": "not a list"},
    {"events": [{"event": "no such event"}]},
    {"events": [{"event": "slot"}]},
    {"responses": [1, 2]},
    [],
]


def _ted(agent: Agent) -> TEDPolicy:
    nodes = agent.processor.graph_runner._instantiated_nodes  # noqa: SLF001 - a test probe
    return next(n._component for n in nodes.values()  # noqa: SLF001
                if isinstance(n._component, TEDPolicy))  # noqa: SLF001


def probe_ted(model: Path) -> dict[str, Any]:
    agent = Agent.load(str(model))
    ted = _ted(agent)
    domain = agent.domain
    importer = TrainingDataImporter.load_from_config(
        config_path="bot/config.yml", domain_path="bot/domain.yml",
        training_data_paths=["bot/data"])
    stories = [t for t in load_data(importer, domain, augmentation_factor=0)
               if not t.is_rule_tracker]
    predictions, difference = 0, 0.0
    size = ted.config["prediction_cache_size"]
    for story in stories:
        live = DialogueStateTracker(story.sender_id, domain.slots)
        for event in story.events:
            if isinstance(event, ActionExecuted) and live.latest_action_name is not None:
                ted.config["prediction_cache_size"] = size
                cached = ted.predict_action_probabilities(live, domain).probabilities
                ted.config["prediction_cache_size"] = 0
                fresh = ted.predict_action_probabilities(live, domain).probabilities
                difference = max(difference, *(abs(a - b) for a, b in zip(cached, fresh)))
                predictions += 1
            live.update(event)
    cache = ted._prediction_cache  # noqa: SLF001
    return {"predictions": predictions, "cached_windows": len(cache),
            "cache_hits": predictions - len(cache), "max_difference": difference}


def _verdict(validate: Any, response: Any) -> str:
    try:
        validate(response)
        return "valid"
    except jsonschema.ValidationError as exc:
        return f"invalid: {exc.message}"


def probe_validation() -> dict[str, Any]:
    action = RemoteAction("action_probe", None)
    schema = RemoteAction.action_response_format_spec()

    def rasa_original(response: Any) -> None:  # Rasa 3.6's method body, verbatim message
        try:
            jsonschema.validate(response, schema)
        except jsonschema.ValidationError as e:
            e.message += (". Failed to validate Action server response from API, make sure "
                          "your response from the Action endpoint is valid. For more "
                          "information about the format visit "
                          "https://rasa.com/docs/rasa/custom-actions")
            raise

    action_response.install()
    return {
        "installed": RemoteAction._validate_action_result is action_response.validate_action_result,
        "original": [_verdict(rasa_original, r) for r in RESPONSES],
        "compiled": [_verdict(action._validate_action_result, r) for r in RESPONSES],
    }


def _issue(path: str, count: int, queue: Any) -> None:
    store = SQLiteLockStore(path=path)
    queue.put([store.issue_ticket("conversation-1") for _ in range(count)])


def probe_locks(count: int = 200) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "locks.sqlite")
        queue: Any = multiprocessing.get_context("fork").Queue()
        workers = [multiprocessing.get_context("fork").Process(target=_issue,
                                                               args=(path, count, queue))
                   for _ in range(2)]
        for worker in workers:
            worker.start()
        tickets = queue.get(timeout=120) + queue.get(timeout=120)
        for worker in workers:
            worker.join(timeout=60)
        store = SQLiteLockStore(path=path)
        ticket = store.issue_ticket("conversation-2")
        locked = store.get_lock("conversation-2")
        held = locked is not None and not locked.is_locked(ticket)
        store.cleanup("conversation-2", ticket)
        return {"issued": len(tickets), "distinct": len(set(tickets)), "held": held,
                "after_cleanup": store.get_lock("conversation-2") is None}


def probe_postgres(url: str) -> dict[str, Any]:
    store = SQLTrackerStore(dialect="postgresql", host=url)
    tracker = DialogueStateTracker("probe-conversation", slots=[])
    tracker.update(UserUttered("hello"))
    tracker.update(ActionExecuted("utter_greet"))
    asyncio.run(store.save(tracker))
    read_back = asyncio.run(store.retrieve("probe-conversation"))
    with store.engine.connect() as connection:
        mode = connection.exec_driver_sql("SHOW synchronous_commit").scalar()
    store.engine.dispose()
    return {"synchronous_commit": mode,
            "events": [e.type_name for e in read_back.events] if read_back else []}


def main(model: Path, out: Path, postgres_url: str | None) -> None:
    probe = {"ted": probe_ted(model), "validation": probe_validation(), "locks": probe_locks()}
    if postgres_url:
        probe["postgres"] = probe_postgres(postgres_url)
    out.write_text(json.dumps(probe), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
