"""``crmbot``: the platform's command line. Each subcommand group lives in its own module."""

from __future__ import annotations

import logging
import sys

import click
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from crm_connector import CrmError, describe_settings_error
from knowledge import KnowledgeError


class _Group(click.Group):
    """Turns domain errors into a one-line message and exit code 1 instead of a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except (CrmError, KnowledgeError) as exc:
            raise click.ClickException(str(exc)) from exc
        except ValidationError as exc:
            raise click.ClickException(_settings_problem(exc)) from exc


def _settings_problem(exc: ValidationError) -> str:
    """Which setting is wrong, by its environment variable (never its value)."""
    prefix = next((str(s.model_config.get("env_prefix", "")) for s in BaseSettings.__subclasses__()
                   if s.__name__ == exc.title), "")
    return "invalid settings:\n" + describe_settings_error(exc, prefix)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """Customer-service platform: database, assistant, agent inbox and analytics."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)


def _register() -> None:
    from crmbot import cmd_bench, cmd_db, cmd_import, cmd_knowledge, cmd_run, cmd_status, cmd_users

    main.add_command(cmd_db.db)
    main.add_command(cmd_import.import_group)
    main.add_command(cmd_knowledge.knowledge)
    main.add_command(cmd_bench.bench)
    main.add_command(cmd_status.status)
    main.add_command(cmd_run.train_command)
    main.add_command(cmd_run.up)
    main.add_command(cmd_run.chat)
    main.add_command(cmd_users.users)

    from crmbot import cmd_analytics, cmd_demo

    main.add_command(cmd_analytics.analytics)
    main.add_command(cmd_demo.demo)


_register()
