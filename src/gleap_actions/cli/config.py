"""`gleap-actions config validate F`: check a config file and summarise it, or list every problem."""

from __future__ import annotations

import sys

import click

from gleap_actions.cli.common import EXIT_FAILED
from gleap_actions.config import Config, ConfigError, load_config
from gleap_actions.destinations.gleap.settings import shown_url


@click.group("config")
def config_group() -> None:
    """Work with the config file."""


@config_group.command("validate")
@click.argument("path", type=click.Path(dir_okay=False))
def validate_command(path: str) -> None:
    """Check the config file PATH: print OK and a summary, or every problem (exit 1).

    Every trigger and mapping is compiled; environment variables are interpolated from the current
    environment. Secrets are never printed.
    """
    try:
        config = load_config(path)
    except ConfigError as exc:
        click.echo(f"{path}: {len(exc.errors)} problem(s)", err=True)
        for error in exc.errors:
            click.echo(f"  {error}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo("\n".join(summary(config, path)))


def summary(config: Config, path: str) -> list[str]:
    """The lines `config validate` prints for a valid config: mappings (actions, triggers), audiences."""
    subscriptions = config.subscriptions
    enabled = sum(1 for s in subscriptions if s.enabled)
    actions = sorted({s.action.name for s in subscriptions})
    names = ", ".join(actions) or "none"
    lines = [f"OK {path}: {len(subscriptions)} mapping(s), {enabled} enabled, actions: {names}"]
    for s in subscriptions:
        state = "enabled" if s.enabled else "disabled"
        batching = f"batches of up to {s.batch_size}" if s.batching else "one request per event"
        lines.append(f"  - {s.name}: {s.action.name}, {state}, {batching}")
        lines.append(f"    trigger: {s.trigger_text}")
    kinds = (("audience(s)", config.audiences), ("computed trait(s)", config.computed_traits))
    for label, computations in kinds:
        if computations:
            enabled = sum(1 for c in computations if c.enabled)
            keys = ", ".join(c.key for c in computations)
            lines.append(f"{len(computations)} {label}, {enabled} enabled: {keys}")
    if config.uses_sandbox:
        lines.append("Gleap: no API token configured: deliveries go to the built-in sandbox")
    else:
        lines.append(f"Gleap: {shown_url(config.gleap.base_url)} (API token configured)")
    # A name or trigger may hold a value from the environment (maybe a secret): never printed.
    hidden = (v for v in config.env_values if len(v) >= 4 and v not in actions)  # action names are public
    for value in sorted(hidden, key=len, reverse=True):
        lines = [line.replace(value, "***") for line in lines]
    return lines
