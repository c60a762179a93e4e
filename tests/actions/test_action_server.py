"""The real action server (``python -m rasa_sdk --actions actions``) over HTTP, as Rasa calls it."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from trackers import DOMAIN, SLOTS, parse_data, user, verified_slots

from crm_connector import CrmSettings, create_db_engine, create_session_factory, issue_shop_token
from crmbot.runtime import RuntimeProblem, running_action_server
from crmbot.settings import PlatformSettings
from tests.crm_connector.factories import delivered_order, make_customer
from tests.support.rasa_server import free_port

START_TIMEOUT_SECONDS = 120

pytestmark = pytest.mark.slow


def http(url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback only
        return response.status, json.loads(response.read())


@contextlib.contextmanager
def running_server(workdir: Path, crm: CrmSettings, env_overrides: dict[str, str]) -> Iterator[str]:
    """The real action server (``crmbot.runtime``, as ``crmbot up`` and the end-to-end tests
    start it) on a free loopback port, working in ``workdir``; always stopped."""
    platform = PlatformSettings(_env_file=None, host="127.0.0.1", action_port=free_port())
    env = {"KNOWLEDGE_INDEX_DIR": str(workdir / "faq-index"), **env_overrides}
    with running_action_server(platform, crm, log_path=workdir / "action-server.log",
                               env_overrides=env, cwd=workdir, timeout=START_TIMEOUT_SECONDS):
        yield f"http://127.0.0.1:{platform.action_port}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[str]:
    """An action server over a seeded SQLite file (FAQ off)."""
    workdir = tmp_path_factory.mktemp("action-server")
    database = workdir / "crm.sqlite"
    shutil.copy(sqlite_template, database)
    settings = CrmSettings(_env_file=None, database_url=f"sqlite:///{database}")
    engine = create_db_engine(settings)
    with create_session_factory(engine).begin() as s:
        delivered_order(s, make_customer(s, "C0000001"), "10004217")
    engine.dispose()
    with running_server(workdir, settings, {"ACTIONS_FAQ_ENABLED": "false"}) as url:
        yield url


def action_call(action: str, slots: dict[str, Any], text: str, intent: str,
                metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON Rasa 3.6 posts to the action server's /webhook."""
    return {
        "next_action": action,
        "sender_id": "server-test",
        "version": "3.6.21",
        "domain": DOMAIN,
        "tracker": {
            "sender_id": "server-test",
            "slots": {**SLOTS, **slots},
            "latest_message": parse_data(text, intent, metadata=metadata),
            "events": [{"event": "action", "name": "action_listen"},
                       user(text, intent, metadata=metadata)],
            "paused": False, "followup_action": None, "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


def test_the_server_answers_health_and_order_status(server: str) -> None:
    assert http(f"{server}/health") == (200, {"status": "ok"})

    status, names = http(f"{server}/actions")
    assert status == 200
    assert {"action_check_order_status", "action_session_start", "validate_verify_form",
            "validate_refund_form", "action_submit_refund", "validate_cancel_form",
            "action_cancel_order", "validate_address_form", "action_change_address",
            "action_answer_faq", "action_default_fallback", "action_handoff"} <= {
        n["name"] for n in names}

    status, body = http(f"{server}/webhook", action_call(
        "action_check_order_status", verified_slots(order_number="10004217"),
        "where is my order 10004217?", "order_status"))
    assert status == 200
    assert body["events"] == []
    [reply] = body["responses"]
    assert reply["text"].startswith("Order 10004217, placed Sat 14 Nov")
    assert "was delivered on Tue 17 Nov" in reply["text"]
    assert "Tracking:" in reply["text"] and "Parcel handed to DHL" in reply["text"]

    status, body = http(f"{server}/webhook", action_call(
        "action_check_order_status", {"order_number": "10004217"}, "where is it?", "order_status"))
    assert body["events"] == []
    assert "checked it's you" in body["responses"][0]["text"]
    assert "DHL" not in json.dumps(body)


def test_the_server_verifies_a_shop_token_at_session_start(server: str) -> None:
    token = issue_shop_token(CrmSettings(_env_file=None), "C0000001", now=dt.datetime.now(dt.UTC))
    status, body = http(f"{server}/webhook", action_call(
        "action_session_start", {"session_started_metadata": {"shop_token": token}}, "hi", "greet"))
    assert status == 200
    assert body["events"][0]["event"] == "session_started"
    customer = {"event": "slot", "timestamp": None, "name": "customer_id", "value": "C0000001"}
    assert customer in body["events"]
    assert body["events"][-1]["name"] == "action_listen"


TINY_CORPUS = """\
faqs:
- id: shipping-countries
  question: Which countries do you ship to?
  answer: We ship to every country of the European Union.
- id: returns-how
  question: How do I return an item?
  answer: Start the return in your account and print the label.
- id: payments-methods
  question: Which payment methods do you accept?
  answer: Card, PayPal, invoice and bank transfer.
"""


def test_preload_loads_the_faq_index_when_the_worker_starts(tmp_path: Path) -> None:
    """With ACTIONS_PRELOAD_FAQ=true the worker loads the retriever without waiting for a
    question: the index folder starts empty, so the load builds the index into it (a
    three-question corpus keeps that quick)."""
    corpus = tmp_path / "faqs.yml"
    corpus.write_text(TINY_CORPUS, encoding="utf-8")
    index_dir = tmp_path / "faq-index"
    crm = CrmSettings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'crm.sqlite'}")
    env = {"ACTIONS_FAQ_ENABLED": "true", "ACTIONS_PRELOAD_FAQ": "true",
           "KNOWLEDGE_INDEX_DIR": str(index_dir), "KNOWLEDGE_CORPUS_PATH": str(corpus)}
    with running_server(tmp_path, crm, env) as url:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not list(index_dir.glob("faq-index-*.json")):
            assert time.monotonic() < deadline, "the worker did not preload the FAQ index"
            time.sleep(0.5)
        status, body = http(f"{url}/webhook", action_call(
            "action_answer_faq", {}, "which countries do you ship to?", "ask_faq"))
        assert status == 200
        source = "(From our FAQ: \u201cWhich countries do you ship to?\u201d)"
        assert source in body["responses"][0]["text"]


def test_a_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    """The port is taken: the start fails as soon as the server exits, with the server's own
    log in the error, instead of waiting for the timeout."""
    crm = CrmSettings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'crm.sqlite'}")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        platform = PlatformSettings(_env_file=None, host="127.0.0.1",
                                    action_port=taken.getsockname()[1])
        with pytest.raises(RuntimeProblem) as failure, running_action_server(
            platform, crm, log_path=tmp_path / "action-server.log", cwd=tmp_path,
            env_overrides={"ACTIONS_FAQ_ENABLED": "false"}, timeout=START_TIMEOUT_SECONDS,
        ):
            pytest.fail("the server cannot have started on a taken port")
    message = str(failure.value)
    assert "exited" in message, message  # not "did not answer within": it did not wait
    assert "address already in use" in message.lower(), message
