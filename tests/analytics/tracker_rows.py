"""Test helper: rows in Rasa's SQL tracker store table ``events``, as Rasa 3.6 writes them.

The table is created with the same columns Rasa's ``SQLTrackerStore`` creates (id, sender_id,
type_name, timestamp, intent_name, action_name, data); ``data`` is the event's JSON as Rasa
serialises it. The real server writing this table is exercised in ``test_kpis.py``.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, insert

from analytics.pipeline import TRACKER_EVENTS


class Tracker:
    def __init__(self, engine: Engine, sender: str, start: float = 1_790_000_000.0) -> None:
        TRACKER_EVENTS.metadata.create_all(engine, tables=[TRACKER_EVENTS])
        self.engine = engine
        self.sender = sender
        self.clock = start

    def _add(self, type_name: str, data: dict[str, Any], *, intent: str | None = None,
             action: str | None = None, seconds: float = 1.0) -> None:
        self.clock += seconds
        data = {"event": type_name, "timestamp": self.clock, **data}
        with self.engine.begin() as conn:
            conn.execute(insert(TRACKER_EVENTS).values(
                sender_id=self.sender, type_name=type_name, timestamp=self.clock,
                intent_name=intent, action_name=action, data=json.dumps(data)))

    def user(self, text: str, intent: str, confidence: float = 0.95) -> Tracker:
        parse = {"text": text, "intent": {"name": intent, "confidence": confidence},
                 "entities": [], "intent_ranking": [{"name": intent, "confidence": confidence}],
                 "message_id": "m1", "metadata": {}}
        self._add("user", {"text": text, "parse_data": parse, "input_channel": "rest",
                           "message_id": "m1", "metadata": {}}, intent=intent)
        return self

    def action(self, name: str) -> Tracker:
        self._add("action", {"name": name, "policy": "RulePolicy", "confidence": 1.0},
                  action=name, seconds=0.2)
        return self

    def bot(self, text: str) -> Tracker:
        self._add("bot", {"text": text, "data": {}, "metadata": {}}, seconds=0.3)
        return self

    def pause(self) -> Tracker:
        self._add("pause", {}, seconds=0.1)
        return self

    def slot(self, name: str, value: Any) -> Tracker:
        self._add("slot", {"name": name, "value": value}, seconds=0.1)
        return self

    def raw(self, type_name: str, data_text: str) -> Tracker:
        """A row whose ``data`` is whatever text is given (broken JSON included)."""
        self.clock += 1
        with self.engine.begin() as conn:
            conn.execute(insert(TRACKER_EVENTS).values(
                sender_id=self.sender, type_name=type_name, timestamp=self.clock,
                data=data_text))
        return self

    def faq(self, text: str, question: str, answer: str = "It takes 2-4 days.") -> Tracker:
        return (self.user(text, "ask_faq").action("action_answer_faq")
                .bot(f"{answer}\n\n(From our FAQ: \u201c{question}\u201d)").action("action_listen"))
