"""One self-contained HTML report: conversation KPIs, sales, unanswered questions, customer
models. Charts are inline SVG drawn by matplotlib (``analytics.charts``); no CDN, no script.

``collect_report(session, settings, ...)`` gathers the numbers (the caller owns the
transaction); ``render_report(data)`` turns them into HTML; every text is escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from analytics import charts
from analytics.errors import AnalyticsError, InvalidInputData
from analytics.gaps import GapSuggestion, find_gaps
from analytics.kpis import ConversationKpis, conversation_views
from analytics.sales import SalesSummary, main_currency, revenue_over_time, sales_summary
from analytics.settings import AnalyticsSettings
from crm_connector import handoff_reason_label
from crm_connector import money as crm_money

log = logging.getLogger(__name__)


@dataclass
class ReportData:
    generated_at: dt.datetime
    since: dt.datetime | None
    until: dt.datetime | None
    kpis: ConversationKpis
    kpi_trend: pd.DataFrame
    intents: pd.DataFrame
    sales: SalesSummary
    revenue: pd.DataFrame
    gaps: list[GapSuggestion] | None
    freq: str = "day"  # the period of kpi_trend and intents
    sections: list[tuple[str, str]] = field(default_factory=list)  # (title, trusted HTML)
    notes: list[str] = field(default_factory=list)


def collect_report(session: Session, settings: AnalyticsSettings, *,
                   since: dt.datetime | None = None, until: dt.datetime | None = None,
                   embedder: Any = None, freq: str = "day") -> ReportData:
    """The report's numbers; unanswered questions only when an ``embedder`` is given."""
    notes = []
    gaps = None
    if embedder is not None:
        gaps = find_gaps(session, settings, embedder, since=since, until=until)
    else:
        notes.append("Unanswered questions were not mined (no embedding model given).")
    kpis, kpi_trend, intents = conversation_views(session, freq=freq, since=since, until=until)
    data = ReportData(
        generated_at=dt.datetime.now(dt.UTC), since=since, until=until,
        kpis=kpis, kpi_trend=kpi_trend, intents=intents,
        sales=sales_summary(session, since=since, until=until),
        revenue=revenue_over_time(session, freq="week", since=since, until=until),
        gaps=gaps, notes=notes, freq=freq,
    )
    data.sections.extend(customer_model_sections(session, settings, notes))
    from analytics.demand import crm_forecast

    data.sections.append(("Demand forecast", crm_forecast(session, settings)))
    return data


def customer_model_sections(session: Session, settings: AnalyticsSettings,
                            notes: list[str], *, at_risk_link: str = "") -> list[tuple[str, str]]:
    """Segments, lifetime value and churn risk from the persisted models, when they have been
    trained; money columns are headed with the shop's main currency (the models add amounts as
    one). ``at_risk_link``: trusted HTML under the churn table (the dashboard's CSV download)."""
    sections = []
    unit = f" ({currency})" if (currency := main_currency(session)) else ""
    segments = None
    try:  # the purchases the lifetime-value and churn sections score: read once for both
        from analytics.rfm import data_end, transactions

        as_of = data_end(session)
        purchases = transactions(session, as_of)
    except AnalyticsError:  # no orders yet: each section says so in its note
        as_of, purchases = None, None
    try:
        from analytics.segments import load_segment_model

        model = segments = load_segment_model(settings)
        rows = [(p.name, p.size, f"{p.share:.0%}", f"{p.mean_recency_days:.0f}",
                 f"{p.mean_frequency:.1f}", f"{p.mean_monetary:,.2f}") for p in model.profiles]
        sections.append(("Customer segments", _segments_chosen(model) + charts.horizontal_bars(
            [(p.name, p.size) for p in model.profiles], title="Customers per segment")
            + _table(["segment", "customers", "share", "recency (days)", "orders",
                      f"spend{unit}"], rows)))
    except (ImportError, AnalyticsError) as exc:
        notes.append(f"Segments: {exc}")
    try:
        sections.append(("Customer lifetime value", clv_section(
            session, settings, segments, currency, as_of=as_of, purchases=purchases)))
    except (ImportError, AnalyticsError) as exc:
        notes.append(f"Lifetime value: {exc}")
    try:
        from analytics.churn import customers_to_save, load_churn_model

        churn = load_churn_model(settings)
        everyone = customers_to_save(session, churn, limit=None, as_of=as_of,
                                     purchases=purchases)
        rows = [(c.customer, c.name, f"{c.probability:.0%}", f"{c.spend_last_year:,.2f}",
                 f"{c.value_at_risk:,.2f}", "; ".join(r.text for r in c.reasons))
                for c in everyone[:20]]
        sections.append((
            "Churn risk: customers to win back (top 20 by value at risk)",
            "<p>Value at risk = churn risk in the next "
            f"{churn.horizon_days} days × spend in the last year; customers who have not bought "
            "for over a year are not listed." + _churn_checked(churn.validation) + "</p>"
            + _risk_levels_charts(everyone, unit)
            + _table(["customer", "name", "risk", f"spend last year{unit}",
                      f"value at risk{unit}", "top reasons"], rows) + at_risk_link))
    except (ImportError, AnalyticsError) as exc:
        notes.append(f"Churn: {exc}")
    return sections


def clv_section(session: Session, settings: AnalyticsSettings, segments: Any,
                currency: str | None, top: int = 10, *, as_of: dt.datetime | None = None,
                purchases: pd.DataFrame | None = None) -> str:
    """What today's customers are expected to spend in the model's horizon (BG/NBD + Gamma-Gamma
    from the last refresh, on today's purchases): the total, per segment when segments are
    trained, the customers worth the most, and the holdout check that says how far to trust it.
    ``purchases``: ``transactions(session, as_of)`` when the caller has already read them."""
    from analytics.clv import ANNUAL_DISCOUNT, clv_values, load_clv_model
    from analytics.rfm import customer_names
    from analytics.segments import assign_segments

    model = load_clv_model(settings)
    values = clv_values(session, model, as_of=as_of, purchases=purchases).dropna(subset=["clv"])
    unit = f" ({currency})" if currency else ""
    months = round(model.horizon_weeks / 52 * 12)
    parts = [f"<p>Expected spend of today's {len(values):,} customers in the next {months} "
             f"months: <b>{html.escape(money(round(values['clv'].sum() * 100), currency))}"
             "</b> (BG/NBD for how often they buy, Gamma-Gamma for how much, fitted by maximum "
             f"likelihood; discounted {ANNUAL_DISCOUNT:.0%} a year)."
             + _clv_checked(model.validation) + "</p>"]
    if segments is not None:
        assigned = assign_segments(session, segments, as_of=as_of, purchases=purchases)
        by_segment = values["clv"].groupby(assigned).sum().sort_values(ascending=False)
        parts.append(charts.horizontal_bars(
            [(str(name), round(float(v), 2)) for name, v in by_segment.items()],
            title=f"Expected spend, next {months} months, by segment{unit}"))
    best = values.sort_values(["clv"], ascending=False, kind="stable").head(top)
    names = customer_names(session, list(best.index))
    parts.append("<h3>Customers expected to spend the most</h3>" + _table(
        ["customer", "name", "expected purchases", "still active", f"expected spend{unit}"],
        [(c, names.get(c, c), f"{r.expected_purchases:.1f}", f"{r.probability_alive:.0%}",
          f"{r.clv:,.2f}") for c, r in best.iterrows()]))
    return "".join(parts)


def _clv_checked(validation: dict[str, Any]) -> str:
    """The holdout check (``analytics.clv.holdout_check``) in a sentence, if recorded."""
    h = validation.get("holdout")
    try:
        return (f" Checked on the last {h['holdout_weeks']:g} weeks, fitted on what came before: "
                f"{h['predicted_purchases']:,.0f} purchases predicted, {h['actual_purchases']:,} "
                f"made; off by {h['mae']:.2f} purchases per customer on average "
                f"({h['naive_mae']:.2f} for each customer's past rate continued).")
    except (KeyError, TypeError, ValueError):
        return ""


def _segments_chosen(model: Any) -> str:
    """How many segments, and by what criterion (the silhouette of each number tried)."""
    scores = model.silhouette
    if model.k not in scores:
        return ""
    return (f"<p>{model.k} segments: the number of the {min(scores)}-{max(scores)} tried with "
            f"the best silhouette score ({scores[model.k]:.2f}; 1 is perfectly separated).</p>")


def _risk_levels_charts(customers: list[Any], unit: str) -> str:
    """How many of the last year's customers are at each level of risk, and what they spent."""
    from analytics.churn import HIGH_RISK, MEDIUM_RISK, risk_level

    labels = {"high": f"high ({HIGH_RISK:.0%} or more)",
              "medium": f"medium ({MEDIUM_RISK:.0%} to {HIGH_RISK:.0%})",
              "low": f"low (under {MEDIUM_RISK:.0%})"}
    count = dict.fromkeys(labels, 0)
    value = dict.fromkeys(labels, 0.0)
    for c in customers:
        level = risk_level(c.probability)
        count[level] += 1
        value[level] += c.value_at_risk
    return charts.grid(
        charts.horizontal_bars([(labels[k], count[k]) for k in labels],
                               title="Customers of the last year by churn risk"),
        charts.horizontal_bars([(labels[k], round(value[k], 2)) for k in labels],
                               title=f"Value at risk by churn risk{unit}"))


def _churn_checked(validation: dict[str, Any]) -> str:
    """How far to trust the risks: the ROC-AUC of the forward-in-time check, if recorded."""
    auc, method = validation.get("roc_auc"), validation.get("method")
    if not isinstance(auc, float):
        return ""
    how = f" ({html.escape(str(method))})" if method else ""
    return (f" Checked on later data{how}: ROC-AUC {auc:.2f} (0.5 is a coin toss, 1 ranks "
            "every leaver above every stayer).")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _seconds(value: float | None) -> str:
    """A duration for people: milliseconds below a second (a bot answers in a few), seconds below
    two minutes, else minutes."""
    if value is None:
        return "n/a"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def money(cents: int | None, currency: str | None) -> str:
    """``crm_connector.money`` (``1,234.50 EUR``), ``n/a`` for no amount."""
    return "n/a" if cents is None else crm_money(int(cents), currency or "").strip()


def _table(header: list[str], rows: list[tuple[Any, ...]]) -> str:
    if not rows:
        return charts.no_data("rows")
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def kpi_cards(kpis: ConversationKpis) -> str:
    cards = [
        ("Conversations", f"{kpis.conversations:,}"),
        ("Containment", _pct(kpis.containment_rate)),
        ("Handoff rate", _pct(kpis.handoff_rate)),
        ("Fallback rate", _pct(kpis.fallback_rate)),
        ("FAQ answer rate", _pct(kpis.faq_answer_rate)),
        ("First response (median)", _seconds(kpis.median_first_response_seconds)),
        ("Resolution (median)", _seconds(kpis.median_resolution_seconds)),
        ("Agent first reply (median)", _seconds(kpis.median_agent_first_response_seconds)),
    ]
    return _cards(cards)


def sales_cards(sales: SalesSummary) -> str:
    best = (f"{sales.best_day} ({money(sales.best_day_revenue_cents, sales.currency)})"
            if sales.best_day else "n/a")
    return _cards([("Revenue", money(sales.revenue_cents, sales.currency)),
                   ("Orders", f"{sales.orders:,}"),
                   ("Average order", money(sales.average_order_cents, sales.currency)),
                   ("Best day", best)])


def _cards(cards: list[tuple[str, str]]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="label">{html.escape(k)}</div>'
        f'<div class="value">{html.escape(v)}</div></div>' for k, v in cards) + "</div>"


#: How wide a bar of each ``freq`` is on a time axis.
PERIODS = {"day": pd.Timedelta(days=1), "week": pd.Timedelta(days=7),
           "month": pd.Timedelta(days=30)}

def conversation_section(k: ConversationKpis, trend: pd.DataFrame, intents: pd.DataFrame, *,
                         freq: str = "day",
                         span: tuple[dt.datetime, dt.datetime] | None = None) -> str:
    """KPI cards and charts of ``trend`` and ``intents`` per ``freq`` period; the time axes
    cover ``span`` (the period asked for) when it is given."""
    reasons = sorted(((handoff_reason_label(r), n) for r, n in k.handoff_reasons.items()),
                     key=lambda kv: (-kv[1], kv[0]))
    ratings = [(s.key, f"{s.mean:.2f}", s.count) for s in k.rating_by_intent]
    agents = [(s.key, f"{s.mean:.2f}", s.count) for s in k.rating_by_agent]
    return "".join([
        kpi_cards(k),
        charts.grid(
            charts.line_chart(trend, ["containment_rate", "handoff_rate", "fallback_rate"],
                              title="Containment, handoff and fallback rate", percent=True,
                              span=span),
            charts.stacked_bars(intents, title="Customer messages by intent", span=span,
                                period=PERIODS[freq]),
            charts.horizontal_bars([(i, n) for i, n in k.top_intents], title="Top intents"),
            charts.horizontal_bars([(r, n) for r, n in reasons], title="Handoff reasons")),
        "<h3>Rating by intent</h3>", _table(["intent", "mean rating", "ratings"], ratings),
        "<h3>Rating by agent</h3>", _table(["agent", "mean rating", "ratings"], agents),
    ])


def sales_section(s: SalesSummary, revenue: pd.DataFrame, *, freq: str = "week",
                  span: tuple[dt.datetime, dt.datetime] | None = None) -> str:
    """Sales cards, revenue per ``freq`` period (the ``revenue_over_time`` it was built with)."""
    revenue = revenue.copy()
    if not revenue.empty:
        revenue["revenue"] = revenue["revenue_cents"].astype(float) / 100
    currency = f" ({s.currency})" if s.currency else ""
    return "".join([
        sales_cards(s),
        charts.grid(
            charts.line_chart(revenue, ["revenue"], span=span,
                              title=f"Revenue per {freq}{currency}"),
            charts.horizontal_bars([(f"{p.sku} {p.name}", p.revenue_cents / 100)
                                    for p in s.top_products],
                                   title=f"Top products by revenue{currency}")),
        "<h3>Top customers</h3>",
        _table(["customer", "name", "orders", "revenue"],
               [(c.public_id, c.name, c.orders, money(c.revenue_cents, s.currency))
                for c in s.top_customers]),
    ])


def gaps_section(gaps: list[GapSuggestion] | None) -> str:
    if gaps is None:
        return charts.no_data("mined questions")
    rows = [(g.kind.upper(), g.title, g.count, " | ".join(g.examples[1:4]))
            for g in gaps]
    note = ""
    distinct, grouped = getattr(gaps, "distinct", 0), getattr(gaps, "grouped", 0)
    if grouped < distinct:
        note = (f"<p class='note'>Grouped the {grouped:,} most frequent of {distinct:,} distinct "
                "unanswered messages; choose a shorter period to group them all.</p>")
    return note + _table(["suggest", "representative message", "messages", "more examples"],
                         rows)


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#1a202c;padding:0 1rem}
h1{font-size:1.6rem}h2{border-bottom:2px solid #e2e8f0;padding-bottom:.3rem;margin-top:2.5rem}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.card{border:1px solid #e2e8f0;border-radius:8px;padding:.7rem 1rem;min-width:150px}
.card .label{font-size:.8rem;color:#4a5568}.card .value{font-size:1.3rem;font-weight:600}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #e2e8f0;padding:.35rem .5rem;text-align:left;vertical-align:top}
svg{max-width:100%;height:auto;display:block;margin:1rem 0}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:0 2rem;
align-items:start}
.no-data,.note{color:#718096;font-style:italic}
"""


def render_report(data: ReportData) -> str:
    period = "all time"
    if data.since or data.until:
        period = (f"{data.since.date() if data.since else '...'} to "
                  f"{data.until.date() if data.until else 'now'}")
    span = (data.since, data.until or data.generated_at) if data.since else None
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Customer service analytics, {html.escape(period)}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Customer service analytics</h1>",
        f"<p>Period: {html.escape(period)}. Generated "
        f"{html.escape(data.generated_at.strftime('%Y-%m-%d %H:%M UTC'))}.</p>",
        "<h2>Conversations</h2>", conversation_section(data.kpis, data.kpi_trend, data.intents,
                                                       freq=data.freq, span=span),
        "<h2>Unanswered questions: suggested FAQs and intents</h2>", gaps_section(data.gaps),
        "<h2>Sales</h2>", sales_section(data.sales, data.revenue, span=span),
    ]
    for title, body in data.sections:
        parts += [f"<h2>{html.escape(title)}</h2>", body]
    if data.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(
            f"<li class='note'>{html.escape(n)}</li>" for n in data.notes) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(path: Path, document: str) -> Path:
    """Write the HTML atomically (a temporary file, then a rename)."""
    if path.exists() and path.is_dir():
        raise InvalidInputData(f"{path} is a folder; give a file name such as report.html")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(document, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise InvalidInputData(f"cannot write the report to {path}: {exc.strerror}") from exc
    log.info("report written: %s bytes", len(document))
    return path
