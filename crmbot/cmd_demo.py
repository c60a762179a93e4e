"""``crmbot demo conversations``: scripted customers talk to the running platform."""

from __future__ import annotations

import asyncio
import sys

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tqdm import tqdm

from analytics import AnalyticsError, AnalyticsSettings
from analytics.refresh import PIPELINE_STEP, refresh
from analytics.schema import upgrade_analytics
from crm_connector import read_transaction
from crm_connector.models import Customer, OrderKind, OrderStatus, SalesOrder, SupportConversation
from crmbot.cmd_users import demo_logins_path, read_demo_logins
from crmbot.context import CliContext
from crmbot.demo_conversations import DemoTrafficError, build_scripts, play
from crmbot.settings import PlatformSettings
from knowledge.corpus import load_corpus
from knowledge.settings import KnowledgeSettings

#: Orders the scripted customers ask about: ones a customer would ask about.
ASKED_ABOUT = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED)
MAX_ORDERS = 300


@click.group()
def demo() -> None:
    """Demo traffic for a live platform."""


@demo.command("conversations")
@click.option("--url", default=None, help="The web gateway  [default: from CRMBOT_HOST and "
              "CRMBOT_WEB_PORT]")
@click.option("--count", type=click.IntRange(1, 500), default=30, show_default=True,
              help="How many conversations.")
@click.option("--seed", type=int, default=7, show_default=True,
              help="The same seed plays the same conversations.")
@click.option("--agent", "agent_name", default="demo-agent", show_default=True,
              help="The inbox login that takes the hand-offs (password from "
                   "var/demo-logins.json, written by `crmbot users demo`).")
@click.option("--if-empty", is_flag=True,
              help="Do nothing when the database already has conversations.")
@click.option("--refresh/--no-refresh", "then_refresh", default=True, show_default=True,
              help="Load the new conversations into the analytics afterwards.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bar on stderr.")
def conversations(url: str | None, count: int, seed: int, agent_name: str, if_empty: bool,
                  then_refresh: bool, progress: bool) -> None:
    """Play scripted customer conversations through the running web gateway (`crmbot up`):
    FAQs, order status, suggestions, unanswered questions and hand-offs to the demo agent,
    who answers and resolves them; the customers rate the help."""
    platform = PlatformSettings()
    ctx = CliContext.from_env()
    with read_transaction(ctx.sessions) as session:
        if if_empty and session.scalar(select(func.count()).select_from(SupportConversation)):
            click.echo("demo conversations: the database already has conversations; none played")
            return
        orders = asked_orders(session)
    scripts = build_scripts(count, seed, corpus_questions(), orders)
    base_url = (url or f"http://{platform.host}:{platform.web_port}").rstrip("/")
    password = _demo_password(platform, agent_name)
    bar = tqdm(total=len(scripts), desc="demo conversations", unit=" conversation",
               file=sys.stderr, dynamic_ncols=True, disable=not progress)
    try:
        outcome = asyncio.run(play(base_url, scripts, agent_login=(agent_name, password),
                                   seed=seed, progress=lambda _: bar.update()))
    except (DemoTrafficError, OSError) as exc:
        raise click.ClickException(f"demo conversations against {base_url}: {exc}") from exc
    finally:
        bar.close()
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(outcome.kinds.items()))
    click.echo(f"demo conversations: {outcome.conversations} played ({kinds}); "
               f"{outcome.customer_messages} customer messages, {outcome.handoffs_resolved} "
               f"hand-offs resolved by {agent_name}, {outcome.ratings} ratings")
    if then_refresh:
        try:
            upgrade_analytics(ctx.engine)
            result = refresh(ctx.crm, AnalyticsSettings(), only=[PIPELINE_STEP])
        except AnalyticsError as exc:
            raise click.ClickException(str(exc)) from exc
        step = result.steps[0]
        click.echo(f"analytics {step.name}: {step.status} {step.message}".rstrip())


def asked_orders(session: Session) -> list[tuple[str, str]]:
    """``(order number, owner's e-mail)`` of the orders the scripted customers ask about."""
    return [(number, email) for number, email in session.execute(
        select(SalesOrder.number, Customer.email).join(Customer)
        .where(SalesOrder.status.in_(ASKED_ABOUT), SalesOrder.kind == OrderKind.ORDER,
               Customer.email.is_not(None))
        .order_by(SalesOrder.number).limit(MAX_ORDERS))]


def corpus_questions() -> list[tuple[str, tuple[str, ...]]]:
    """``(question, alternatives)`` of every entry of the FAQ corpus."""
    return [(faq.question, faq.alternatives)
            for faq in load_corpus(KnowledgeSettings().corpus_path)]


def _demo_password(platform: PlatformSettings, username: str) -> str:
    password = read_demo_logins(platform).get(username)
    if not isinstance(password, str):
        raise click.ClickException(f"no password for {username!r} in "
                                   f"{demo_logins_path(platform)}: run "
                                   "`crmbot users demo` first")
    return password
