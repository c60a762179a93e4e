"""The real action server (``python -m rasa_sdk --actions actions``) over HTTP, as Rasa calls it."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from trackers import DOMAIN, SLOTS, parse_data, user, verified_slots

from crm_connector import CrmSettings, create_db_engine, create_session_factory, issue_shop_token
from tests.crm_connector.factories import delivered_order, make_customer

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 120
_OWN_PREFIXES = ("ACTIONS_", "CRM_", "KNOWLEDGE_", "SANIC_")

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback only
        return response.status, json.loads(response.read())


@contextlib.contextmanager
def running_server(workdir: Path, env_overrides: dict[str, str]) -> Iterator[str]:
    """``python -m rasa_sdk --actions actions`` on a free loopback port; always stopped."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    env.update({"SANIC_HOST": "127.0.0.1", "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1",
                "KNOWLEDGE_INDEX_DIR": str(workdir / "faq-index"), **env_overrides})
    log_path = workdir / "action-server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
            cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"the action server exited ({process.returncode}):\n"
                            + log_path.read_text(errors="replace")[-4000:])
            try:
                if http(f"{url}/health")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail("the action server did not become healthy:\n"
                            + log_path.read_text(errors="replace")[-4000:])
            time.sleep(0.5)
        yield url
    finally:
        # Sanic runs a worker process: stop the process group this test started.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


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
    with running_server(workdir, {"CRM_DATABASE_URL": settings.database_url,
                                  "ACTIONS_FAQ_ENABLED": "false"}) as url:
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
    env = {"CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.sqlite'}",
           "ACTIONS_PRELOAD_FAQ": "true", "KNOWLEDGE_INDEX_DIR": str(index_dir),
           "KNOWLEDGE_CORPUS_PATH": str(corpus)}
    with running_server(tmp_path, env) as url:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not list(index_dir.glob("faq-index-*.json")):
            assert time.monotonic() < deadline, "the worker did not preload the FAQ index"
            time.sleep(0.5)
        status, body = http(f"{url}/webhook", action_call(
            "action_answer_faq", {}, "which countries do you ship to?", "ask_faq"))
        assert status == 200
        source = "(From our FAQ: \u201cWhich countries do you ship to?\u201d)"
        assert source in body["responses"][0]["text"]
