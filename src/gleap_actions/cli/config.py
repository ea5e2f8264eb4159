"""`gleap-actions config validate F`: check a config file and summarise it, or list every problem."""

from __future__ import annotations

import sys

import click

from gleap_actions.cli.common import EXIT_FAILED
from gleap_actions.config import Config, ConfigError, DeliveryConfig, load_config
from gleap_actions.config.topology import DEFAULT
from gleap_actions.deliver.budget import ENDPOINTS
from gleap_actions.destinations.gleap.settings import shown_url
from gleap_actions.engine.subscription import Subscription


@click.group("config")
def config_group() -> None:
    """Work with the config file."""


@config_group.command("validate")
@click.argument("path", type=click.Path(dir_okay=False))
def validate_command(path: str) -> None:
    """Check the config file PATH: print OK and a summary, or every problem (exit 1).

    Every trigger and mapping is compiled; environment variables are interpolated from the current
    environment. Secrets are never printed.

    Two forms: one Gleap project (top-level `gleap:` and `mappings:`, `server.write_keys`), or several:
    `destinations:` (each a name, its own `gleap:` with the token from the environment, `mappings:` (at
    most 50, names unique within it) and `delivery:` overrides) and `sources:` (each a name, its
    `write_keys`, unique across sources, and the `destinations` its events go to). See
    docs/configuration.md.
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
    """The lines `config validate` prints for a valid config: mappings (actions, triggers), audiences;
    with several destinations, each destination's and the sources feeding them."""
    several = len(config.destinations) > 1 or config.destinations[0].name != DEFAULT
    if not several:
        lines = _mapping_lines(config.subscriptions, f"OK {path}: ", "")
    else:
        lines = [f"OK {path}: {len(config.sources)} source(s), {len(config.destinations)} destination(s)"]
        for source in config.sources:
            targets = ", ".join(source.destinations)
            lines.append(f"source {source.name}: {len(source.write_keys)} write key(s) -> {targets}")
        for d in config.destinations:
            where = (
                "the built-in sandbox"
                if d.uses_sandbox
                else f"{shown_url(d.gleap.base_url)} (API token configured)"
            )
            lines.append(f"destination {d.name}: Gleap at {where}, {_budget(d.delivery)}")
            lines.extend(_mapping_lines(d.subscriptions, "  ", "  "))
    kinds = (("audience(s)", config.audiences), ("computed trait(s)", config.computed_traits))
    for label, computations in kinds:
        if computations:
            enabled = sum(1 for c in computations if c.enabled)
            keys = ", ".join(c.key for c in computations)
            lines.append(f"{len(computations)} {label}, {enabled} enabled: {keys}")
    if several:
        pass  # each destination's Gleap is on its line
    else:
        lines.append(f"Gleap budget: {_budget(config.delivery)}")
        if config.uses_sandbox:
            lines.append("Gleap: no API token configured: deliveries go to the built-in sandbox")
        else:
            lines.append(f"Gleap: {shown_url(config.gleap.base_url)} (API token configured)")
    # A name or trigger may hold a value from the environment (maybe a secret): never printed.
    actions = {s.action.name for d in config.destinations for s in d.subscriptions}
    hidden = (v for v in config.env_values if len(v) >= 4 and v not in actions)  # action names are public
    for value in sorted(hidden, key=len, reverse=True):
        lines = [line.replace(value, "***") for line in lines]
    return lines


def _budget(delivery: DeliveryConfig) -> str:
    """Each Gleap endpoint's requests per minute, and whether audience identifies go first."""
    rates = ", ".join(f"{e} {delivery.rate_for(e)}" for e in ENDPOINTS)
    return f"requests/min {rates}" + (", audience identifies first" if delivery.audience_priority else "")


def _mapping_lines(subscriptions: tuple[Subscription, ...], head: str, indent: str) -> list[str]:
    """A count of `subscriptions`, then each one's action, state, batching and trigger."""
    enabled = sum(1 for s in subscriptions if s.enabled)
    names = ", ".join(sorted({s.action.name for s in subscriptions})) or "none"
    lines = [f"{head}{len(subscriptions)} mapping(s), {enabled} enabled, actions: {names}"]
    for s in subscriptions:
        state = "enabled" if s.enabled else "disabled"
        batching = f"batches of up to {s.batch_size}" if s.batching else "one request per event"
        lines.append(f"{indent}  - {s.name}: {s.action.name}, {state}, {batching}")
        lines.append(f"{indent}    trigger: {s.trigger_text}")
    return lines
