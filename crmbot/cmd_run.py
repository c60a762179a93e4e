"""``crmbot train``, ``crmbot up`` and ``crmbot chat``: run the assistant."""

from __future__ import annotations

import json
import shlex
import sys
import urllib.error
import urllib.request
import uuid

import click
from honcho.manager import Manager

from crmbot.context import CliContext
from crmbot.runtime import (
    RuntimeProblem,
    action_server_command,
    model_path,
    process_env,
    rasa_server_command,
    train,
)
from crmbot.settings import PlatformSettings


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
def up(no_train: bool) -> None:
    """Start the Rasa server and the action server, wait until both are healthy, stream logs.

    Ctrl-C stops everything cleanly.
    """
    ctx = CliContext.from_env()
    platform = PlatformSettings()
    try:
        if no_train:
            model = model_path(platform)
            if not model.is_file():
                raise RuntimeProblem(f"no model for the current data ({model.name}): run `crmbot train`")
        else:
            model, _ = train(platform, ctx.crm)
    except RuntimeProblem as exc:
        raise click.ClickException(str(exc)) from exc

    root = str(platform.project_root)
    manager = Manager()
    manager.add_process("actions", shlex.join(action_server_command(platform)),
                        env=process_env(platform, ctx.crm, rasa=False), cwd=root)
    manager.add_process("rasa", shlex.join(rasa_server_command(platform, model)),
                        env=process_env(platform, ctx.crm, rasa=True), cwd=root)
    ready = (f"assistant ready: REST channel {platform.rasa_url}/webhooks/rest/webhook; "
             f"talk to it with `.venv/bin/crmbot chat`; Ctrl-C stops everything")
    watch = [sys.executable, "-m", "crmbot.watch",
             "--check", f"actions=http://{platform.host}:{platform.action_port}/health",
             "--check", f"rasa={platform.rasa_url}/status",
             "--timeout", str(platform.startup_timeout_seconds),
             "--ready-message", ready]
    manager.add_process("watch", shlex.join(watch), env=process_env(platform, ctx.crm, rasa=False),
                        cwd=root)
    manager.loop()
    sys.exit(manager.returncode)


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
