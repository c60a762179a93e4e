"""Manager pages (role manager or admin): conversation KPIs over time, the sales dashboard,
customer segments and churn risk, demand, unanswered-question suggestions; JSON under
``/api/analytics/``. Charts are SVG drawn on the server by matplotlib (``analytics.charts``):
no CDN, no script. Every number comes from ``analytics``; the views only pick the period. Under
each page's title: when the conversation data was last loaded and the customer models last
trained (``analytics.data_freshness``), in UTC.

``setup_dashboard(app)`` adds the routes (called from ``web.app.init_app``).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import logging
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup

from analytics import AnalyticsError, AnalyticsSettings, data_freshness
from analytics.gaps import CachedEmbedder, find_gaps, load_embedder
from analytics.kpis import (
    conversation_kpis,
    conversation_views,
    conversations_frame,
    kpis_over_time,
)
from analytics.report import (
    conversation_section,
    customer_model_sections,
    gaps_section,
    sales_section,
)
from analytics.sales import revenue_over_time, sales_summary
from crm_connector import AgentRole
from web.auth import current_agent, require_role
from web.errors import BadRequest, NotFound
from web.state import SESSIONS, in_transaction

log = logging.getLogger(__name__)

ANALYTICS_SETTINGS = web.AppKey("analytics_settings", AnalyticsSettings)
EMBEDDER: web.AppKey[list[Any]] = web.AppKey("analytics_embedder")
MAX_DAYS = 3650
PAGES = [("conversations", "/dashboard", "Conversations"),
         ("sales", "/dashboard/sales", "Sales"),
         ("customers", "/dashboard/customers", "Customers"),
         ("gaps", "/dashboard/gaps", "Unanswered questions")]
# The period controls a page offers are the ones its numbers depend on: the customer models are
# trained snapshots (no period), the unanswered questions are counted over a period, not per day.
CONTROLS = {"conversations": ("days", "freq"), "sales": ("days", "freq"), "customers": (),
            "gaps": ("days",)}
#: Every customer at risk for a win-back campaign, linked under the customers page's top 20.
AT_RISK_CSV = "/dashboard/customers/at-risk.csv"
AT_RISK_LINK = (f'<p><a href="{AT_RISK_CSV}" download>Download every customer at risk (CSV)</a>'
                "</p>")


#: ``days=all``: every order and conversation, however old (an imported history, say).
ALL_DAYS = "all"
PERIODS = [("7", "last 7 days"), ("30", "last 30 days"), ("90", "last 90 days"),
           ("365", "last 365 days"), (ALL_DAYS, "everything")]


def _period(request: web.Request) -> tuple[str, dt.datetime | None, str]:
    """``days`` (as asked for, for the links), the period's start (None: everything), ``freq``."""
    days = request.query.get("days", "30")
    freq = request.query.get("freq", "day")
    if freq not in ("day", "week"):
        raise BadRequest("freq must be day or week.")
    if days == ALL_DAYS:
        return days, None, freq
    try:
        count = int(days)
    except ValueError:
        raise BadRequest(f"days must be a whole number or {ALL_DAYS}.") from None
    if not 1 <= count <= MAX_DAYS:
        raise BadRequest(f"days must be from 1 to {MAX_DAYS}, or {ALL_DAYS}.")
    return str(count), dt.datetime.now(dt.UTC) - dt.timedelta(days=count), freq


def _span(since: dt.datetime | None) -> tuple[dt.datetime, dt.datetime] | None:
    """The chart axis: the period asked for, or (everything) just the data's own range."""
    return (since, dt.datetime.now(dt.UTC)) if since is not None else None


async def _render(request: web.Request, page: str, title: str, body: str, days: str,
                  freq: str) -> web.Response:
    agent = await current_agent(request)
    settings = request.app[ANALYTICS_SETTINGS]
    fresh = await in_transaction(request.app[SESSIONS],
                                 lambda session: data_freshness(session, settings))
    return aiohttp_jinja2.render_template("dashboard.html", request, {
        "pages": PAGES, "page": page, "title": title, "body": Markup(body),  # noqa: S704 - built from escaped parts
        "days": days, "periods": PERIODS, "freq": freq, "controls": CONTROLS[page], "agent": agent,
        "conversations_at": _utc(fresh.conversations_at), "models_at": _utc(fresh.models_at),
    })


def _utc(when: dt.datetime | None) -> dict[str, str] | None:
    """A time for the page: ``datetime`` attribute (ISO 8601) and text, both in UTC."""
    if when is None:
        return None
    when = when.astimezone(dt.UTC)
    return {"iso": when.isoformat(timespec="seconds"), "text": f"{when:%Y-%m-%d %H:%M} UTC"}


@require_role(AgentRole.MANAGER, page=True)
async def conversations_page(request: web.Request) -> web.Response:
    days, since, freq = _period(request)

    def build(session):  # type: ignore[no-untyped-def]
        return conversation_section(*conversation_views(session, freq=freq, since=since),
                                    freq=freq, span=_span(since))

    body = await in_transaction(request.app[SESSIONS], build)
    return await _render(request, "conversations", "Conversation KPIs", body, days, freq)


@require_role(AgentRole.MANAGER, page=True)
async def sales_page(request: web.Request) -> web.Response:
    days, since, freq = _period(request)

    def build(session):  # type: ignore[no-untyped-def]
        return sales_section(sales_summary(session, since=since),
                             revenue_over_time(session, freq=freq, since=since),
                             freq=freq, span=_span(since))

    body = await in_transaction(request.app[SESSIONS], build)
    return await _render(request, "sales", "Sales", body, days, freq)


@require_role(AgentRole.MANAGER, page=True)
async def customers_page(request: web.Request) -> web.Response:
    days, _, freq = _period(request)
    settings = request.app[ANALYTICS_SETTINGS]

    def build(session):  # type: ignore[no-untyped-def]
        notes: list[str] = []
        sections = customer_model_sections(session, settings, notes, at_risk_link=AT_RISK_LINK)
        sections.append(("Demand forecast", demand_section(session, settings, notes)))
        html = "".join(f"<h2>{Markup.escape(title)}</h2>{body}" for title, body in sections)
        if notes:
            html += "<h2>Notes</h2><ul>" + "".join(
                f"<li class='note'>{Markup.escape(n)}</li>" for n in notes) + "</ul>"
        return html

    body = await in_transaction(request.app[SESSIONS], build)
    return await _render(request, "customers",
                         "Customers: segments, lifetime value, churn risk, demand", body, days,
                         freq)


#: A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """Text a spreadsheet shows as text: a leading formula character is quoted with '."""
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_START) else value


@require_role(AgentRole.MANAGER, page=True)
async def at_risk_csv(request: web.Request) -> web.Response:
    """Every customer with value at risk, largest first, for a win-back campaign: the churn
    list of the customers page without its top-20 cut."""
    settings = request.app[ANALYTICS_SETTINGS]

    def build(session):  # type: ignore[no-untyped-def]
        from analytics.churn import customers_to_save, load_churn_model
        from analytics.sales import main_currency

        try:
            model = load_churn_model(settings)
        except AnalyticsError:
            raise NotFound("No churn model yet: run `crmbot analytics refresh`.") from None
        return customers_to_save(session, model, limit=None), main_currency(session)

    customers, currency = await in_transaction(request.app[SESSIONS], build)
    out = io.StringIO()
    writer = csv.writer(out)
    unit = f"_{currency}" if currency else ""
    writer.writerow(["customer", "name", "churn_risk", f"spend_last_year{unit}",
                     f"value_at_risk{unit}", "reasons"])
    for c in customers:
        writer.writerow([_cell(c.customer), _cell(c.name), f"{c.probability:.3f}",
                         f"{c.spend_last_year:.2f}", f"{c.value_at_risk:.2f}",
                         _cell("; ".join(r.text for r in c.reasons))])
    stamp = dt.datetime.now(dt.UTC).date().isoformat()
    return web.Response(text=out.getvalue(), content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="customers-at-risk-{stamp}.csv"',
        "Cache-Control": "no-store"})


def demand_section(session: Any, settings: AnalyticsSettings, notes: list[str]) -> str:
    """The best sellers' weekly units with the demand model's forecast and both naive baselines,
    and the backtest that says how far to trust it (from the last `crmbot analytics refresh`)."""
    from analytics.demand import crm_forecast

    return crm_forecast(session, settings)


@require_role(AgentRole.MANAGER, page=True)
async def gaps_page(request: web.Request) -> web.Response:
    days, since, freq = _period(request)
    settings = request.app[ANALYTICS_SETTINGS]
    embedder = await _embedder(request.app)

    def build(session):  # type: ignore[no-untyped-def]
        return gaps_section(find_gaps(session, settings, embedder, since=since))

    body = await in_transaction(request.app[SESSIONS], build)
    return await _render(request, "gaps", "Unanswered questions: suggested FAQs and intents",
                         body, days, freq)


async def _embedder(app: web.Application) -> Any:
    holder = app[EMBEDDER]
    if not holder:
        holder.append(await asyncio.to_thread(lambda: CachedEmbedder(load_embedder()).warm_up()))
    return holder[0]


@require_role(AgentRole.MANAGER)
async def kpis_api(request: web.Request) -> web.Response:
    _, since, freq = _period(request)

    def build(session):  # type: ignore[no-untyped-def]
        conversations = conversations_frame(session, since)
        kpis = conversation_kpis(session, since=since, conversations=conversations).as_dict()
        trend = kpis_over_time(session, freq=freq, since=since, conversations=conversations)
        kpis["since"] = since.isoformat() if since else None
        kpis["until"] = None
        kpis["over_time"] = [{"period": str(i.date()), **{k: (None if v != v else v)
                                                          for k, v in row.items()}}
                             for i, row in trend.iterrows()]
        return kpis

    return web.json_response(await in_transaction(request.app[SESSIONS], build))


@require_role(AgentRole.MANAGER)
async def sales_api(request: web.Request) -> web.Response:
    _, since, _ = _period(request)

    def build(session):  # type: ignore[no-untyped-def]
        s = sales_summary(session, since=since)
        return {"currency": s.currency, "revenue_cents": s.revenue_cents, "orders": s.orders,
                "average_order_cents": s.average_order_cents,
                "best_day": s.best_day.isoformat() if s.best_day else None,
                "best_day_revenue_cents": s.best_day_revenue_cents,
                "top_products": [vars(p) for p in s.top_products],
                "top_customers": [vars(c) for c in s.top_customers]}

    return web.json_response(await in_transaction(request.app[SESSIONS], build))


def setup_dashboard(app: web.Application, settings: AnalyticsSettings | None = None) -> None:
    app[ANALYTICS_SETTINGS] = settings or AnalyticsSettings()
    app[EMBEDDER] = []
    r = app.router
    r.add_get("/dashboard", conversations_page, name="dashboard")
    r.add_get("/dashboard/sales", sales_page, name="dashboard_sales")
    r.add_get("/dashboard/customers", customers_page, name="dashboard_customers")
    r.add_get(AT_RISK_CSV, at_risk_csv)
    r.add_get("/dashboard/gaps", gaps_page, name="dashboard_gaps")
    r.add_get("/api/analytics/kpis", kpis_api)
    r.add_get("/api/analytics/sales", sales_api)
