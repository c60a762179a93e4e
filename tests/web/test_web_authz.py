"""Authorisation matrix: anonymous, customer (conversation token only), agent, manager and
admin against every route, and CSRF refusal of every state-changing inbox request."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from analytics.schema import upgrade_analytics
from crm_connector import create_db_engine
from tests.web.conftest import open_chat
from tests.web.test_web_inbox import queued_chat

ROLES = ["anonymous", "customer", "agent", "manager", "admin"]
STAFF = ("agent", "manager", "admin")


def expect(anonymous: int, customer: int, agent: int, manager: int, admin: int) -> dict[str, int]:
    return dict(zip(ROLES, (anonymous, customer, agent, manager, admin), strict=True))


#: (method, path template, JSON body, expected status per role). ``{a}`` is a queued
#: conversation the caller claims and transfers; ``{b}`` one it claims and hands back.
#: Rows run in order, so later rows see the state earlier rows left.
MATRIX: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
    ("GET", "/", None, expect(200, 200, 200, 200, 200)),
    ("GET", "/healthz", None, expect(200, 200, 200, 200, 200)),
    ("POST", "/api/chat/sessions", {}, expect(200, 200, 200, 200, 200)),
    ("GET", "/login", None, expect(200, 200, 200, 200, 200)),
    ("GET", "/favicon.ico", None, expect(200, 200, 200, 200, 200)),
    ("GET", "/inbox", None, expect(302, 302, 200, 200, 200)),
    ("GET", "/api/inbox/me", None, expect(401, 401, 200, 200, 200)),
    ("GET", "/api/inbox/conversations?view=queue", None, expect(401, 401, 200, 200, 200)),
    ("GET", "/api/inbox/conversations?view=all", None, expect(401, 401, 200, 200, 200)),
    ("GET", "/api/inbox/conversations/{a}", None, expect(401, 401, 200, 200, 200)),
    ("GET", "/api/inbox/conversations/{a}/customer", None, expect(401, 401, 200, 200, 200)),
    ("GET", "/api/inbox/canned", None, expect(401, 401, 200, 200, 200)),
    ("GET", "/api/inbox/agents", None, expect(401, 401, 200, 200, 200)),
    ("POST", "/api/inbox/conversations/{a}/claim", {}, expect(401, 401, 200, 200, 200)),
    ("POST", "/api/inbox/conversations/{a}/reply", {"text": "hello"}, expect(401, 401, 200, 200, 200)),
    ("POST", "/api/inbox/conversations/{a}/note", {"text": "note"}, expect(401, 401, 200, 200, 200)),
    ("POST", "/api/inbox/conversations/{a}/transfer", {"agent_id": "{agent2}"}, expect(401, 401, 200, 200, 200)),
    # After the transfer somebody else owns it: an agent may not resolve it, a supervisor may.
    ("POST", "/api/inbox/conversations/{a}/resolve", {}, expect(401, 401, 409, 200, 200)),
    # This gateway has no Telegram to send on: staff get a clear 409, nobody else gets that far.
    ("POST", "/api/inbox/conversations/{a}/messages/999999/retry", {}, expect(401, 401, 409, 409, 409)),
    ("POST", "/api/inbox/conversations/{b}/claim", {}, expect(401, 401, 200, 200, 200)),
    ("POST", "/api/inbox/conversations/{b}/handback", {}, expect(401, 401, 200, 200, 200)),
    ("POST", "/api/inbox/conversations/{b}/resolve", {}, expect(401, 401, 409, 409, 409)),
    ("POST", "/api/inbox/canned", {"title": "T-{role}", "text": "x"}, expect(401, 401, 403, 201, 201)),
    ("GET", "/dashboard", None, expect(302, 302, 403, 200, 200)),
    ("GET", "/dashboard/sales", None, expect(302, 302, 403, 200, 200)),
    ("GET", "/dashboard/customers", None, expect(302, 302, 403, 200, 200)),
    ("GET", "/dashboard/gaps", None, expect(302, 302, 403, 200, 200)),
    # No churn model trained in this test's models folder: a clear 404 to those allowed.
    ("GET", "/dashboard/customers/at-risk.csv", None, expect(302, 302, 403, 404, 404)),
    ("GET", "/api/analytics/kpis", None, expect(401, 401, 403, 200, 200)),
    ("GET", "/api/analytics/sales", None, expect(401, 401, 403, 200, 200)),
    ("GET", "/ws/inbox", None, expect(401, 401, 101, 101, 101)),
    ("GET", "/ws/chat", None, expect(401, 101, 401, 401, 401)),
]


@pytest.fixture(autouse=True)
def analytics_as_after_upgrade(web_crm, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """As `crmbot db upgrade` leaves it: the analytics tables, nothing loaded, no model trained
    (an empty models folder, never the one `make run` left)."""
    engine = create_db_engine(web_crm)
    upgrade_analytics(engine)
    engine.dispose()
    monkeypatch.setenv("ANALYTICS_ARTIFACTS_DIR", str(tmp_path / "models"))


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        if value == "{agent2}":
            return ids["agent2"]
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize("role", ROLES)
async def test_every_route_for_every_role(role: str, client: TestClient, new_client, agent_client) -> None:  # type: ignore[no-untyped-def]
    admin, _ = await agent_client("admin")
    await queued_chat(client, "first")
    await queued_chat(client, "second")
    queue = (await (await admin.get("/api/inbox/conversations?view=queue")).json())["conversations"]
    agents = (await (await admin.get("/api/inbox/agents")).json())["agents"]
    ids = {"a": queue[0]["id"], "b": queue[1]["id"], "role": role,
           "agent2": next(a["id"] for a in agents if a["display_name"] == "Agent Two")}

    headers: dict[str, str] = {}
    token = ""
    if role in STAFF:
        browser, csrf = await agent_client(role)
        headers["X-CSRF-Token"] = csrf
    else:
        browser = await new_client()
        if role == "customer":
            chat = await open_chat(browser)
            token = chat.token
            await chat.ws.close()

    results = {}
    for method, template, body, expected in MATRIX:
        path = _fill(template, ids)
        if path == "/ws/chat" and token:
            path += f"?token={token}"
        if path.startswith("/ws/"):
            response = await browser.get(path, headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                                        "Sec-WebSocket-Version": "13",
                                                        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        elif method == "GET":
            response = await browser.get(path, allow_redirects=False)
        else:
            response = await browser.post(path, json=_fill(body, ids), headers=headers, allow_redirects=False)
        results[(method, template)] = (response.status, expected[role])
        response.close()
    wrong = {route: got for route, got in results.items() if got[0] != got[1]}
    assert wrong == {}, f"(status, expected) for {role}: {wrong}"


#: Routes the matrix leaves to other tests (they need a form, a file or a session of their own).
ELSEWHERE = {
    ("POST", "/login"): "tests/web/test_web_inbox.py: wrong password 401, missing CSRF token 403",
    ("POST", "/logout"): "test_state_changing_requests_without_the_csrf_token_are_refused",
    ("GET", "/static"): "tests/web/test_web_inbox.py and the browser tests: public files",
}


def test_the_matrix_has_every_route_of_the_gateway(web_crm) -> None:  # type: ignore[no-untyped-def]
    from tests.web.conftest import make_web_settings
    from web import init_app

    app = init_app(make_web_settings(), web_crm)
    routes = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        if route.method != "HEAD":
            routes.add((route.method, path))
    covered = {(method, re.sub(r"\{[ab]\}", "{id}", template.split("?")[0]))
               for method, template, _, _ in MATRIX}
    covered = {(m, p.replace("/messages/999999/", "/messages/{message_id}/")) for m, p in covered}
    assert routes - covered - set(ELSEWHERE) == set()
    assert set(ELSEWHERE) <= routes  # no stale entries


@pytest.mark.parametrize("path", [
    "/api/inbox/conversations/{a}/claim", "/api/inbox/conversations/{a}/reply",
    "/api/inbox/conversations/{a}/note", "/api/inbox/conversations/{a}/transfer",
    "/api/inbox/conversations/{a}/resolve", "/api/inbox/conversations/{a}/handback",
    "/api/inbox/canned", "/logout",
])
async def test_state_changing_requests_without_the_csrf_token_are_refused(
        path: str, client: TestClient, agent_client) -> None:  # type: ignore[no-untyped-def]
    await queued_chat(client)
    admin, csrf = await agent_client("admin")
    cid = (await (await admin.get("/api/inbox/conversations")).json())["conversations"][0]["id"]
    url = path.format(a=cid)
    body = {"text": "x", "agent_id": 1, "title": "t"}
    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": ""}):
        response = await admin.post(url, json=body, headers=headers, allow_redirects=False)
        assert response.status == 403
        if path != "/logout":
            assert (await response.json())["error"] == "csrf"
    detail = await (await admin.get(f"/api/inbox/conversations/{cid}")).json()
    assert detail["conversation"]["state"] == "queued"  # nothing happened
    assert [m["text"] for m in detail["messages"] if m["author"] == "agent"] == []
    assert (await admin.get("/api/inbox/me")).status == 200  # still logged in
    del csrf
