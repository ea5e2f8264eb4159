"""`gleap-actions check-auth` and `gleap-actions delete-user USER_ID`: operations on the Gleap account."""

from __future__ import annotations

import asyncio
import sys

import click

from gleap_actions.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_TEMPORARY,
    config_option,
    load_or_exit,
    open_existing_queue,
    storage_options,
)
from gleap_actions.config import Config
from gleap_actions.config.topology import DestinationConfig
from gleap_actions.destinations.gleap.account import Outcome, check_auth, delete_user
from gleap_actions.route import destinations_fed

_DESTINATIONS = click.option(
    "--destination",
    "destinations",
    multiple=True,
    metavar="NAME",
    help="Only this destination of the config (repeatable; default: every one).",
)


@click.command("check-auth")
@config_option
@_DESTINATIONS
def check_auth_command(config_path: str | None, destinations: tuple[str, ...]) -> None:
    """Check that Gleap accepts the configured API token (GET /admin/auth) of each destination.

    Exit 0 when it does, 1 when it does not, 2 when no token is configured, 3 when Gleap could not be
    reached or answered with a temporary error (the worst of the destinations checked).
    """
    chosen = _destinations(load_or_exit(config_path), destinations)
    _finish_all([(d.name, asyncio.run(check_auth(d.gleap))) for d in chosen])


@click.command("delete-user")
@click.argument("user_id")
@storage_options
@_DESTINATIONS
def delete_user_command(
    user_id: str,
    config_path: str | None,
    data_dir: str | None,
    store_url: str | None,
    destinations: tuple[str, ...],
) -> None:
    """Delete USER_ID's contact in Gleap (DELETE /admin/contacts/USER_ID), in every destination the user's
    sources feed (or those named with --destination).

    The user's sources are those of their events still stored (until retention); when none is, or one
    is of a write key no longer configured, every destination a source feeds is asked. The user's events
    still waiting in the queue are dropped first, so none reaches Gleap after the deletion. A contact
    Gleap does not know counts as deleted. Exit codes as for check-auth.
    """
    config = load_or_exit(config_path)
    names = tuple(d.name for d in config.destinations)
    # Every destination that may be asked must have a token, before the queue is touched.
    chosen = _destinations(config, destinations or destinations_fed(config.sources, names, ()))
    backend = open_existing_queue(config, data_dir, store_url)
    try:
        if not destinations:
            fed = destinations_fed(config.sources, names, backend.store.user_sources(user_id))
            chosen = [d for d in chosen if d.name in fed]
        dropped = backend.store.drop_user(user_id)
    finally:
        backend.close()
    click.echo(f"Dropped {dropped} queued event(s) of the user (not delivered yet).")
    _finish_all([(d.name, asyncio.run(delete_user(d.gleap, user_id))) for d in chosen])


def _destinations(config: Config, names: tuple[str, ...]) -> list[DestinationConfig]:
    """The destinations `names` (none: every one), each with a token; else exit 2 saying why."""
    known = {d.name: d for d in config.destinations}
    unknown = [name for name in names if name not in known]
    if unknown:
        click.echo(f"No destination {unknown[0]!r} in the config (configured: {', '.join(known)}).", err=True)
        sys.exit(EXIT_CONFIG)
    chosen = [known[name] for name in dict.fromkeys(names)] if names else list(known.values())
    for destination in chosen:
        if destination.uses_sandbox:
            where = (
                "gleap.api_token" if len(known) == 1 else f"the api_token of destination {destination.name!r}"
            )
            click.echo(
                f"No Gleap API token is configured: set {where} in the config file"
                + (" or GLEAP_API_TOKEN." if len(known) == 1 else "."),
                err=True,
            )
            sys.exit(EXIT_CONFIG)
    return chosen


def _finish_all(outcomes: list[tuple[str, Outcome]]) -> None:
    """Print each outcome (prefixed with its destination when there are several); exit with the worst."""
    worst = 0
    for name, outcome in outcomes:
        text = outcome.message if len(outcomes) == 1 else f"{name}: {outcome.message}"
        click.echo(text, err=not outcome.ok)
        if not outcome.ok:
            worst = max(worst, EXIT_TEMPORARY if outcome.retryable else EXIT_FAILED)
    if worst:
        sys.exit(worst)
