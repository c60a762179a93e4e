"""Headless Chromium (Debian's package) driven by Playwright, for the browser tests.

Never `playwright install`: the browser is /usr/bin/chromium, installed by `make setup`.
Missing chromium skips these tests locally and fails them under CI=true.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import skip_or_fail
from tests.support.rasa_server import free_port

REPO = Path(__file__).resolve().parents[2]
WEB_DIR = REPO / "web"
SCREENSHOTS = REPO / "var" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Module scope, not session: the sync Playwright API keeps an event loop running in this thread
# while it is open, and pytest-asyncio cannot run the async tests collected after these.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.is_file():
        skip_or_fail(
            f"{CHROMIUM} not found: install it with `make setup` (Debian package chromium)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright Python package is missing from .venv")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(browser):  # type: ignore[no-untyped-def]
    """Factory of pages, each in its own browser context (own cookies and localStorage).
    Console errors and uncaught page errors are collected on ``page.errors``."""
    contexts = []

    def make(viewport: tuple[int, int] = (1280, 820)):  # type: ignore[no-untyped-def]
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        contexts.append(context)
        page = context.new_page()
        page.errors = []  # type: ignore[attr-defined]
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="session")
def static_site() -> Iterator[str]:
    """``web/`` served as plain files (``/static/...``), no gateway behind it."""
    port = free_port()
    handler = functools.partial(_QuietHandler, directory=str(WEB_DIR))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------- the real gateway

T = TypeVar("T")


class LoopThread:
    """An event loop running in a thread of its own, for the servers the (sync) browser tests
    talk to: the real gateway, fakes of outside services."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=timeout)

    def call(self, work: Callable[[], T]) -> T:
        """``work()`` in the loop's thread (a fake's state belongs to that loop)."""
        async def call() -> T:
            return work()
        return self.run(call())

    def serve(self, app: object, port: int) -> Callable[[], None]:
        """Serve the aiohttp ``app`` on 127.0.0.1:``port``; returns the function that stops it."""
        from aiohttp import web as aioweb

        runner = aioweb.AppRunner(app, access_log=None)

        async def start() -> None:
            await runner.setup()
            await aioweb.TCPSite(runner, "127.0.0.1", port).start()

        self.run(start())
        return lambda: self.run(runner.cleanup())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


AGENT_PASSWORD = "browser-agent-password-1"


class LiveGateway:
    """The real web app (``web.app.init_app``) served on loopback from a thread of its own,
    talking to the session's real Rasa server and action server."""

    def __init__(self, url: str, crm: object, agent_username: str, agent_name: str) -> None:
        self.url = url
        self.crm = crm
        self.agent_username = agent_username
        self.agent_name = agent_name


# Module scope, not session: a gateway's redelivery task delivers every pending customer message
# of the database it serves, so one left running would also deliver the messages of later tests
# that share the end-to-end database (each with a gateway of its own) to the session's Rasa
# server, and those messages would reach the bot twice.
@pytest.fixture(scope="module")
def live_gateway(rasa_server, e2e_crm) -> Iterator[LiveGateway]:  # type: ignore[no-untyped-def]
    import datetime as dt
    import secrets

    from crm_connector import (
        AgentRole,
        create_agent_user,
        create_db_engine,
        create_session_factory,
        write_transaction,
    )
    from web import WebSettings, init_app

    username = f"dana-{secrets.token_hex(3)}"
    engine = create_db_engine(e2e_crm)
    with write_transaction(
        create_session_factory(engine)
    ) as session:  # the real service, as `crmbot users add` does
        create_agent_user(
            session,
            username,
            AGENT_PASSWORD,
            AgentRole.AGENT,
            display_name="Dana Reyes",
            now=dt.datetime.now(dt.UTC),
        )
    engine.dispose()

    port = free_port()
    settings = WebSettings(
        session_secret=secrets.token_urlsafe(48),
        rasa_url=rasa_server.url,
        rasa_timeout_seconds=45,
        port=port,
    )
    served = LoopThread("live-gateway")
    stop = served.serve(init_app(settings, e2e_crm), port)
    try:
        yield LiveGateway(f"http://127.0.0.1:{port}", e2e_crm, username, "Dana Reyes")
    finally:
        stop()
        served.close()
