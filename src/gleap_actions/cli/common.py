"""What the subcommands share: the `--config` option and loading the config or exiting with its problems."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from gleap_actions.config import Config, ConfigError, load_config

# Exit codes: 0 done, 1 the operation failed, 2 a usage or configuration problem (click's own code for
# usage errors), 3 a temporary failure (Gleap unreachable or overloaded): try again later.
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_TEMPORARY = 3

_F = TypeVar("_F", bound=Callable[..., Any])


def config_option(function: _F) -> _F:
    """`--config F` (or `GLEAP_ACTIONS_CONFIG`); without either, the defaults and the Segment presets."""
    option = click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        envvar="GLEAP_ACTIONS_CONFIG",
        help="The YAML config file (default: $GLEAP_ACTIONS_CONFIG, else the Segment presets).",
    )
    return option(function)


def load_or_exit(path: str | None) -> Config:
    """The config at `path`, or exit 2 after printing every problem to stderr."""
    try:
        return load_config(path)
    except ConfigError as exc:
        click.echo(f"Invalid configuration ({len(exc.errors)} problem(s)):", err=True)
        for error in exc.errors:
            click.echo(f"  {error}", err=True)
        sys.exit(EXIT_CONFIG)
