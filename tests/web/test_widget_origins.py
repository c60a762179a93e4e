"""Embedding the widget on other sites (``WEB_WIDGET_ORIGINS``): CORS for the chat API and the
widget's files only, the Origin check of the chat web socket, and the setting's validation."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from pydantic import ValidationError

from crm_connector import CrmSettings
from tests.web.conftest import SECRET, make_web_settings, open_chat
from web import WebSettings, init_app
from web.origins import PREFLIGHT_MAX_AGE_SECONDS

REPO = Path(__file__).resolve().parents[2]
SHOP = "https://shop.example.com"
OTHER = "https://evil.example.net"
PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type"}

ClientFactory = Callable[[WebSettings], Awaitable[TestClient]]


def cors_headers(response: aiohttp.ClientResponse) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


@pytest.fixture
def web_settings() -> WebSettings:
    return make_web_settings(widget_origins=[SHOP])


@pytest.fixture
def static_dir(static_dir: Path) -> Path:
    """The conftest's pages plus a widget module where the real one lives."""
    (static_dir / "widget").mkdir()
    (static_dir / "widget" / "widget.js").write_text("export const widget = 1;")
    return static_dir


@pytest.fixture
def client_with(aiohttp_client: Callable[..., Awaitable[TestClient]], web_crm: CrmSettings,
                static_dir: Path) -> ClientFactory:
    """A client of an app built with other settings (same database)."""
    return lambda settings: aiohttp_client(init_app(settings, web_crm, static_dir=static_dir))


# ------------------------------------------------------------------------------ chat API CORS

async def test_preflight_from_an_allowed_origin_is_answered(client: TestClient) -> None:
    response = await client.options("/api/chat/sessions", headers={"Origin": SHOP, **PREFLIGHT})
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Origin" in response.headers["Vary"]
    assert response.headers["Access-Control-Allow-Methods"] == "POST"
    assert response.headers["Access-Control-Allow-Headers"].lower() == "content-type"
    assert response.headers["Access-Control-Max-Age"] == str(PREFLIGHT_MAX_AGE_SECONDS)
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_post_from_an_allowed_origin_can_be_read_and_uses_no_cookie(
        client: TestClient) -> None:
    response = await client.post("/api/chat/sessions", json={}, headers={"Origin": SHOP})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Origin" in response.headers["Vary"]
    # The conversation token travels in the body (kept in the page's storage), never a cookie,
    # so the widget needs no credentials cross-origin.
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Set-Cookie" not in response.headers
    assert (await response.json())["conversation_token"]


async def test_errors_of_the_chat_api_carry_the_headers_so_the_widget_sees_the_status(
        client: TestClient) -> None:
    response = await client.post("/api/chat/sessions", data=b"{not json",
                                 headers={"Origin": SHOP, "Content-Type": "application/json"})
    assert response.status == 400
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    assert (await response.json())["error"] == "bad_request"


async def test_a_disallowed_origin_gets_no_cors_headers_and_its_preflight_a_403(
        client: TestClient) -> None:
    response = await client.post("/api/chat/sessions", json={}, headers={"Origin": OTHER})
    assert cors_headers(response) == {}  # the browser keeps the answer from the page
    preflight = await client.options("/api/chat/sessions", headers={"Origin": OTHER, **PREFLIGHT})
    assert preflight.status == 403
    assert cors_headers(preflight) == {}
    body = await preflight.json()
    assert body["error"] == "forbidden" and "WEB_WIDGET_ORIGINS" in body["message"]


async def test_an_origin_is_matched_exactly(client: TestClient) -> None:
    for near_miss in ("http://shop.example.com", "https://shop.example.com:8443",
                      "https://shop.example.com.evil.net", "https://www.shop.example.com", "null"):
        response = await client.options("/api/chat/sessions",
                                        headers={"Origin": near_miss, **PREFLIGHT})
        assert response.status == 403, near_miss
        assert cors_headers(response) == {}, near_miss


async def test_without_widget_origins_only_our_own_pages_use_the_chat(
        client_with: ClientFactory) -> None:
    client = await client_with(make_web_settings())
    preflight = await client.options("/api/chat/sessions", headers={"Origin": SHOP, **PREFLIGHT})
    assert preflight.status == 403
    response = await client.post("/api/chat/sessions", json={}, headers={"Origin": SHOP})
    assert cors_headers(response) == {}
    chat = await open_chat(client)  # the gateway's own shop page (no Origin from aiohttp)
    assert chat.history["type"] == "history"


async def test_any_site_is_allowed_without_credentials(client_with: ClientFactory) -> None:
    client = await client_with(make_web_settings(widget_origins=["*"]))
    preflight = await client.options("/api/chat/sessions", headers={"Origin": OTHER, **PREFLIGHT})
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    response = await client.post("/api/chat/sessions", json={}, headers={"Origin": OTHER})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    token = (await response.json())["conversation_token"]
    ws = await client.ws_connect(f"/ws/chat?token={token}", origin=OTHER)
    assert (await ws.receive_json(timeout=10))["type"] == "history"
    await ws.close()


# ----------------------------------------------------------------- routes that stay closed

async def test_inbox_login_and_dashboard_never_get_cors_headers(
        client: TestClient,
        agent_client: Callable[[str], Awaitable[tuple[TestClient, str]]]) -> None:
    anonymous = await client.get("/api/inbox/me", headers={"Origin": SHOP})
    assert anonymous.status == 401 and cors_headers(anonymous) == {}
    for path in ("/api/inbox/conversations/1/reply", "/login", "/api/inbox/canned"):
        preflight = await client.options(path, headers={"Origin": SHOP, **PREFLIGHT})
        assert preflight.status != 204 and cors_headers(preflight) == {}, path
    manager, csrf = await agent_client("manager")
    listed = await manager.get("/api/inbox/conversations", headers={"Origin": SHOP})
    assert listed.status == 200 and cors_headers(listed) == {}
    canned = await manager.post("/api/inbox/canned", json={"title": "t", "text": "x"},
                                headers={"Origin": SHOP, "X-CSRF-Token": csrf})
    assert canned.status == 201 and cors_headers(canned) == {}
    dashboard = await manager.get("/dashboard", headers={"Origin": SHOP}, allow_redirects=False)
    assert cors_headers(dashboard) == {}


async def test_the_widget_files_may_be_loaded_by_any_page_but_other_files_not(
        client: TestClient) -> None:
    # <script type="module"> fetches in CORS mode: without the header no other site could even
    # show the widget. The files are public; what they may call is decided by the chat API.
    module = await client.get("/static/widget/widget.js", headers={"Origin": OTHER})
    assert module.status == 200
    assert module.headers["Access-Control-Allow-Origin"] == "*"
    page = await client.get("/static/inbox/index.html", headers={"Origin": SHOP})
    assert page.status == 200 and cors_headers(page) == {}


# ------------------------------------------------------------------------- chat web socket

async def new_token(client: TestClient) -> str:
    response = await client.post("/api/chat/sessions", json={})
    return (await response.json())["conversation_token"]


async def test_chat_socket_accepts_an_allowed_origin_our_own_and_none(client: TestClient) -> None:
    token = await new_token(client)
    own = f"http://{client.host}:{client.port}"
    for origin in (SHOP, own, None):
        ws = await client.ws_connect(f"/ws/chat?token={token}", origin=origin)
        assert (await ws.receive_json(timeout=10))["type"] == "history", origin
        await ws.close()


@pytest.mark.parametrize("origin", [OTHER, "http://shop.example.com", "null",
                                    "http://127.0.0.1:1", "http://127.0.0.1.evil.net"])
async def test_chat_socket_refuses_other_origins_before_the_upgrade(client: TestClient,
                                                                    origin: str) -> None:
    token = await new_token(client)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(f"/ws/chat?token={token}", origin=origin)
    assert refused.value.status == 403


async def test_a_refused_chat_socket_gets_the_json_error_even_without_a_token(
        client: TestClient) -> None:
    response = await client.get("/ws/chat", headers={"Origin": OTHER})
    assert response.status == 403  # not 401: the origin is checked first
    assert (await response.json())["error"] == "forbidden"


# ---------------------------------------------------------------------------------- settings

def test_origins_are_read_comma_separated_and_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_WIDGET_ORIGINS", " https://Shop.Example.com/ , "
                       "http://localhost:8000,https://shop.example.com:443,")
    settings = WebSettings(session_secret=SECRET)
    assert settings.widget_origins == ["https://shop.example.com", "http://localhost:8000"]
    monkeypatch.setenv("WEB_WIDGET_ORIGINS", '["https://a.example", "http://[::1]:8080"]')
    assert WebSettings(session_secret=SECRET).widget_origins == ["https://a.example",
                                                                "http://[::1]:8080"]
    monkeypatch.setenv("WEB_WIDGET_ORIGINS", "*")
    assert WebSettings(session_secret=SECRET).widget_origins == ["*"]
    monkeypatch.delenv("WEB_WIDGET_ORIGINS")
    assert WebSettings(session_secret=SECRET).widget_origins == []


@pytest.mark.parametrize(("value", "says"), [
    ("shop.example.com", "scheme is missing, e.g. https://shop.example.com"),
    ("https://shop.example.com/chat", "remove the path"),
    ("https://shop.example.com?x=1", "remove the path"),
    ("ftp://shop.example.com", "must be http or https"),
    ("*,https://shop.example.com", "cannot be combined"),
    ("https://*.example.com", "wildcards are not supported"),
    ("https://", "name one host"),
    ("https://user@shop.example.com", "remove the user name"),
    ("https://shop.example.com:99999", "port is not a number"),
    ("https://bücher.example", "xn-- form"),
    ('["https://a.example"', "not a valid JSON list"),
])
def test_bad_origins_fail_with_a_clear_error(monkeypatch: pytest.MonkeyPatch, value: str,
                                             says: str) -> None:
    monkeypatch.setenv("WEB_WIDGET_ORIGINS", value)
    with pytest.raises(ValidationError, match="WEB_WIDGET_ORIGINS") as error:
        WebSettings(session_secret=SECRET)
    assert says in str(error.value)


def test_the_gateway_does_not_start_with_a_bad_origin(tmp_path: Path) -> None:
    env = {**os.environ, "WEB_SESSION_SECRET": SECRET, "WEB_WIDGET_ORIGINS": "shop.example.com",
           "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "web"], check=False, cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "WEB_WIDGET_ORIGINS: 'shop.example.com' is not an origin" in run.stderr
