"""``crmbot demo conversations``: the scripts it plays, and its errors without a platform.

Playing them against the real gateway, Rasa server and action server is in
``tests/e2e/test_demo_conversations.py``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from crm_connector import CrmSettings, create_db_engine, upgrade_schema
from crmbot.cli import main
from crmbot.demo_conversations import MIX, UNANSWERED, build_scripts
from knowledge.corpus import load_corpus
from knowledge.settings import KnowledgeSettings
from tests.support.rasa_server import free_port

FAQS = [(faq.question, faq.alternatives) for faq in load_corpus(KnowledgeSettings().corpus_path)]
ORDERS = [("10000101", "alex.morgan@example.com"), ("10000203", "kim.lee@example.com")]


def test_the_same_seed_plays_the_same_conversations() -> None:
    assert build_scripts(30, 7, FAQS, ORDERS) == build_scripts(30, 7, FAQS, ORDERS)
    assert build_scripts(30, 7, FAQS, ORDERS) != build_scripts(30, 8, FAQS, ORDERS)


def test_the_mix_has_every_kind_in_its_share() -> None:
    scripts = build_scripts(40, 3, FAQS, ORDERS)
    kinds = Counter(script.kind for script in scripts)
    assert len(scripts) == 40
    assert {kind: kinds[kind] for kind in MIX} == {kind: round(share * 40)
                                                  for kind, share in MIX.items()}
    assert kinds["faq"] == 40 - sum(round(share * 40) for share in MIX.values())
    people = [script for script in scripts if script.wants_person]
    assert len(people) == kinds["person"]
    assert all(script.rating in range(1, 6) for script in people)
    assert len({script.rating for script in people}) > 1  # a demo where everyone gives 5 looks fake
    assert all(script.rating is None for script in scripts if not script.wants_person)


def test_order_questions_name_a_real_order_and_verify_with_its_owner() -> None:
    for script in build_scripts(40, 5, FAQS, ORDERS):
        if script.kind == "order":
            number, email = next((n, e) for n, e in ORDERS if n in " ".join(script.messages))
            asked = next(i for i, text in enumerate(script.messages) if number in text)
            assert script.messages[asked + 1] == f"my email is {email}"


def test_faq_questions_come_from_the_corpus() -> None:
    phrasings = {text for question, alternatives in FAQS for text in (question, *alternatives)}
    faq_scripts = [s for s in build_scripts(40, 2, FAQS, ORDERS) if s.kind == "faq"]
    assert faq_scripts
    assert all(any(text in phrasings for text in s.messages) for s in faq_scripts)


def test_unanswered_questions_come_in_whole_groups() -> None:
    asked = [s.messages[-1] for s in build_scripts(30, 7, FAQS, ORDERS) if s.kind == "unanswered"]
    groups = [set(group) for group in UNANSWERED]
    touched = [group for group in groups if group & set(asked)]
    # 6 questions fill groups one after another: at most one group is left incomplete
    assert sum(1 for group in touched if not group <= set(asked)) <= 1
    assert any(len(group & set(asked)) >= 2 for group in touched)  # something to cluster


def test_every_other_request_for_a_person_comes_from_a_verified_customer() -> None:
    people = [s for s in build_scripts(40, 5, FAQS, ORDERS) if s.wants_person]
    verified = [s for s in people if any(text.startswith("my email is ") for text in s.messages)]
    assert len(people) == 6 and len(verified) == 3 and people[0] in verified
    for script in verified:  # a real order, its owner's e-mail, then the request for a person
        number, email = next((n, e) for n, e in ORDERS if n in " ".join(script.messages))
        assert script.messages[-2:] == (f"my email is {email}", script.messages[-1])
        assert number in script.messages[-3]


def test_without_orders_nobody_asks_about_one() -> None:
    scripts = build_scripts(30, 1, FAQS, [])
    assert all(s.kind != "order" for s in scripts)
    assert not any("my email is" in text for s in scripts for text in s.messages)


@pytest.mark.parametrize(("count", "faqs", "message"), [(0, FAQS, "count"),
                                                         (5, [], "FAQ corpus is empty")])
def test_bad_arguments_are_refused(count: int, faqs: list, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message):
        build_scripts(count, 1, faqs, ORDERS)


@pytest.fixture
def empty_crm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    settings = CrmSettings(database_url=f"sqlite:///{tmp_path / 'crm.sqlite'}")
    engine = create_db_engine(settings)
    upgrade_schema(engine)
    engine.dispose()
    monkeypatch.setenv("CRM_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CRMBOT_PROJECT_ROOT", str(tmp_path))
    return tmp_path


def test_without_demo_logins_it_says_which_command_makes_them(empty_crm: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "conversations", "--no-progress"])
    assert result.exit_code == 1
    assert "no password for 'demo-agent'" in result.output
    assert "crmbot users demo" in result.output


def test_without_a_running_gateway_it_fails_with_the_url(empty_crm: Path) -> None:
    (empty_crm / "var").mkdir()
    (empty_crm / "var" / "demo-logins.json").write_text(json.dumps({"demo-agent": "pw"}))
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(main, ["demo", "conversations", "--no-progress", "--url", url])
    assert result.exit_code == 1
    assert f"demo conversations against {url}:" in result.output
    assert "Traceback" not in result.output
