"""The HTML report: one self-contained file with charts; and the ``crmbot analytics`` commands."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
from click.testing import CliRunner

from analytics import AnalyticsSettings
from analytics.errors import InvalidInputData
from analytics.gaps import load_embedder
from analytics.pipeline import run_pipeline
from analytics.report import collect_report, render_report, write_report
from analytics.schema import upgrade_analytics
from crm_connector import create_db_engine, create_session_factory, read_transaction
from crm_connector import write_transaction
from crmbot.cli import main
from tests.analytics.tracker_rows import Tracker
from tests.crm_connector.factories import make_customer, make_order

SCRIPT = "<script>alert('x')</script> gift card?"


@pytest.fixture
def filled(sqlite_settings, tmp_path):  # type: ignore[no-untyped-def]
    engine = create_db_engine(sqlite_settings)
    upgrade_analytics(engine)
    Tracker(engine, "r1").faq("delivery time?", "How long does delivery take?")
    for sender in ("r2", "r3"):
        (Tracker(engine, sender).user(SCRIPT, "nlu_fallback", 0.2)
         .action("action_default_fallback").bot("Could you rephrase?"))
    sessions = create_session_factory(engine)
    with write_transaction(sessions) as session:
        anna = make_customer(session, "C0000001")
        make_order(session, anna, "10000001",
                   placed_at=dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC))
    settings = AnalyticsSettings(artifacts_dir=tmp_path / "models", redaction_key="k")
    with write_transaction(sessions) as session:
        run_pipeline(session, settings)
    yield sqlite_settings, sessions, settings
    engine.dispose()


def test_report_is_one_self_contained_file_with_charts(filled, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, sessions, settings = filled
    with read_transaction(sessions) as session:
        data = collect_report(session, settings, embedder=load_embedder())
    document = render_report(data)
    path = write_report(tmp_path / "out" / "report.html", document)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and text.rstrip().endswith("</html>")
    assert text.count("<svg") >= 4  # rates, intents, top intents, revenue...
    assert '<div class="charts">' in text and ".charts{display:grid" in text  # side by side
    # Nothing is fetched from elsewhere: no external scripts, styles, images or fonts.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<script" not in text.replace("&lt;script", "")
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; gift card?" in text  # a gap, escaped
    assert "Conversations" in text and "33.3%" in text  # 1 of 3 contained
    assert "100.00 EUR" in text  # the one order's revenue
    assert "Segments:" in text  # no model trained yet: said so, not a failure


def test_unwritable_destination(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a-folder").mkdir()
    with pytest.raises(InvalidInputData, match="folder"):
        write_report(tmp_path / "a-folder", "<html></html>")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInputData, match="cannot write"):
        write_report(tmp_path / "file" / "report.html", "<html></html>")


def test_cli_refresh_then_report(filled, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    crm, _, _ = filled
    monkeypatch.setenv("CRM_DATABASE_URL", crm.database_url)
    monkeypatch.setenv("ANALYTICS_ARTIFACTS_DIR", str(tmp_path / "cli-models"))
    monkeypatch.setenv("ANALYTICS_REDACTION_KEY", "k")
    runner = CliRunner()
    refreshed = runner.invoke(main, ["analytics", "refresh", "--only", "conversations",
                                     "--no-progress"])
    assert refreshed.exit_code == 0, refreshed.output
    assert "conversations" in refreshed.output and "done" in refreshed.output
    assert "events_read 0" in refreshed.output  # the fixture's run loaded everything already
    out = tmp_path / "r.html"
    reported = runner.invoke(main, ["analytics", "report", "--out", str(out), "--no-gaps"])
    assert reported.exit_code == 0, reported.output
    assert "3 conversations" in reported.output and out.read_text().count("<svg") >= 3
    bad = runner.invoke(main, ["analytics", "refresh", "--scheduler", "localhost:1"])
    assert bad.exit_code != 0 and "tcp://HOST:PORT" in bad.output


@pytest.mark.parametrize(("seconds", "text"), [(None, "n/a"), (0.0123, "12 ms"), (0.9994, "999 ms"),
                                               (1.0, "1.0 s"), (95.0, "95.0 s"),
                                               (600.0, "10.0 min")])
def test_durations_read_in_the_unit_people_use(seconds: float | None, text: str) -> None:
    from analytics.report import _seconds

    assert _seconds(seconds) == text


def _texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_time_charts_cover_the_period_asked_for() -> None:
    """One day of data in a 30-day view sits at the end of a 30-day axis, not stretched across
    a two-day one; the bars of intents stand on the same kind of axis."""
    from analytics import charts

    today = pd.DatetimeIndex([pd.Timestamp("2026-12-07")])
    rates = pd.DataFrame({"containment_rate": [0.5]}, index=today)
    span = (dt.datetime(2026, 11, 7, tzinfo=dt.UTC), dt.datetime(2026, 12, 7, 6, tzinfo=dt.UTC))
    alone = _texts(charts.line_chart(rates, ["containment_rate"], title="rates"))
    assert alone[:3] == ["Dec-06", "12:00", "Dec-07"]  # no span: a day either side
    in_period = _texts(charts.line_chart(rates, ["containment_rate"], title="rates", span=span))
    assert in_period[:4] == ["08", "15", "22", "Dec"]  # November 8th ... December
    intents = pd.DataFrame({"ask_faq": [3], "greet": [2]}, index=today)
    bars = _texts(charts.stacked_bars(intents, title="intents", span=span))
    assert bars[:4] == ["08", "15", "22", "Dec"] and {"ask_faq", "greet"} <= set(bars)


def test_counts_are_charted_in_whole_numbers() -> None:
    """Two handoffs and one: ticks at 0, 1, 2 (no 0.25 of a conversation); money keeps its
    fractions."""
    from analytics import charts

    def numbers(svg: str) -> list[float]:
        return [float(t) for t in _texts(svg) if re.fullmatch(r"[\d.]+", t)]

    counts = numbers(charts.horizontal_bars([("asked for a person", 2), ("fallback", 1)],
                                            title="Handoff reasons"))
    assert counts and all(n.is_integer() for n in counts), counts
    money = numbers(charts.horizontal_bars([("LAMP", 1.5), ("MUG", 0.5)], title="Revenue"))
    assert any(not n.is_integer() for n in money), money
    today = pd.DatetimeIndex([pd.Timestamp("2026-12-07")])
    bars = numbers(charts.stacked_bars(pd.DataFrame({"ask_faq": [1], "greet": [2]}, index=today),
                                       title="intents"))
    assert bars and all(n.is_integer() for n in bars), bars


def test_charts_side_by_side_share_a_width_and_group_thousands() -> None:
    """A bar chart with long product labels is drawn as wide as a line chart (so, two to a
    row, both are scaled alike and their text is as large), and money ticks read 15,000, few enough not to overlap."""
    from analytics import charts

    def width_pt(svg: str) -> float:
        return float(re.search(r'<svg[^>]*\swidth="([\d.]+)pt"', svg).group(1))

    days = pd.date_range("2026-11-01", periods=30, freq="D")
    line = charts.line_chart(pd.DataFrame({"revenue": range(0, 30_000, 1000)}, index=days),
                             ["revenue"], title="Revenue per day (EUR)")
    bars = charts.horizontal_bars([("GD-1000 Galvanised Pruning Shears and Gloves", 51_000.0),
                                   ("SO-1002 Insulated Resistance Bands", 4_200.5)],
                                  title="Top products by revenue (EUR)")
    assert width_pt(bars) <= 7 * 72 and abs(width_pt(bars) - width_pt(line)) < 0.1 * 7 * 72
    for svg in (line, bars):
        ticks = [t for t in _texts(svg) if re.fullmatch(r"[\d,.]+", t)]
        assert any(re.fullmatch(r"\d{1,3}(,\d{3})+", t) for t in ticks), ticks
        assert not any(re.fullmatch(r"\d{4,}", t) for t in ticks), ticks
    # Wide labels side by side on a horizontal axis: few enough not to run into each other.
    assert len([t for t in _texts(bars) if re.fullmatch(r"[\d,.]+", t)]) <= 6


def test_money_reads_like_the_inbox() -> None:
    """``crm_connector.money`` in whole cents; no amount is n/a."""
    from analytics.report import money as report_money

    assert report_money(123_450, "EUR") == "1,234.50 EUR"
    assert report_money(123_450, None) == "1,234.50"
    assert report_money(None, "EUR") == "n/a"


@pytest.mark.parametrize(("code", "label"), [
    ("human_handoff", "asked for a person"), ("fallback", "bot did not understand"),
    ("verification_locked", "identity check failed"), ("bot_unavailable", "bot unavailable"),
    ("unknown", "not recorded"), ("request_refund", "while on: request refund"),
])
def test_handoff_reasons_read_as_words(code: str, label: str) -> None:
    from crm_connector import handoff_reason_label

    assert handoff_reason_label(code) == label
