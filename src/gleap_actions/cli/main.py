"""The `gleap-actions` command line.

Each subcommand's module is imported only when that subcommand runs: `preview` over a file must not pay
for the server, PostgreSQL and HTTP client imports of `serve` (about half a second).
"""

from __future__ import annotations

import importlib

import click

from gleap_actions import __version__

# name -> "module:attribute", in the order `--help` lists them.
COMMANDS = {
    "serve": "gleap_actions.cli.serve:serve_command",
    "preview": "gleap_actions.cli.preview:preview_command",
    "send": "gleap_actions.cli.send:send_command",
    "check-auth": "gleap_actions.cli.account:check_auth_command",
    "delete-user": "gleap_actions.cli.account:delete_user_command",
    "dlq": "gleap_actions.cli.dlq:dlq_group",
    "config": "gleap_actions.cli.config:config_group",
    "audiences": "gleap_actions.cli.audiences:audiences_group",
    "store": "gleap_actions.cli.store:store_group",
    "sandbox": "gleap_actions.sandbox.cli:sandbox_command",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gleap-actions")
def cli() -> None:
    """Deliver Segment analytics calls to Gleap with Segment-compatible mappings and triggers."""


def main() -> None:
    """Console-script entry point."""
    cli()
