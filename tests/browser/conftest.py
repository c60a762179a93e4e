"""Headless Chromium (Debian's package) driven by Playwright, for the browser tests.

Never `playwright install`: the browser is /usr/bin/chromium, installed by `make setup`.
Missing chromium skips these tests locally and fails them under CI=true.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

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
        # One locale wherever the tests run: amounts and dates read the same (€1,234.50).
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                      locale="en-US")
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
