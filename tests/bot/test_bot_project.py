"""The Rasa project (bot/, nlu_data/) follows docs/conversation-design.md and holds together.

Static checks read the YAML with pyyaml. The Rasa checks run `.venv-rasa/bin/rasa` as a
subprocess on a temp copy of the project (Rasa writes caches into its working directory):
`rasa data validate` and, with the production model of the test session (`e2e_model`, trained
once by `crmbot.runtime.train` for every test that talks to the assistant), `rasa test core` on
bot/tests/test_stories/test_*.yml and the probes of bot/components. Without `.venv-rasa` they
skip, except under CI=true.

The served assistant (real Rasa server, real action server, SQL tracker store) is tested in
tests/e2e.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.conftest import fresh_postgres_database
from tests.support.rasa_server import (
    REPO_ROOT,
    rasa_subprocess_env,
    require_rasa_executable,
)

BOT = REPO_ROOT / "bot"
NLU_DATA = REPO_ROOT / "nlu_data"
CONTRACT = REPO_ROOT / "docs" / "conversation-design.md"
MIN_EXAMPLES_PER_INTENT = 25

# Responses that no story or rule can name, so `rasa data validate` reports them as unused:
# a form asks `utter_ask_<slot>` itself, and these are spoken by custom actions
# (docs/conversation-design.md): validate_verify_form, action_default_fallback, action_handoff.
RESPONSES_SPOKEN_BY_ACTIONS = frozenset(
    {"utter_verification_failed", "utter_ask_rephrase", "utter_handoff", "utter_default"}
)
_UNUSED_UTTERANCE = re.compile(r"The utterance '(\w+)' is not used in any story or rule\.")
_USER_WARNING = re.compile(r"UserWarning: (.*)")


def _load_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


@pytest.fixture(scope="module")
def domain() -> dict[str, Any]:
    return _load_yaml(BOT / "domain.yml")


@pytest.fixture(scope="module")
def nlu_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for path in sorted(NLU_DATA.glob("*.yml")):
        items.extend(_load_yaml(path).get("nlu", []))
    return items


def _examples(item: dict[str, Any]) -> list[str]:
    return [
        line.strip()[2:].strip()
        for line in item["examples"].splitlines()
        if line.strip().startswith("- ")
    ]


def _contract_sections() -> dict[str, str]:
    text = CONTRACT.read_text(encoding="utf-8")
    parts = re.split(r"^## +(.+)$", text, flags=re.MULTILINE)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def _first_column_names(section: str) -> list[str]:
    """Backticked names in the first cell of each table row (header and rule rows skipped)."""
    names: list[str] = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells and "`" in cells[0]:
            names.extend(re.findall(r"`([a-z_]+)`", cells[0]))
    return names


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    sections = _contract_sections()
    forms = {}
    for line in sections["Forms (required slots in order)"].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].startswith("`"):
            forms[cells[0].strip("`")] = re.findall(r"`([a-z_]+)`", cells[1])
    responses_title = next(t for t in sections if t.startswith("Responses"))
    return {
        "intents": _first_column_names(sections["Intents"]),
        "entities": _first_column_names(sections["Entities (and how they are extracted)"]),
        "slots": _first_column_names(sections["Slots"]),
        "forms": forms,
        "actions": _first_column_names(sections["Custom actions (`actions/`)"]),
        "responses": re.findall(r"`(utter_[a-z_]+)`", sections[responses_title]),
    }


# --- static checks ------------------------------------------------------------------------


def test_contract_parses_into_names(contract: dict[str, Any]) -> None:
    """Guard for the tests below: the contract's tables were found and read."""
    assert len(contract["intents"]) >= 17
    assert {"order_number", "email", "phone", "amount", "product"} <= set(contract["entities"])
    assert set(contract["forms"]) == {"verify_form", "refund_form", "cancel_form", "address_form"}
    assert "action_handoff" in contract["actions"]
    assert "utter_ask_continue" in contract["responses"]


def test_domain_intents_and_entities_are_the_contracts(
    domain: dict[str, Any], contract: dict[str, Any]
) -> None:
    assert sorted(domain["intents"]) == sorted(contract["intents"])
    assert sorted(domain["entities"]) == sorted(contract["entities"])


def test_domain_has_every_slot_form_action_and_response_of_the_contract(
    domain: dict[str, Any], contract: dict[str, Any]
) -> None:
    assert set(contract["slots"]) - set(domain["slots"]) == set()
    assert {
        name: form["required_slots"] for name, form in domain["forms"].items()
    } == contract["forms"]
    assert set(contract["actions"]) - set(domain["actions"]) == set()
    assert set(contract["responses"]) - set(domain["responses"]) == set()


def test_every_form_slot_has_a_question(domain: dict[str, Any]) -> None:
    slots = {slot for form in domain["forms"].values() for slot in form["required_slots"]}
    assert {f"utter_ask_{slot}" for slot in slots} - set(domain["responses"]) == set()


def test_every_response_has_variations_and_choices_have_buttons(domain: dict[str, Any]) -> None:
    responses = domain["responses"]
    too_few = [name for name, variations in responses.items() if len(variations) < 2]
    assert too_few == []
    for name in ("utter_offer_human", "utter_ask_continue", "utter_ask_cancel_confirmed"):
        assert all(len(variation.get("buttons", [])) >= 2 for variation in responses[name]), name


def test_every_intent_has_enough_varied_examples(
    domain: dict[str, Any], nlu_items: list[dict[str, Any]]
) -> None:
    counts: Counter[str] = Counter()
    for item in nlu_items:
        if "intent" in item:
            counts[item["intent"]] += len(_examples(item))

    assert set(counts) == set(domain["intents"])
    too_few = {intent: n for intent, n in counts.items() if n < MIN_EXAMPLES_PER_INTENT}
    assert too_few == {}


def test_no_example_is_labelled_with_two_intents(nlu_items: list[dict[str, Any]]) -> None:
    seen: dict[str, set[str]] = {}
    for item in nlu_items:
        if "intent" in item:
            for example in _examples(item):
                seen.setdefault(example.lower(), set()).add(item["intent"])
    assert {text: labels for text, labels in seen.items() if len(labels) > 1} == {}


@pytest.mark.parametrize(
    ("entity", "matches", "non_matches"),
    [
        ("order_number", ["10004217", "order 10010042?", "536365", "C536379"], ["1000421", "ab"]),
        ("email", ["ana@example.com", "mail: j.schmidt+shop@example.org"], ["ana at example"]),
        ("phone", ["+49 170 1234567", "0044 20 7946 0018", "0171 2345678"], ["call me"]),
        ("amount", ["20", "20.50", "€20", "20 euros", "9.99 EUR", "24,95"], ["twenty"]),
    ],
)
def test_regexes_match_the_formats_of_the_contract(
    nlu_items: list[dict[str, Any]], entity: str, matches: list[str], non_matches: list[str]
) -> None:
    patterns = [
        re.compile(pattern)
        for item in nlu_items
        if item.get("regex") == entity
        for pattern in _examples(item)
    ]
    assert patterns, f"no regex named {entity}"
    assert [text for text in matches if not any(p.search(text) for p in patterns)] == []
    assert [text for text in non_matches if any(p.search(text) for p in patterns)] == []


def test_product_lookup_and_entity_annotations(nlu_items: list[dict[str, Any]]) -> None:
    lookup = [e for item in nlu_items if item.get("lookup") == "product" for e in _examples(item)]
    annotated = Counter(
        short or long_form
        for item in nlu_items
        if "intent" in item
        for example in _examples(item)
        for short, long_form in re.findall(r"\]\((\w+)\)|\"entity\": \"(\w+)\"", example)
    )
    assert len(lookup) >= 30
    assert min(annotated[n] for n in ("order_number", "email", "amount", "product")) >= 10
    assert annotated["phone"] >= 3


def test_endpoints_take_action_server_and_stores_from_the_environment() -> None:
    endpoints = _load_yaml(BOT / "endpoints.yml")
    assert endpoints["action_endpoint"]["url"] == "${ACTION_ENDPOINT_URL}"
    assert endpoints["tracker_store"] == {
        "type": "bot.components.sql_tracker_store.SQLTrackerStore",
        "dialect": "${TRACKER_DIALECT}",
        "db": "${TRACKER_DB}",
        "url": "${TRACKER_URL}",
    }
    # shared by several Rasa worker processes, without a Redis server
    assert endpoints["lock_store"] == {
        "type": "bot.components.sqlite_lock_store.SQLiteLockStore",
        "path": "${RASA_LOCK_DB}",
    }
    assert set(_load_yaml(BOT / "credentials.yml")) == {"rest"}


# --- Rasa ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def rasa_bin() -> Path:
    return require_rasa_executable()


@pytest.fixture(scope="session")
def bot_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return rasa_subprocess_env(home=tmp_path_factory.mktemp("bot-rasa-home"))


@pytest.fixture(scope="session")
def bot_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temp copy of bot/ and nlu_data/: Rasa writes caches where it runs."""
    project = tmp_path_factory.mktemp("bot-project")
    shutil.copytree(BOT, project / "bot")
    shutil.copytree(NLU_DATA, project / "nlu_data")
    return project


def _run(
    rasa: Path, args: list[str], project: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(rasa), *args],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
def test_rasa_data_validate_reports_only_unavoidable_warnings(
    rasa_bin: Path, bot_env: dict[str, str], bot_project: Path, domain: dict[str, Any]
) -> None:
    result = _run(
        rasa_bin,
        [
            "data", "validate",
            "--domain", "bot/domain.yml",
            "--data", "bot/data", "nlu_data",
            "--config", "bot/config.yml",
        ],  # fmt: skip
        bot_project,
        bot_env,
        timeout=300,
    )
    output = result.stdout + result.stderr
    form_questions = {
        f"utter_ask_{slot}" for form in domain["forms"].values() for slot in form["required_slots"]
    }
    allowed_unused = form_questions | RESPONSES_SPOKEN_BY_ACTIONS
    warnings = _USER_WARNING.findall(output)
    avoidable = [
        warning
        for warning in warnings
        if not (
            (match := _UNUSED_UTTERANCE.search(warning)) and match.group(1) in allowed_unused
        )
    ]

    assert result.returncode == 0, output[-6000:]
    assert "No story structure conflicts found." in output
    assert avoidable == []


@pytest.mark.slow
def test_test_stories_pass_with_the_trained_policies(
    rasa_bin: Path, bot_env: dict[str, str], bot_project: Path, e2e_model: Path
) -> None:
    out = bot_project / "core-test-results"
    result = _run(
        rasa_bin,
        [
            "test", "core",
            "--model", str(e2e_model),
            "--stories", "bot/tests/test_stories",
            "--out", str(out),
        ],  # fmt: skip
        bot_project,
        bot_env,
        timeout=600,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    failed = (out / "failed_test_stories.yml").read_text(encoding="utf-8")
    report = json.loads((out / "story_report.json").read_text(encoding="utf-8"))

    assert "None of the test stories failed" in failed, failed
    conversations = report["conversation_accuracy"]
    assert conversations["correct"] == conversations["total"] >= 25



@pytest.mark.slow
def test_dialogue_policies_train_on_the_states_they_predict_with(
    rasa_bin: Path, bot_env: dict[str, str], bot_project: Path, tmp_path: Path
) -> None:
    """bot.components.fresh_state_policies: TED and memoization learn from the same dialogue
    states a live conversation has (Rasa 3.6's cached training states are stale after a form's
    happy path, which left TED unable to fit its own training stories)."""
    out = tmp_path / "probe.json"
    result = subprocess.run(
        [str(rasa_bin.parent / "python"), str(Path(__file__).parent / "policy_probe.py"), str(out)],
        cwd=bot_project, env={**bot_env, "PYTHONPATH": str(bot_project)},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    probe = json.loads(out.read_text(encoding="utf-8"))

    assert probe["story_trackers"] > 100 and probe["stale_before"] > 0, probe
    assert probe["differ_from_prediction"] == 0, probe
    assert probe["best_accuracy"] >= 0.99, probe


@pytest.mark.slow
def test_serving_components_change_speed_not_answers(
    rasa_bin: Path, bot_env: dict[str, str], bot_project: Path, e2e_model: Path, tmp_path: Path
) -> None:
    """bot.components' serving parts (benchmarks/README.md, "Chat latency"): TED's prediction
    cache gives TED's own predictions; the compiled validator of action-server responses gives
    Rasa's verdicts and messages; the SQLite lock store hands out each ticket once when two
    processes ask at the same time; the tracker store on PostgreSQL commits without waiting for
    the disk and reads back what it saved."""
    out = tmp_path / "serving.json"
    with fresh_postgres_database("crmbot_tracker") as database_url:
        tracker_url = make_url(database_url).set(drivername="postgresql")  # psycopg2, as Rasa
        result = subprocess.run(
            [str(rasa_bin.parent / "python"), str(Path(__file__).parent / "serving_probe.py"),
             str(e2e_model), str(out), tracker_url.render_as_string(hide_password=False)],
            cwd=bot_project, env={**bot_env, "PYTHONPATH": str(bot_project)},
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    probe = json.loads(out.read_text(encoding="utf-8"))

    ted = probe["ted"]
    assert ted["predictions"] >= 100 and ted["cache_hits"] > 0, ted
    assert ted["max_difference"] == 0.0, ted
    validation = probe["validation"]
    assert validation["installed"]
    assert validation["compiled"] == validation["original"]
    assert validation["original"].count("valid") == 3
    assert probe["locks"] == {"issued": 400, "distinct": 400, "held": True,
                              "after_cleanup": True}
    assert probe["postgres"] == {"synchronous_commit": "off",
                                 "events": ["user", "action"]}
