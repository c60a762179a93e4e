"""``crmbot demo conversations`` against the real web gateway, Rasa server and action server.

The command plays its scripts through the widget's and the inbox's HTTP and websocket API; what
it leaves must be what the scripts say, counted from the same scripts: every conversation in the
KPIs, each request for a person handed off, resolved by the agent and rated with the scripted
score, and the unanswered questions grouped into a suggested FAQ. Played again with
``--if-empty`` it adds nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from analytics import AnalyticsSettings
from analytics.gaps import find_gaps, load_embedder
from analytics.kpis import conversation_kpis
from analytics.pipeline import run_pipeline
from analytics.schema import upgrade_analytics
from crm_connector import read_transaction, write_transaction
from crm_connector.models import SupportConversation
from crmbot.cli import main
from crmbot.cmd_demo import asked_orders, corpus_questions
from crmbot.demo_conversations import UNANSWERED, build_scripts
from tests.support.live_gateway import AGENT_PASSWORD

COUNT, SEED = 14, 11


def _conversations(sessions) -> int:  # type: ignore[no-untyped-def]
    with read_transaction(sessions) as session:
        return int(session.scalar(select(func.count()).select_from(SupportConversation)))


@pytest.fixture
def demo_env(live_gateway, e2e_crm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "demo-logins.json").write_text(
        json.dumps({live_gateway.agent_username: AGENT_PASSWORD}))
    monkeypatch.setenv("CRM_DATABASE_URL", e2e_crm.database_url)
    monkeypatch.setenv("CRMBOT_PROJECT_ROOT", str(tmp_path))
    monkeypatch.setenv("ANALYTICS_ARTIFACTS_DIR", str(tmp_path / "analytics"))
    monkeypatch.setenv("ANALYTICS_REDACTION_KEY", "test-redaction-key")
    return ["demo", "conversations", "--url", live_gateway.url, "--agent",
            live_gateway.agent_username, "--count", str(COUNT), "--seed", str(SEED),
            "--no-progress"]


def test_demo_conversations_land_in_the_analytics_as_scripted(  # type: ignore[no-untyped-def]
    demo_env, live_gateway, e2e_sessions
) -> None:
    upgrade_analytics(e2e_sessions.kw["bind"])
    with write_transaction(e2e_sessions) as session:  # what earlier tests left: not counted
        run_pipeline(session, AnalyticsSettings())
        scripts = build_scripts(COUNT, SEED, corpus_questions(), asked_orders(session))
    since = dt.datetime.now(dt.UTC)
    before = _conversations(e2e_sessions)
    with read_transaction(e2e_sessions) as session:
        last_id = session.scalar(select(func.max(SupportConversation.id))) or 0

    result = CliRunner().invoke(main, demo_env)

    assert result.exit_code == 0, result.output
    people = [script for script in scripts if script.wants_person]
    assert people, "the seed must ask for a person at least once"
    assert f"{COUNT} played" in result.output
    assert f"{len(people)} hand-offs resolved" in result.output
    assert "analytics conversations: done" in result.output
    assert _conversations(e2e_sessions) == before + COUNT
    settings = AnalyticsSettings()
    with read_transaction(e2e_sessions) as session:
        kpis = conversation_kpis(session, since=since)
        gaps = find_gaps(session, settings, load_embedder(), since=since)
    assert kpis.conversations == COUNT
    assert kpis.handed_off == len(people)
    assert kpis.handoff_reasons == {"human_handoff": len(people)}
    verified = [s for s in people if any(text.startswith("my email is ") for text in s.messages)]
    assert verified, "the seed must hand off a verified customer (the inbox shows a profile)"
    with read_transaction(e2e_sessions) as session:
        handed = session.execute(select(SupportConversation.customer_id).where(
            SupportConversation.id > last_id,
            SupportConversation.handoff_reason.is_not(None))).scalars().all()
    assert len(handed) == len(people)
    assert sum(customer is not None for customer in handed) == len(verified)
    [by_agent] = kpis.rating_by_agent
    assert by_agent.count == len(people)
    assert by_agent.mean == pytest.approx(sum(s.rating for s in people) / len(people))
    assert kpis.customer_messages >= sum(len(s.messages) for s in scripts) - len(people)
    asked = {s.messages[-1] for s in scripts if s.kind == "unanswered"}
    grouped = [set(group) & asked for group in UNANSWERED if len(set(group) & asked) >= 2]
    assert grouped, "the seed must ask two questions of one unanswered group"
    assert any(group <= set(gap.examples) for gap in gaps for group in grouped), gaps


def test_if_empty_plays_nothing_on_a_database_with_conversations(  # type: ignore[no-untyped-def]
    demo_env, e2e_sessions
) -> None:
    first = CliRunner().invoke(main, [*demo_env, "--count", "1", "--no-refresh"])
    assert first.exit_code == 0, first.output
    before = _conversations(e2e_sessions)
    result = CliRunner().invoke(main, [*demo_env, "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "already has conversations; none played" in result.output
    assert _conversations(e2e_sessions) == before
