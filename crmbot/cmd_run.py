"""``crmbot train``, ``crmbot up`` and ``crmbot chat``: run the assistant."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import click
from honcho.manager import Manager

from analytics import AnalyticsSettings
from crm_connector import CrmSettings
from crmbot.cmd_users import demo_logins_path, read_demo_logins, write_private
from crmbot.context import CliContext
from crmbot.runtime import (
    RuntimeProblem,
    action_server_command,
    check_services_reachable,
    model_path,
    process_env,
    rasa_server_command,
    train,
)
from crmbot.settings import PlatformSettings


#: How often `crmbot up`'s analytics process loads new conversations (`refresh --every`).
ANALYTICS_REFRESH_SECONDS = 60


@click.command(name="train")
@click.option("--force", is_flag=True, help="Train even when nothing changed.")
def train_command(force: bool) -> None:
    """Train the assistant in the Rasa environment (skipped when data and config are unchanged)."""
    ctx = CliContext.from_env()
    platform = PlatformSettings()
    try:
        model, trained = train(platform, ctx.crm, force=force)
    except RuntimeProblem as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{'trained' if trained else 'up to date, not retrained'}: {model}")


@click.command()
@click.option("--no-train", is_flag=True, help="Fail instead of training when the model is stale.")
@click.option("--demo-conversations", type=click.IntRange(min=0), default=0, show_default=True,
              metavar="N", help="Once everything is ready, play N scripted customer "
              "conversations through the web gateway if the database has none yet (`crmbot demo "
              "conversations`; `make run` plays 30).")
def up(no_train: bool, demo_conversations: int) -> None:
    """Start the Rasa server, the action server and the web gateway (shop, chat widget, agent
    inbox), keep the analytics fresh (`crmbot analytics refresh --every 60`), wait until all
    are healthy, stream logs.

    Ctrl-C stops everything cleanly.
    """
    ctx = CliContext.from_env()
    platform = PlatformSettings()
    events_from_broker = AnalyticsSettings().events_from == "broker"
    if events_from_broker and platform.rasa_event_broker_url is None:
        raise click.ClickException("ANALYTICS_EVENTS_FROM=broker, but the Rasa server publishes "
                                   "no events: set CRMBOT_RASA_EVENT_BROKER_URL")
    try:
        check_services_reachable(platform)
        if no_train:
            model = model_path(platform)
            if not model.is_file():
                raise RuntimeProblem(f"no model for the current data ({model.name}): run `crmbot train`")
        else:
            model, _ = train(platform, ctx.crm)
    except RuntimeProblem as exc:
        raise click.ClickException(str(exc)) from exc

    manager = Manager()
    for name, (command, env) in platform_processes(
            platform, ctx.crm, model, demo_conversations=demo_conversations,
            events_from_broker=events_from_broker).items():
        manager.add_process(name, shlex.join(command), env=env, cwd=str(platform.project_root))
    manager.loop()
    sys.exit(manager.returncode)


def platform_processes(
    platform: PlatformSettings, crm: CrmSettings, model: Path, *, demo_conversations: int = 0,
    events_from_broker: bool = False,
) -> dict[str, tuple[list[str], dict[str, str]]]:
    """What `crmbot up` runs: process name -> (command, environment)."""
    plain = process_env(platform, crm, rasa=False)
    web_url = f"http://{platform.host}:{platform.web_port}"
    ready = (f"assistant ready: REST channel {platform.rasa_url}/webhooks/rest/webhook; "
             f"talk to it with `.venv/bin/crmbot chat`. Shop with the chat widget: {web_url}/ ; "
             f"agent inbox: {web_url}/inbox ({demo_login_hint(platform)}); "
             f"manager dashboard: {web_url}/dashboard ; Ctrl-C stops everything")
    watch = [sys.executable, "-m", "crmbot.watch",
             "--check", f"actions=http://{platform.host}:{platform.action_port}/health",
             "--check", f"rasa={platform.rasa_url}/status",
             "--check", f"web={web_url}/healthz",
             "--timeout", str(platform.startup_timeout_seconds),
             "--ready-message", ready]
    if demo_conversations:
        watch += ["--after-ready", shlex.join([
            sys.executable, "-m", "crmbot", "demo", "conversations", "--if-empty", "--no-progress",
            "--count", str(demo_conversations), "--url", web_url])]
    processes = {
        "actions": (action_server_command(platform), plain),
        "rasa": (rasa_server_command(platform, model), process_env(platform, crm, rasa=True)),
        "web": ([sys.executable, "-m", "web"], web_env(platform, crm)),
        "watch": (watch, plain),
        # keeps the dashboard fresh: new conversations every minute, a model when a day old
        "analytics": ([sys.executable, "-m", "crmbot", "analytics", "refresh", "--every",
                       str(ANALYTICS_REFRESH_SECONDS)], plain),
    }
    if events_from_broker:
        processes["events"] = ([sys.executable, "-m", "crmbot", "analytics", "consume"],
                               consumer_env(platform, crm))
    return processes


def consumer_env(platform: PlatformSettings, crm: CrmSettings) -> dict[str, str]:
    """The analytics event consumer reads the queue the Rasa server publishes to, at the same
    RabbitMQ unless ANALYTICS_BROKER_URL names another account."""
    env = process_env(platform, crm, rasa=False)
    own = AnalyticsSettings().broker_url  # from the environment or .env
    if own is None and platform.rasa_event_broker_url is not None:
        env["ANALYTICS_BROKER_URL"] = platform.rasa_event_broker_url.get_secret_value()
    env["ANALYTICS_BROKER_QUEUE"] = platform.rasa_event_queue
    return env


def web_session_secret(platform: PlatformSettings) -> str:
    """``WEB_SESSION_SECRET`` when set; else one generated once into var/web-session-secret (0600)."""
    if os.environ.get("WEB_SESSION_SECRET"):
        return os.environ["WEB_SESSION_SECRET"]
    path = platform.project_root / "var" / "web-session-secret"
    if path.is_file() and len(path.read_text(encoding="utf-8").strip()) >= 32:
        return path.read_text(encoding="utf-8").strip()
    secret = secrets.token_urlsafe(48)
    write_private(path, secret + "\n")
    return secret


def web_env(platform: PlatformSettings, crm: CrmSettings) -> dict[str, str]:
    """The web gateway's environment: wired to this Rasa server and database."""
    env = process_env(platform, crm, rasa=False)
    env.setdefault("WEB_HOST", platform.host)
    env["WEB_PORT"] = str(platform.web_port)
    env["WEB_RASA_URL"] = platform.rasa_url
    env["WEB_SESSION_SECRET"] = web_session_secret(platform)
    return env


def demo_login_hint(platform: PlatformSettings) -> str:
    logins = read_demo_logins(platform)
    # Only the user names: this text travels on a command line; the passwords stay in the file
    # (``crmbot users demo`` prints them).
    names = ", ".join(sorted(logins))
    path = demo_logins_path(platform)
    return f"demo logins {names}, passwords in {path}" if names else \
        "add a login with `crmbot users add NAME --role agent`"


def _send(url: str, sender: str, text: str, metadata: dict[str, object] | None) -> list[dict[str, object]]:
    body: dict[str, object] = {"sender": sender, "message": text}
    if metadata:
        body["metadata"] = metadata
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


@click.command()
@click.option("--url", default=None, help="Rasa server URL (default: from settings).")
@click.option("--shop-token", default=None, help="Signed shop token: chat as a logged-in customer.")
def chat(url: str | None, shop_token: str | None) -> None:
    """Chat with the running assistant in the terminal (start it with `crmbot up`)."""
    base = url or PlatformSettings().rasa_url
    endpoint = f"{base.rstrip('/')}/webhooks/rest/webhook"
    sender = f"cli-{uuid.uuid4().hex[:12]}"
    metadata = {"shop_token": shop_token} if shop_token else None
    click.echo(f"chatting with {base} as {sender}; type /quit to leave, a number to press a button")
    buttons: list[dict[str, object]] = []
    while True:
        try:
            text = click.prompt("you", prompt_suffix="> ", default="", show_default=False)
        except (EOFError, click.Abort):
            click.echo()
            return
        if text.strip() == "/quit":
            return
        if text.strip().isdigit() and buttons and 1 <= int(text) <= len(buttons):
            text = str(buttons[int(text) - 1].get("payload", ""))
        try:
            replies = _send(endpoint, sender, text, metadata)
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            raise click.ClickException(f"the assistant at {base} does not answer ({exc}); is `crmbot up` running?") from exc
        buttons = []
        for reply in replies:
            if reply.get("text"):
                click.echo(f"bot> {reply['text']}")
            for button in reply.get("buttons") or []:
                buttons.append(button)
                click.echo(f"     [{len(buttons)}] {button.get('title')}")
