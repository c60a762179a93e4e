"""Fixtures for the gateway tests: the real app on a real migrated SQLite, inbox users with
known passwords, logged-in clients per role, and customer web sockets."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from crm_connector import (
    AgentRole,
    CrmSettings,
    create_agent_user,
    create_db_engine,
    create_session_factory,
    write_transaction,
)
from web import WebSettings, init_app

PASSWORD = "inbox-password-123"
SECRET = "test-session-secret-" + "x" * 32
ROLES = {"agent": AgentRole.AGENT, "manager": AgentRole.MANAGER, "admin": AgentRole.ADMIN}


#: A port bound for the whole session and never listened on: connecting to it is refused, and no
#: server started later can be given it. (A port merely free when asked for could be handed to
#: the test's own gateway a moment later, which then answered its own Rasa calls with a 404.)
_NO_RASA = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
_NO_RASA.bind(("127.0.0.1", 0))
NO_RASA_URL = f"http://127.0.0.1:{_NO_RASA.getsockname()[1]}"


def make_web_settings(rasa_url: str | None = None, **overrides: Any) -> WebSettings:
    """Settings for a test gateway; by default Rasa is a port nobody listens on (bot down)."""
    values: dict[str, Any] = {
        "session_secret": SECRET, "rasa_url": rasa_url or NO_RASA_URL,
        "rasa_timeout_seconds": 2.0, "redeliver_interval_seconds": 0.3,
    }
    values.update(overrides)
    return WebSettings(**values)


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    """Pages of our own, so the page routes are tested without the front-end's files."""
    root = tmp_path / "static"
    (root / "shop").mkdir(parents=True)
    (root / "inbox").mkdir()
    (root / "shop" / "index.html").write_text("<!doctype html><title>shop</title>")
    (root / "inbox" / "index.html").write_text("<!doctype html><title>inbox</title>")
    (root / "widget.js").write_text("console.log('widget')")
    (root / "favicon.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    return root


@pytest.fixture(scope="session")
def web_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The migrated SQLite template plus one inbox user per role (user name = role name);
    made once because argon2 hashing is deliberately slow."""
    path = tmp_path_factory.mktemp("web-template") / "web.sqlite"
    shutil.copy(sqlite_template, path)
    engine = create_db_engine(CrmSettings(database_url=f"sqlite:///{path}"))
    with write_transaction(create_session_factory(engine)) as session:
        for name, role in ROLES.items():
            create_agent_user(session, name, PASSWORD, role, display_name=name.title(),
                              now=dt.datetime.now(dt.UTC))
        create_agent_user(session, "agent2", PASSWORD, AgentRole.AGENT, display_name="Agent Two",
                          now=dt.datetime.now(dt.UTC))
    engine.dispose()
    return path


@pytest.fixture
def web_crm(web_template: Path, tmp_path: Path) -> CrmSettings:
    """A fresh copy of the web template for this test."""
    path = tmp_path / "crm.sqlite"
    shutil.copy(web_template, path)
    return CrmSettings(database_url=f"sqlite:///{path}")


@pytest.fixture
def web_settings() -> WebSettings:
    return make_web_settings()


@pytest.fixture
async def client(aiohttp_client: Callable[..., Awaitable[TestClient]], web_crm: CrmSettings,
                 web_settings: WebSettings, static_dir: Path) -> TestClient:
    app: web.Application = init_app(web_settings, web_crm, static_dir=static_dir)
    return await aiohttp_client(app)


async def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log ``client`` in through the HTML form; return the CSRF token for API calls."""
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)
    response = await client.post("/login", data={"username": username, "password": password,
                                                 "csrf_token": token}, allow_redirects=False)
    assert response.status == 303, await response.text()
    me = await client.get("/api/inbox/me")
    return (await me.json())["csrf_token"]


@pytest.fixture
def new_client(aiohttp_client: Callable[..., Awaitable[TestClient]], client: TestClient):  # type: ignore[no-untyped-def]
    """Another browser (own cookie jar) on the same server."""
    return lambda: aiohttp_client(client.server)


@pytest.fixture
def agent_client(new_client):  # type: ignore[no-untyped-def]
    """``await agent_client("manager")`` -> (client, csrf token), logged in with that role."""
    async def make(username: str) -> tuple[TestClient, str]:
        browser = await new_client()
        return browser, await login(browser, username)
    return make


class Chat:
    """A customer in the widget: a conversation token and an open web socket."""

    def __init__(self, client: TestClient, token: str, conversation_id: str,
                 ws: aiohttp.ClientWebSocketResponse, history: dict[str, Any]) -> None:
        self.client, self.token, self.conversation_id, self.ws = client, token, conversation_id, ws
        self.history = history
        self.seen: list[dict[str, Any]] = []

    async def say(self, text: str, client_id: str, payload: str | None = None) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "message", "text": text, "client_id": client_id}
        if payload:
            frame["payload"] = payload
        await self.ws.send_json(frame)
        return await self.wait_for(lambda f: f["type"] in ("ack", "error") and f.get("client_id") == client_id)

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict[str, Any]:
        for frame in self.seen:
            if predicate(frame):
                self.seen.remove(frame)
                return frame
        while True:
            frame = await self.ws.receive_json(timeout=timeout)
            if predicate(frame):
                return frame
            self.seen.append(frame)

    def texts(self, author: str) -> list[str]:
        return [f["message"]["text"] for f in self.seen if f["type"] == "message"
                and f["message"]["author"] == author]


async def open_chat(client: TestClient, body: dict[str, Any] | None = None) -> Chat:
    response = await client.post("/api/chat/sessions", json=body or {})
    assert response.status == 200, await response.text()
    data = await response.json()
    ws = await client.ws_connect(f"/ws/chat?token={data['conversation_token']}")
    history = await ws.receive_json(timeout=10)
    assert history["type"] == "history"
    return Chat(client, data["conversation_token"], data["conversation_id"], ws, history)
