"""The action context: nothing built at import, settings from the environment on first use,
one context per process, and a broken configuration answered with an apology."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rasa_sdk.events import ActionExecuted, SessionStarted
from trackers import responses, run, texts, tracker, verified_slots

from actions.common import DB_DOWN, SORRY
from actions.context import ActionContext, configure, get_context
from actions.order_status import ActionCheckOrderStatus
from actions.verification import ActionSessionStart

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_actions_builds_and_reads_nothing() -> None:
    # An invalid setting would fail at once if anything read the settings at import time.
    env = {**os.environ, "ACTIONS_DISPLAY_TIMEZONE": "Mars/Olympus_Mons",
           "CRM_DATABASE_URL": "mysql://nope", "PYTHONPATH": str(REPO_ROOT)}
    code = ("import actions, actions.faq, actions.handoff, actions.refunds, actions.context as c;"
            "print(c._current is None)")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "True"


async def test_the_context_is_built_once_from_the_environment_and_lazily(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make_context: Callable[..., ActionContext]
) -> None:
    database = tmp_path / "lazy.sqlite"
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("ACTIONS_HANDOFF_SUMMARY_MAX_CHARS", "300")
    configure(None)  # the make_context fixture puts the previous context back

    context = get_context()
    assert get_context() is context
    assert context.settings.handoff_summary_max_chars == 300
    assert context.crm.database_url == f"sqlite:///{database}"
    assert not database.exists()  # no engine connected yet

    # The first database call opens it; the schema is missing, which the customer hears as
    # "can't reach our order system", not as a traceback.
    _, messages = await run(ActionCheckOrderStatus(),
                            tracker("status?", "order_status",
                                    slots=verified_slots(order_number="10004217")))
    assert texts(messages) == DB_DOWN
    assert responses(messages) == ["utter_offer_human"]
    assert database.exists()
    context.close()


async def test_a_broken_configuration_gets_an_apology_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make_context: Callable[..., ActionContext]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ACTIONS_DISPLAY_TIMEZONE", "Mars/Olympus_Mons")
    configure(None)

    _, messages = await run(ActionCheckOrderStatus(), tracker(
        "status?", "order_status", slots=verified_slots(order_number="10004217")))
    assert texts(messages) == SORRY

    events, _ = await run(ActionSessionStart(), tracker(
        "hi", "greet", metadata={"shop_token": "a.b.c"}))
    assert events[0] == SessionStarted() and events[-1] == ActionExecuted("action_listen")
