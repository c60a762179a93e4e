"""Charts drawn locally with matplotlib (Agg) as inline SVG: no CDN, no JavaScript.

Every function returns an ``<svg>`` element as text, ready to be placed in HTML, or a short
"no data" note when there is nothing to draw.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import threading

import pandas as pd

from analytics.times import naive_utc

_LOCK = threading.Lock()  # pyplot keeps global state
_DAY = pd.Timedelta(days=1)
_PALETTE = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#718096", "#d69e2e"]


def _svg(fig) -> str:  # type: ignore[no-untyped-def]
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]  # drop the XML prolog and DOCTYPE
    return re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)


def _figure(width: float = 7.0, height: float = 3.0):  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text (searchable, small)
    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", alpha=0.3)
    return fig, ax


def no_data(what: str) -> str:
    return f'<p class="no-data">No {html.escape(what)} yet.</p>'


def grid(*charts: str) -> str:
    """Charts side by side where the page is wide enough (two columns), one under the other
    where it is not (``.charts`` in the report's and the dashboard's style)."""
    return '<div class="charts">' + "".join(f"<div>{c}</div>" for c in charts) + "</div>"


def line_chart(frame: pd.DataFrame, columns: list[str], *, title: str, ylabel: str = "",
               percent: bool = False, scale: float = 1.0,
               span: tuple[dt.datetime, dt.datetime] | None = None) -> str:
    """One line per column over the frame's index (dates, naive UTC).

    ``span`` (start, end) draws the whole period asked for, so a few days of data in a 30-day
    view sit where they happened instead of being stretched across the chart.
    """
    if frame is None or frame.empty or not any(c in frame for c in columns):
        return no_data(title.lower())
    with _LOCK:
        fig, ax = _figure()
        for i, column in enumerate(c for c in columns if c in frame):
            values = frame[column].astype(float) * scale
            ax.plot(frame.index, values, marker="o", markersize=3, label=column.replace("_", " "),
                    color=_PALETTE[i % len(_PALETTE)])
        dates = isinstance(frame.index, pd.DatetimeIndex)
        if dates and span is not None:
            ax.set_xlim(naive_utc(span[0]), naive_utc(span[1]))
        elif dates and len(frame.index) == 1:
            day = pd.Timedelta(days=1)  # one period: a readable axis around it
            ax.set_xlim(frame.index[0] - day, frame.index[0] + day)
        if dates:
            _date_axis(ax)
        ax.set_title(title, loc="left", fontsize=11)
        ax.set_ylabel(ylabel)
        if percent:
            ax.set_ylim(0, 1.05)
            ax.yaxis.set_major_formatter(_percent_formatter())
        else:
            _group_thousands(ax.yaxis, frame[[c for c in columns if c in frame]] * scale)
        if len(columns) > 1:
            ax.legend(frameon=False, fontsize=8)
        if not dates:
            fig.autofmt_xdate()
        return _svg(fig)


def stacked_bars(frame: pd.DataFrame, *, title: str, ylabel: str = "",
                 span: tuple[dt.datetime, dt.datetime] | None = None,
                 period: pd.Timedelta = _DAY) -> str:
    """Bars per period (index: period starts, naive UTC), stacked by column (e.g. intents).

    Bars stand on a time axis, one ``period`` wide, over ``span`` when it is given.
    """
    if frame is None or frame.empty:
        return no_data(title.lower())
    with _LOCK:
        fig, ax = _figure()
        starts = pd.DatetimeIndex(frame.index)
        bottom = None
        for i, column in enumerate(frame.columns):
            values = frame[column].astype(float).to_numpy()
            ax.bar(starts, values, width=period * 0.85, align="edge", bottom=bottom,
                   label=str(column), color=_PALETTE[i % len(_PALETTE)])
            bottom = values if bottom is None else bottom + values
        if span is not None:
            ax.set_xlim(naive_utc(span[0]), naive_utc(span[1]))
        else:
            ax.set_xlim(starts.min() - period, starts.max() + 2 * period)
        _date_axis(ax)
        ax.set_title(title, loc="left", fontsize=11)
        ax.set_ylabel(ylabel)
        ax.legend(frameon=False, fontsize=8, ncol=min(4, len(frame.columns)))
        ax.yaxis.set_major_locator(_ticks(integer=True))  # counts: no 0.5 messages
        return _svg(fig)


def horizontal_bars(items: list[tuple[str, float]], *, title: str, xlabel: str = "") -> str:
    """Labelled horizontal bars, largest at the top (top products, handoff reasons...)."""
    if not items:
        return no_data(title.lower())
    with _LOCK:
        fig, ax = _figure(height=max(1.6, 0.35 * len(items) + 0.8))
        labels = [str(label)[:40] for label, _ in reversed(items)]
        values = [float(v) for _, v in reversed(items)]
        ax.barh(labels, values, color=_PALETTE[0])
        ax.set_title(title, loc="left", fontsize=11)
        ax.set_xlabel(xlabel)
        ax.grid(axis="x", alpha=0.3)
        ax.grid(axis="y", visible=False)
        # A few ticks: labels like 350,000 side by side need the room; counts at whole numbers.
        ax.xaxis.set_major_locator(_ticks(5, integer=all(v.is_integer() for v in values)))
        _group_thousands(ax.xaxis, values)
        # Long labels inside the figure's width rather than added to it: drawn as wide as the
        # other charts, it is scaled like them and its text is as large.
        fig.tight_layout()
        return _svg(fig)


def _date_axis(ax) -> None:  # type: ignore[no-untyped-def]
    """Dates that do not overlap: a few ticks, each label only as long as it needs."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _ticks(most: int | str = "auto", *, integer: bool = False):  # type: ignore[no-untyped-def]
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=most, integer=integer)


def _group_thousands(axis, values) -> None:  # type: ignore[no-untyped-def]
    """Ticks of 1,000 and above read with separators (12,500, not 12500)."""
    from matplotlib.ticker import StrMethodFormatter

    if float(pd.DataFrame(values).abs().max().max()) >= 1000:
        axis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))


def _percent_formatter():  # type: ignore[no-untyped-def]
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0)
