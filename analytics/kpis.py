"""Conversation KPIs from the analytics tables (filled by ``analytics.pipeline``).

Definitions (a conversation counts when the customer wrote at least once; the period is by the
conversation's start):

* containment rate: conversations the bot handled alone (``resolution == "contained"``: no
  person, and the last message was not left unanswered) / conversations;
* handoff rate: conversations passed to a person / conversations; reasons counted;
* fallback rate: customer messages the bot could not serve (intent ``nlu_fallback`` or
  ``out_of_scope``, or the fallback action ran) / customer messages;
* top intents: customer messages per intent; the trend is the same per day or week;
* FAQ answer rate: FAQ questions answered from the FAQ index / FAQ questions (the FAQ action
  ran, or the fallback found a FAQ answer);
* rating by intent (the conversation's main intent) and by agent: mean score and count;
* time to first response (the bot's first reply to the first message) and to resolution
  (from the first message to the bot's last answer, or to the agent closing it): medians, s.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from analytics.errors import InvalidInputData
from analytics.schema import Conversation, Handoff, Rating, Turn
from crm_connector.models import AgentUser

#: Weeks run Monday to Sunday and are labelled by their Monday.
FREQUENCIES = {"day": "D", "week": "W-SUN"}


@dataclass(frozen=True)
class RatingStat:
    key: str
    mean: float
    count: int


@dataclass(frozen=True)
class ConversationKpis:
    since: dt.datetime | None
    until: dt.datetime | None
    conversations: int
    contained: int
    handed_off: int
    unresolved: int
    containment_rate: float | None
    handoff_rate: float | None
    handoff_reasons: dict[str, int]
    customer_messages: int
    fallback_messages: int
    fallback_rate: float | None
    top_intents: list[tuple[str, int]]
    faq_questions: int
    faq_answered: int
    faq_answer_rate: float | None
    rating_by_intent: list[RatingStat] = field(default_factory=list)
    rating_by_agent: list[RatingStat] = field(default_factory=list)
    median_first_response_seconds: float | None = None
    median_resolution_seconds: float | None = None
    median_agent_first_response_seconds: float | None = None

    def as_dict(self) -> dict[str, object]:
        out = dict(self.__dict__)
        out["rating_by_intent"] = [s.__dict__ for s in self.rating_by_intent]
        out["rating_by_agent"] = [s.__dict__ for s in self.rating_by_agent]
        return out


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _median(series: pd.Series) -> float | None:
    values = series.dropna()
    return float(values.median()) if len(values) else None


def _check_period(since: dt.datetime | None, until: dt.datetime | None) -> None:
    for value in (since, until):
        if value is not None and value.tzinfo is None:
            raise InvalidInputData("KPI periods need timezone-aware datetimes (UTC)")
    if since and until and since >= until:
        raise InvalidInputData("the KPI period ends before it starts")


#: The columns of ``conversations_frame``.
CONVERSATION_COLUMNS = ("id", "started_at", "resolution", "handed_off", "handoff_reason",
                        "main_intent", "user_turns", "fallback_turns", "faq_asked",
                        "faq_answered", "first_response_seconds", "resolution_seconds",
                        "agent_first_response_seconds", "agent_id")


def _in_period(query: Select, since: dt.datetime | None,  # type: ignore[type-arg]
               until: dt.datetime | None) -> Select:  # type: ignore[type-arg]
    """``query`` (which selects from or joins ``Conversation``) kept to the conversations with
    at least one customer message started in ``[since, until)``: a join, not a list of ids,
    so a year of conversations stays one query (psycopg sends at most 65,535 parameters a
    statement, a default SQLite build takes 32,766)."""
    query = query.where(Conversation.user_turns > 0)
    if since is not None:
        query = query.where(Conversation.started_at >= since)
    if until is not None:
        query = query.where(Conversation.started_at < until)
    return query


def conversations_frame(session: Session, since: dt.datetime | None = None,
                        until: dt.datetime | None = None) -> pd.DataFrame:
    """One row per conversation with at least one customer message, started in the period."""
    _check_period(since, until)
    query = _in_period(select(*(getattr(Conversation, c) for c in CONVERSATION_COLUMNS)),
                       since, until)
    frame = pd.DataFrame([tuple(r) for r in session.execute(query)],
                         columns=list(CONVERSATION_COLUMNS))
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    return frame


def turns_frame(session: Session, since: dt.datetime | None = None,
                until: dt.datetime | None = None) -> pd.DataFrame:
    """The customer messages of ``conversations_frame``'s conversations."""
    columns = ["conversation_id", "sent_at", "intent", "is_fallback", "faq_asked", "faq_answered"]
    query = (select(Turn.conversation_id, Turn.sent_at, Turn.intent, Turn.is_fallback,
                    Turn.faq_asked, Turn.faq_answered)
             .join(Conversation, Conversation.id == Turn.conversation_id))
    frame = pd.DataFrame([tuple(r) for r in session.execute(_in_period(query, since, until))],
                         columns=columns)
    frame["sent_at"] = pd.to_datetime(frame["sent_at"], utc=True)
    return frame


def conversation_kpis(session: Session, *, since: dt.datetime | None = None,
                      until: dt.datetime | None = None, top: int = 10,
                      conversations: pd.DataFrame | None = None,
                      turns: pd.DataFrame | None = None) -> ConversationKpis:
    """The KPIs of conversations started in ``[since, until)`` (all when not given).
    ``conversations`` and ``turns``: ``conversations_frame`` and ``turns_frame`` of the same
    period when the caller has already read them (a page with several views of it)."""
    if conversations is None:
        conversations = conversations_frame(session, since, until)
    if turns is None:
        turns = turns_frame(session, since, until)
    n = len(conversations)
    counts = conversations["resolution"].value_counts()
    handed = int(conversations["handed_off"].sum()) if n else 0
    reasons = (conversations.loc[conversations["handed_off"].astype(bool), "handoff_reason"]
               .fillna("unknown").value_counts())
    intents = turns["intent"].dropna().value_counts()
    top_intents = sorted(((str(k), int(v)) for k, v in intents.items()),
                         key=lambda kv: (-kv[1], kv[0]))[:top]
    faq_q = int(turns["faq_asked"].astype(bool).sum()) if len(turns) else 0
    faq_a = int(turns["faq_answered"].astype(bool).sum()) if len(turns) else 0
    fallbacks = int(turns["is_fallback"].astype(bool).sum()) if len(turns) else 0
    return ConversationKpis(
        since=since, until=until, conversations=n,
        contained=int(counts.get("contained", 0)), handed_off=handed,
        unresolved=int(counts.get("unresolved", 0)),
        containment_rate=_ratio(int(counts.get("contained", 0)), n),
        handoff_rate=_ratio(handed, n),
        handoff_reasons={str(k): int(v) for k, v in reasons.items()},
        customer_messages=len(turns), fallback_messages=fallbacks,
        fallback_rate=_ratio(fallbacks, len(turns)), top_intents=top_intents,
        faq_questions=faq_q, faq_answered=faq_a, faq_answer_rate=_ratio(faq_a, faq_q),
        rating_by_intent=_ratings(session, since, until, by="intent"),
        rating_by_agent=_ratings(session, since, until, by="agent"),
        median_first_response_seconds=_median(conversations["first_response_seconds"]),
        median_resolution_seconds=_median(conversations["resolution_seconds"]),
        median_agent_first_response_seconds=_median(
            conversations["agent_first_response_seconds"]),
    )


def _ratings(session: Session, since: dt.datetime | None, until: dt.datetime | None, *,
             by: str) -> list[RatingStat]:
    rows = session.execute(_in_period(
        select(Rating.intent, Rating.agent_id, Rating.score)
        .join(Conversation, Conversation.id == Rating.conversation_id), since, until)).all()
    if not rows:
        return []
    frame = pd.DataFrame([tuple(r) for r in rows], columns=["intent", "agent_id", "score"])
    if by == "agent":
        names = dict(session.execute(select(AgentUser.id, AgentUser.display_name)).all())
        frame["key"] = [names.get(a, f"agent {a}") if pd.notna(a) else "bot only"
                        for a in frame["agent_id"]]
    else:
        frame["key"] = frame["intent"].fillna("unknown")
    grouped = frame.groupby("key")["score"].agg(["mean", "count"]).reset_index()
    stats = [RatingStat(str(r["key"]), round(float(r["mean"]), 3), int(r["count"]))
             for _, r in grouped.iterrows()]
    return sorted(stats, key=lambda s: (-s.count, s.key))


def intent_trend(session: Session, *, freq: str = "day", since: dt.datetime | None = None,
                 until: dt.datetime | None = None, top: int = 5,
                 turns: pd.DataFrame | None = None) -> pd.DataFrame:
    """Customer messages per period (rows) for the ``top`` intents (columns) plus ``other``;
    ``turns`` as for ``conversation_kpis``."""
    rule = _rule(freq)
    _check_period(since, until)
    if turns is None:
        turns = turns_frame(session, since, until)
    if turns.empty:
        return pd.DataFrame()
    turns = turns.dropna(subset=["intent"])
    leaders = turns["intent"].value_counts().head(top).index
    turns["intent"] = turns["intent"].where(turns["intent"].isin(leaders), "other")
    turns["period"] = turns["sent_at"].dt.tz_convert(None).dt.to_period(rule).dt.start_time
    table = turns.pivot_table(index="period", columns="intent", values="conversation_id",
                              aggfunc="count", fill_value=0)
    return table.sort_index()


def kpis_over_time(session: Session, *, freq: str = "day", since: dt.datetime | None = None,
                   until: dt.datetime | None = None,
                   conversations: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per period: conversations, containment, handoff and fallback rates, FAQ answer rate;
    ``conversations`` as for ``conversation_kpis``."""
    rule = _rule(freq)
    conversations = (conversations_frame(session, since, until) if conversations is None
                     else conversations.copy())
    if conversations.empty:
        return pd.DataFrame(columns=["conversations", "containment_rate", "handoff_rate",
                                     "fallback_rate", "faq_answer_rate"])
    conversations["period"] = (conversations["started_at"].dt.tz_convert(None)
                               .dt.to_period(rule).dt.start_time)
    conversations["contained"] = conversations["resolution"] == "contained"
    grouped = conversations.groupby("period")
    table = pd.DataFrame({
        "conversations": grouped.size(),
        "containment_rate": grouped["contained"].mean(),
        "handoff_rate": grouped["handed_off"].mean(),
        "fallback_rate": grouped["fallback_turns"].sum() / grouped["user_turns"].sum(),
        "faq_answer_rate": grouped["faq_answered"].sum()
        / grouped["faq_asked"].sum().where(grouped["faq_asked"].sum() > 0),
    })
    return table.sort_index()


def conversation_views(session: Session, *, freq: str = "day",
                       since: dt.datetime | None = None, until: dt.datetime | None = None,
                       ) -> tuple[ConversationKpis, pd.DataFrame, pd.DataFrame]:
    """``conversation_kpis``, ``kpis_over_time`` and ``intent_trend`` of one period (what the
    dashboard's conversations page and the report show), its conversations and turns read
    once for all three."""
    conversations = conversations_frame(session, since, until)
    turns = turns_frame(session, since, until)
    return (conversation_kpis(session, since=since, until=until, conversations=conversations,
                              turns=turns),
            kpis_over_time(session, freq=freq, since=since, until=until,
                           conversations=conversations),
            intent_trend(session, freq=freq, since=since, until=until, turns=turns))


def handoffs_frame(session: Session) -> pd.DataFrame:
    rows = session.execute(select(Handoff.conversation_id, Handoff.occurred_at, Handoff.reason,
                                  Handoff.source)).all()
    return pd.DataFrame([tuple(r) for r in rows],
                        columns=["conversation_id", "occurred_at", "reason", "source"])


def _rule(freq: str) -> str:
    try:
        return FREQUENCIES[freq]
    except KeyError:
        raise InvalidInputData(f"freq must be one of {sorted(FREQUENCIES)}, not {freq!r}") from None
