"""The `gleap-actions` command line."""

from __future__ import annotations

import click

from gleap_actions import __version__
from gleap_actions.pipeline.store_cli import store_group
from gleap_actions.sandbox.cli import sandbox_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gleap-actions")
def cli() -> None:
    """Deliver Segment analytics calls to Gleap with Segment-compatible mappings and triggers."""


cli.add_command(sandbox_command)
cli.add_command(store_group)


def main() -> None:
    """Console-script entry point."""
    cli()
