"""Conversation pipeline throughput: N synthetic conversations in Rasa's tracker-store format in
a fresh SQLite file, then the first (full) load, a second (nothing new) run, and the mining of
unanswered questions. Results go to benchmarks/README.md ("Conversation analytics").

    .venv/bin/python benchmarks/conversation_pipeline.py --conversations 2000 --workdir /tmp/cpb
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from sqlalchemy import insert

from analytics import AnalyticsSettings
from analytics.gaps import find_gaps, load_embedder
from analytics.kpis import conversation_kpis
from analytics.pipeline import TRACKER_EVENTS, run_pipeline
from analytics.schema import upgrade_analytics
from crm_connector import CrmSettings, create_db_engine, create_session_factory, upgrade_schema
from crm_connector import read_transaction, write_transaction

UNKNOWN = ["do you sell gift cards?", "can I buy a gift voucher", "student discount?",
           "is there a discount for students", "do you have a loyalty programme",
           "can I collect points when I buy", "my cat ate the parcel", "asdfgh"]


def events(conversations: int, seed: int, start: float = 1_790_000_000.0,
           unknown: list[str] | None = None) -> list[dict[str, object]]:
    """Tracker-store rows of ``conversations`` conversations, one every 10-120 s (65 s on
    average) from ``start`` (a Unix time); the unanswered messages are drawn from ``unknown``
    (default ``UNKNOWN``)."""
    unknown = unknown or UNKNOWN
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    clock = start
    for n in range(conversations):
        sender = f"bench-{n}"
        kind = rng.choices(["faq", "order", "fallback", "handoff"], [5, 3, 2, 1])[0]
        clock += rng.uniform(10, 120)

        def add(type_name: str, data: dict[str, object], intent: str | None = None,
                action: str | None = None) -> None:
            nonlocal clock
            clock += 0.4
            rows.append({"sender_id": sender, "type_name": type_name, "timestamp": clock,
                         "intent_name": intent, "action_name": action,
                         "data": json.dumps({"event": type_name, "timestamp": clock, **data})})

        def user(text: str, intent: str, confidence: float) -> None:
            add("user", {"text": text, "input_channel": "rest", "parse_data": {
                "intent": {"name": intent, "confidence": confidence}, "entities": []}}, intent)

        if kind == "faq":
            user("how long does delivery take?", "ask_faq", 0.9)
            add("action", {"name": "action_answer_faq"}, action="action_answer_faq")
            add("bot", {"text": "2-4 days.\n\n(From our FAQ: \u201cHow long does delivery take?\u201d)"})
        elif kind == "order":
            user(f"where is my order {10000100 + n % 900}? mail me at a{n}@example.com",
                 "order_status", 0.95)
            add("action", {"name": "verify_form"}, action="verify_form")
            add("bot", {"text": "What is your email address?"})
        elif kind == "fallback":
            user(rng.choice(unknown), "nlu_fallback", 0.2)
            add("action", {"name": "action_default_fallback"}, action="action_default_fallback")
            add("bot", {"text": "Sorry, could you rephrase that?"})
        else:
            user("I want to talk to a person", "human_handoff", 0.97)
            add("action", {"name": "action_handoff"}, action="action_handoff")
            add("bot", {"text": "A colleague will take over."})
            add("pause", {})
        add("action", {"name": "action_listen"}, action="action_listen")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / "bench.sqlite"
    path.unlink(missing_ok=True)
    engine = create_db_engine(CrmSettings(database_url=f"sqlite:///{path}"))
    upgrade_schema(engine)
    upgrade_analytics(engine)
    TRACKER_EVENTS.metadata.create_all(engine, tables=[TRACKER_EVENTS])
    rows = events(args.conversations, args.seed)
    with engine.begin() as conn:
        conn.execute(insert(TRACKER_EVENTS), rows)
    sessions = create_session_factory(engine)
    settings = AnalyticsSettings(redaction_key="bench")

    started = time.perf_counter()
    with write_transaction(sessions) as session:
        first = run_pipeline(session, settings)
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    with write_transaction(sessions) as session:
        second = run_pipeline(session, settings)
    second_s = time.perf_counter() - started
    with read_transaction(sessions) as session:
        kpis = conversation_kpis(session)
        embedder = load_embedder().warm_up()
        started = time.perf_counter()
        gaps = find_gaps(session, settings, embedder)
        gaps_s = time.perf_counter() - started
    engine.dispose()
    print(f"events {len(rows):,}; first run {first_s:.1f} s ({len(rows) / first_s:,.0f} events/s, "
          f"{first.turns_added:,} turns); second run {second_s:.2f} s, "
          f"{second.events_read} events read")
    print(f"containment {kpis.containment_rate:.3f}, handoff {kpis.handoff_rate:.3f}, "
          f"fallback {kpis.fallback_rate:.3f}, FAQ answer rate {kpis.faq_answer_rate:.3f}")
    print(f"unanswered-question mining {gaps_s:.1f} s: " + "; ".join(
        f"{g.kind} '{g.title}' x{g.count}" for g in gaps))


if __name__ == "__main__":
    main()
