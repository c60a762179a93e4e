"""Manager dashboard: pages and JSON need the manager (or admin) role; they render the KPIs,
sales and unanswered questions with server-side SVG charts; a headless Chromium screenshot of
the conversation page is saved under var/screenshots/."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import select

from analytics import AnalyticsSettings, save_artifact
from analytics.churn import customers_to_save, load_churn_model
from analytics.pipeline import run_pipeline
from analytics.refresh import refresh
from analytics.schema import upgrade_analytics
from crm_connector import CrmSettings, create_db_engine, create_session_factory, write_transaction
from crm_connector.demo import DemoConfig, seed_demo_data
from crm_connector.models import Customer
from tests.analytics.tracker_rows import Tracker
from tests.conftest import skip_or_fail
from tests.crm_connector.factories import make_customer, make_order
from tests.support.rasa_server import free_port
from tests.web.conftest import PASSWORD, make_web_settings
from web import init_app

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "var" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _fill(crm: CrmSettings) -> None:
    """Three conversations in Rasa's tracker table and two orders, loaded by the pipeline."""
    engine = create_db_engine(crm)
    upgrade_analytics(engine)
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).timestamp()
    Tracker(engine, "d1", start).faq("delivery time?", "How long does delivery take?")
    (Tracker(engine, "d2", start + 3600).user("gift cards for my boss?", "nlu_fallback", 0.2)
     .action("action_default_fallback").bot("Could you rephrase?"))
    (Tracker(engine, "d3", start + 7200).user("gift card please?", "nlu_fallback", 0.25)
     .action("action_default_fallback").bot("Could you rephrase?")
     .user("a person please", "human_handoff").action("action_handoff").bot("OK").pause())
    sessions = create_session_factory(engine)
    with write_transaction(sessions) as session:
        anna = make_customer(session, "C0000001")
        now = dt.datetime.now(dt.UTC)
        make_order(session, anna, "10000001", placed_at=now - dt.timedelta(days=3))
        make_order(session, anna, "10000002", placed_at=now - dt.timedelta(days=1),
                   lines=[("LAMP", 1, 4500)])
    with write_transaction(sessions) as session:
        run_pipeline(session, AnalyticsSettings(redaction_key="k"))
    engine.dispose()


@pytest.fixture
def models_dir(tmp_path, monkeypatch) -> Path:  # type: ignore[no-untyped-def]
    """No trained customer models: the pages say so instead of failing."""
    monkeypatch.setenv("ANALYTICS_ARTIFACTS_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


async def test_pages_and_api_need_the_manager_role(models_dir, client, agent_client, web_crm) -> None:  # type: ignore[no-untyped-def]
    _fill(web_crm)
    anonymous = await client.get("/dashboard", allow_redirects=False)
    assert anonymous.status == 302
    assert anonymous.headers["Location"] == "/login?next=/dashboard"  # back here after signing in
    assert (await client.get("/api/analytics/kpis")).status == 401
    agent, _ = await agent_client("agent")
    assert (await agent.get("/dashboard")).status == 403
    assert (await agent.get("/api/analytics/sales")).status == 403
    for role in ("manager", "admin"):
        browser, _ = await agent_client(role)
        page = await browser.get("/dashboard?days=30&freq=day")
        assert page.status == 200
        text = await page.text()
        assert text.count("<svg") >= 3 and "Containment" in text
        assert "33.3%" in text  # 1 of 3 conversations contained (the FAQ answer)
        assert "not recorded" in text  # the handoff reason in words (no CRM row says why)
    manager, _ = await agent_client("manager")
    kpis = await (await manager.get("/api/analytics/kpis?days=7")).json()
    assert kpis["conversations"] == 3 and kpis["handed_off"] == 1
    assert kpis["containment_rate"] == pytest.approx(1 / 3)
    sales = await (await manager.get("/api/analytics/sales?days=7")).json()
    assert sales["orders"] == 2 and sales["revenue_cents"] == 10000 + 4500
    sales_page = await (await manager.get("/dashboard/sales")).text()
    assert "<svg" in sales_page and "145.00 EUR" in sales_page
    assert "Revenue per day" in sales_page  # the default period
    weekly = await (await manager.get("/dashboard/sales?freq=week")).text()
    assert "Revenue per week" in weekly and "145.00 EUR" in weekly
    customers_page = await manager.get("/dashboard/customers")
    assert customers_page.status == 200
    assert "crmbot analytics refresh" in await customers_page.text()  # no models trained yet


async def test_the_pages_say_how_fresh_their_numbers_are(models_dir, client, agent_client, web_crm) -> None:  # type: ignore[no-untyped-def]
    engine = create_db_engine(web_crm)
    upgrade_analytics(engine)  # as `crmbot db upgrade` leaves it: tables, nothing loaded yet
    engine.dispose()
    manager, _ = await agent_client("manager")

    async def freshness(path: str) -> str:
        page = await manager.get(path)
        assert page.status == 200
        return re.search(r'<p class="freshness">(.*?)</p>', await page.text(), re.S).group(1)

    for path in ("/dashboard", "/dashboard/sales", "/dashboard/customers"):
        assert await freshness(path) == (
            "Conversation data never loaded · customer models never trained"), path

    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    _fill(web_crm)  # runs the conversation pipeline
    save_artifact({"weights": [1.0]}, models_dir, "churn", data_snapshot={}, validation={})
    line = await freshness("/dashboard")
    stamps = re.findall(r'<time datetime="([^"]+)">(\d{4}-\d\d-\d\d \d\d:\d\d) UTC</time>',
                        line)
    assert len(stamps) == 2, line  # data as of, models trained
    for iso, text in stamps:
        when = dt.datetime.fromisoformat(iso)
        assert when.utcoffset() == dt.timedelta(0)
        assert before <= when <= dt.datetime.now(dt.UTC)
        assert text == f"{when:%Y-%m-%d %H:%M}"
    assert line == (f'Conversation data as of <time datetime="{stamps[0][0]}">{stamps[0][1]} UTC'
                    f'</time> · customer models trained <time datetime="{stamps[1][0]}">'
                    f"{stamps[1][1]} UTC</time>")


async def test_each_page_offers_only_the_period_controls_its_numbers_use(models_dir, client, agent_client, web_crm) -> None:  # type: ignore[no-untyped-def]
    _fill(web_crm)
    manager, _ = await agent_client("manager")

    async def controls(path: str) -> set[str]:
        page = await manager.get(path)
        assert page.status == 200, path
        return set(re.findall(r'<select name="(\w+)"', await page.text()))

    assert await controls("/dashboard?days=7&freq=week") == {"days", "freq"}
    assert await controls("/dashboard/sales") == {"days", "freq"}
    # Counted over the period, not per day or week; the chosen grouping is kept for the links.
    gaps = await (await manager.get("/dashboard/gaps?days=7&freq=week")).text()
    assert set(re.findall(r'<select name="(\w+)"', gaps)) == {"days"}
    assert '<input type="hidden" name="freq" value="week">' in gaps
    # Trained snapshots: a period there would change nothing.
    assert await controls("/dashboard/customers") == set()


async def test_managers_download_every_customer_at_risk(models_dir, client, agent_client, web_crm) -> None:  # type: ignore[no-untyped-def]
    path = "/dashboard/customers/at-risk.csv"
    manager, _ = await agent_client("manager")
    untrained = await manager.get(path)
    assert untrained.status == 404 and "crmbot analytics refresh" in (await untrained.json())["message"]
    assert (await client.get(path, allow_redirects=False)).headers["Location"] == f"/login?next={path}"
    agent, _ = await agent_client("agent")
    assert (await agent.get(path)).status == 403

    engine = create_db_engine(web_crm)
    sessions = create_session_factory(engine)
    with write_transaction(sessions) as session:
        seed_demo_data(session, DemoConfig(as_of=dt.date(2026, 11, 22), customers=120,
                                           products=60, orders=800))
    settings = AnalyticsSettings(_env_file=None, artifacts_dir=models_dir, redaction_key="k")
    assert [s.status for s in refresh(web_crm, settings, only=["churn"]).steps] == ["done"]
    page = await (await manager.get("/dashboard/customers")).text()
    assert f'<a href="{path}" download>' in page  # under the top 20 of the page

    def download_rows(text: str) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(text)))

    response = await manager.get(path)
    assert response.status == 200 and response.content_type == "text/csv"
    assert re.fullmatch(r'attachment; filename="customers-at-risk-\d{4}-\d\d-\d\d\.csv"',
                        response.headers["Content-Disposition"])
    rows = download_rows(await response.text())
    assert list(rows[0]) == ["customer", "name", "churn_risk", "spend_last_year_EUR",
                             "value_at_risk_EUR", "reasons"]
    with write_transaction(sessions) as session:
        model = load_churn_model(settings)
        expected = customers_to_save(session, model, limit=None)
    assert len(rows) == len(expected) > 20  # all of them, not the page's top 20
    assert [r["customer"] for r in rows] == [c.customer for c in expected]
    values = [float(r["value_at_risk_EUR"]) for r in rows]
    assert values == sorted(values, reverse=True)

    # A name a spreadsheet would run as a formula is written as text.
    with write_transaction(sessions) as session:
        customer = session.scalar(select(Customer).where(Customer.public_id == rows[0]["customer"]))
        customer.first_name, customer.last_name = '=HYPERLINK("http://evil.example")', "x"
    engine.dispose()
    again = download_rows(await (await manager.get(path)).text())
    assert again[0]["name"].startswith("'=HYPERLINK(")


async def test_bad_period_is_a_clear_400(client, agent_client, models_dir) -> None:  # type: ignore[no-untyped-def]
    manager, _ = await agent_client("manager")
    for query in ("days=abc", "days=everything", "days=0", "days=99999", "freq=hourly", "days=1e9"):
        response = await manager.get(f"/api/analytics/kpis?{query}")
        assert response.status == 400, query
        assert (await response.json())["error"] == "bad_request"


async def test_everything_means_every_order_however_old(models_dir, client, agent_client, web_crm) -> None:  # type: ignore[no-untyped-def]
    """An imported history (the public Online Retail data is from 2011) is older than any
    number of days the period menu offers; ``days=all`` counts it, and is the menu's last item."""
    engine = create_db_engine(web_crm)
    upgrade_analytics(engine)
    with write_transaction(create_session_factory(engine)) as session:
        anna = make_customer(session, "C0000001")
        make_order(session, anna, "10000001", placed_at=dt.datetime(2011, 3, 4, 10, tzinfo=dt.UTC))
        make_order(session, anna, "10000002",
                   placed_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
    engine.dispose()
    manager, _ = await agent_client("manager")
    recent = await (await manager.get("/api/analytics/sales?days=3650")).json()
    everything = await (await manager.get("/api/analytics/sales?days=all")).json()
    assert (recent["orders"], everything["orders"]) == (1, 2)
    assert everything["revenue_cents"] == 2 * 10000
    assert (await (await manager.get("/api/analytics/kpis?days=all")).json())["since"] is None
    page = await (await manager.get("/dashboard/sales?days=all&freq=week")).text()
    assert "200.00 EUR" in page and "<svg" in page
    assert '<option value="all" selected>everything</option>' in page
    assert 'href="/dashboard?days=all&amp;freq=week"' in page  # the other pages keep the period


async def test_unanswered_questions_page(models_dir, client, agent_client, web_crm) -> None:  # type: ignore[no-untyped-def]
    _fill(web_crm)
    manager, _ = await agent_client("manager")
    page = await manager.get("/dashboard/gaps?days=30")
    text = await page.text()
    assert page.status == 200
    assert "FAQ" in text and "gift card" in text  # the two gift-card questions, one cluster


@pytest.fixture
def live_dashboard(web_crm, models_dir) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The real app on a loopback port, served from a thread (Playwright's sync API needs the
    test's own thread free of an event loop)."""
    _fill(web_crm)
    port = free_port()
    loop = asyncio.new_event_loop()
    app = init_app(make_web_settings(), web_crm)
    runner = web.AppRunner(app)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(60)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def test_dashboard_screenshot(live_dashboard: str) -> None:
    if not CHROMIUM.is_file():
        skip_or_fail(f"{CHROMIUM} not found: install it with `make setup` (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / "dashboard.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                             headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # A failed request (a missing icon, a style) shows as a console error.
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{live_dashboard}/dashboard")
            assert "/login?next=" in page.url  # a page, so a redirect to the login form
            page.fill("#username", "manager")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{live_dashboard}/dashboard")  # signed in, back where it began
            page.goto(f"{live_dashboard}/dashboard?days=30")
            page.wait_for_selector("svg")
            assert page.locator("svg").count() >= 3
            assert "Conversation KPIs" in page.inner_text("h1")
            assert page.locator("nav a.current").inner_text() == "Conversations"
            page.screenshot(path=str(target), full_page=True)
            assert errors == []
        finally:
            browser.close()
    assert target.stat().st_size > 10_000
