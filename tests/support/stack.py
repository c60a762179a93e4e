"""The whole assistant on loopback, as a pytest plugin shared by every test package
(registered in ``tests/conftest.py``): a seeded SQLite CRM, the FAQ index, the trained production
model, the real action server and the real Rasa server, talking over HTTP.

Everything is built once per test session, and only when a test asks for it; each test uses its
own conversation id. ``start_action_server`` is also used by tests that need a server of their
own (for instance one they stop and restart).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crm_connector import CrmSettings, create_db_engine, create_session_factory, upgrade_schema
from crm_connector.demo import DemoConfig, seed_demo_data
from crmbot.runtime import process_env, running_action_server, train
from crmbot.settings import PlatformSettings
from tests.support.rasa_server import (
    RasaServer,
    free_port,
    require_rasa_executable,
    send_message,
    start_rasa_server,
)

REPO = Path(__file__).resolve().parents[2]
AS_OF = dt.datetime.now(dt.UTC).date()


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def e2e_crm(e2e_dir: Path) -> CrmSettings:
    """A migrated SQLite CRM with a small deterministic demo data set (showcase included)."""
    settings = CrmSettings(database_url=f"sqlite:///{e2e_dir / 'crm.sqlite'}")
    engine = create_db_engine(settings)
    upgrade_schema(engine)
    sessions = create_session_factory(engine)
    with sessions.begin() as session:
        seed_demo_data(session, DemoConfig(as_of=AS_OF, customers=120, products=60, orders=800))
    engine.dispose()
    return settings


@pytest.fixture(scope="session")
def e2e_platform(e2e_dir: Path) -> PlatformSettings:
    require_rasa_executable()
    return PlatformSettings(models_dir=e2e_dir / "models", rasa_port=free_port(),
                            action_port=free_port())


@pytest.fixture(scope="session")
def e2e_model(e2e_platform: PlatformSettings, e2e_crm: CrmSettings) -> Path:
    """The production model (bot/config.yml, bot/domain.yml, bot/data, nlu_data), trained by
    the same code path as `crmbot train`."""
    model, _ = train(e2e_platform, e2e_crm)
    return model


@contextlib.contextmanager
def start_action_server(platform: PlatformSettings, crm: CrmSettings, workdir: Path) -> Iterator[str]:
    """Run the real action server on ``platform.action_port`` until the block ends; yields its
    webhook URL once ``/health`` answers. Its output goes to ``workdir/action-server.log``."""
    with running_action_server(
        platform, crm, log_path=workdir / "action-server.log", timeout=120,
        # its own index and analytics folders: never the models `make run` left in var/
        env_overrides={"KNOWLEDGE_INDEX_DIR": str(workdir / "knowledge"),
                       "ANALYTICS_ARTIFACTS_DIR": str(workdir / "analytics"),
                       "ACTIONS_PRELOAD_FAQ": "true"},
    ) as url:
        yield url


@pytest.fixture(scope="session")
def action_server(e2e_platform: PlatformSettings, e2e_crm: CrmSettings, e2e_dir: Path) -> Iterator[str]:
    with start_action_server(e2e_platform, e2e_crm, e2e_dir) as url:
        yield url


def start_platform_rasa(platform: PlatformSettings, crm: CrmSettings, model: Path, base: Path, *,
                        endpoints: Path = REPO / "bot" / "endpoints.yml",
                        ready_timeout: float | None = None) -> RasaServer:
    """`rasa run` of ``model`` in the environment `crmbot up` gives it (``process_env``), with
    HOME in ``base/home`` and its log in ``base/rasa``; once it answers. ``ready_timeout``
    defaults to the platform's startup timeout (loading the model on a busy machine)."""
    env = process_env(platform, crm, rasa=True)
    (base / "home").mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(base / "home")
    return start_rasa_server(
        require_rasa_executable(), model, workdir=base / "rasa", env=env, endpoints=endpoints,
        credentials=REPO / "bot" / "credentials.yml",
        ready_timeout=platform.startup_timeout_seconds if ready_timeout is None else ready_timeout,
    )


@pytest.fixture(scope="session")
def rasa_server(e2e_platform: PlatformSettings, e2e_crm: CrmSettings, e2e_model: Path,
                action_server: str, e2e_dir: Path) -> Iterator[RasaServer]:
    server = start_platform_rasa(e2e_platform, e2e_crm, e2e_model, e2e_dir)
    try:
        yield server
    finally:
        server.stop()


class Customer:
    """One conversation with the assistant over the REST channel."""

    def __init__(self, server: RasaServer) -> None:
        self.server = server
        self.sender = f"e2e-{uuid.uuid4().hex[:12]}"
        self.transcript: list[tuple[str, list[str]]] = []

    def say(self, text: str, metadata: dict[str, Any] | None = None) -> str:
        """Send ``text``; return everything the bot answered, joined (buttons included)."""
        replies = send_message(self.server.url, self.sender, text) if metadata is None else \
            _send_with_metadata(self.server.url, self.sender, text, metadata)
        lines: list[str] = []
        for reply in replies:
            if reply.get("text"):
                lines.append(str(reply["text"]))
            lines.extend(f"[{b.get('title')}]" for b in reply.get("buttons") or [])
        self.transcript.append((text, lines))
        return "\n".join(lines)

    def tracker(self) -> dict[str, Any]:
        with urllib.request.urlopen(
            f"{self.server.url}/conversations/{self.sender}/tracker", timeout=30
        ) as response:
            return json.load(response)

    def dump(self) -> str:
        return "\n".join(f"> {said}\n" + "\n".join(f"  < {line}" for line in answer)
                         for said, answer in self.transcript)


def _send_with_metadata(url: str, sender: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": text, "metadata": metadata}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


@pytest.fixture
def customer(rasa_server: RasaServer) -> Callable[[], Customer]:
    return lambda: Customer(rasa_server)


@pytest.fixture(scope="session")
def e2e_sessions(e2e_crm: CrmSettings):  # type: ignore[no-untyped-def]
    engine = create_db_engine(e2e_crm)
    yield create_session_factory(engine)
    engine.dispose()

