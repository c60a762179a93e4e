"""``crmbot users``: inbox logins (agents, managers, admins).

Passwords are read from a hidden prompt or, with ``--password-stdin``, from one line of
standard input; they are never echoed, logged or accepted as an argument. ``crmbot users demo``
(run by ``make run``) creates the demo logins with random passwords, kept in
``var/demo-logins.json`` (mode 0600) so later runs print the same ones.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import sys
from pathlib import Path

import click

from crm_connector import (
    AgentRole,
    AgentUserExists,
    create_agent_user,
    list_agents,
    read_transaction,
    set_agent_password,
    write_transaction,
)
from crmbot.context import CliContext
from crmbot.settings import PlatformSettings

DEMO_USERS = (("demo-agent", "Demo Agent", AgentRole.AGENT),
              ("demo-manager", "Demo Manager", AgentRole.MANAGER))


def demo_logins_path(platform: PlatformSettings) -> Path:
    return platform.project_root / "var" / "demo-logins.json"


def read_demo_logins(platform: PlatformSettings) -> dict[str, str]:
    """``{username: password}`` from ``demo_logins_path``; empty when it is missing or unreadable."""
    try:
        logins = json.loads(demo_logins_path(platform).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return logins if isinstance(logins, dict) else {}


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only the owner can read (created with mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


@click.group(name="users")
def users() -> None:
    """Inbox logins: add, list, demo."""


@users.command(name="add")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in AgentRole]), default=AgentRole.AGENT.value,
              show_default=True)
@click.option("--display-name", default=None, help="Name shown to colleagues and customers.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def add(username: str, role: str, display_name: str | None, password_stdin: bool) -> None:
    """Create an inbox login (asks for the password unless --password-stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    ctx = CliContext.from_env()
    now = dt.datetime.now(dt.UTC)
    with write_transaction(ctx.sessions) as session:
        user = create_agent_user(session, username, password, role, display_name=display_name, now=now)
    click.echo(f"created {user.role.value} {user.username} (id {user.id})")


@users.command(name="list")
def list_command() -> None:
    """List inbox logins."""
    ctx = CliContext.from_env()
    with read_transaction(ctx.sessions) as session:
        rows = list_agents(session, include_inactive=True)
    if not rows:
        click.echo("no inbox users yet: add one with `crmbot users add NAME --role agent`")
    for user in rows:
        state = "" if user.active else "  (inactive)"
        click.echo(f"{user.id:>5}  {user.username:<24} {user.role.value:<8} {user.display_name}{state}")


@users.command(name="demo")
def demo() -> None:
    """Create the demo agent and manager logins (random passwords in var/demo-logins.json)."""
    platform = PlatformSettings()
    path = demo_logins_path(platform)
    try:
        known = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError:
        known = {}
    ctx = CliContext.from_env()
    now = dt.datetime.now(dt.UTC)
    logins: dict[str, str] = {}
    with write_transaction(ctx.sessions) as session:
        for username, display_name, role in DEMO_USERS:
            password = known.get(username) or secrets.token_urlsafe(12)
            try:
                create_agent_user(session, username, password, role, display_name=display_name, now=now)
            except AgentUserExists:
                if username not in known:  # the password was lost: set a new one
                    set_agent_password(session, username, password)
            logins[username] = password
    write_private(path, json.dumps(logins, indent=2) + "\n")
    for username, password in logins.items():
        click.echo(f"demo login: {username} / {password}")
    click.echo(f"(kept in {path}, readable by you only)")
