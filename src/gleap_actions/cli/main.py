"""The `gleap-actions` command line."""

from __future__ import annotations

import click

from gleap_actions import __version__
from gleap_actions.cli.account import check_auth_command, delete_user_command
from gleap_actions.cli.audiences import audiences_group
from gleap_actions.cli.config import config_group
from gleap_actions.cli.dlq import dlq_group
from gleap_actions.cli.preview import preview_command
from gleap_actions.cli.send import send_command
from gleap_actions.cli.serve import serve_command
from gleap_actions.cli.store import store_group
from gleap_actions.sandbox.cli import sandbox_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gleap-actions")
def cli() -> None:
    """Deliver Segment analytics calls to Gleap with Segment-compatible mappings and triggers."""


cli.add_command(serve_command)
cli.add_command(preview_command)
cli.add_command(send_command)
cli.add_command(check_auth_command)
cli.add_command(delete_user_command)
cli.add_command(dlq_group)
cli.add_command(config_group)
cli.add_command(audiences_group)
cli.add_command(store_group)
cli.add_command(sandbox_command)


def main() -> None:
    """Console-script entry point."""
    cli()
