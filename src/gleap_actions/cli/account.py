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
from gleap_actions.destinations.gleap.account import Outcome, check_auth, delete_user


@click.command("check-auth")
@config_option
def check_auth_command(config_path: str | None) -> None:
    """Check that Gleap accepts the configured API token (GET /admin/auth).

    Exit 0 when it does, 1 when it does not, 2 when no token is configured, 3 when Gleap could not be
    reached or answered with a temporary error.
    """
    config = _config_with_token(config_path)
    _finish(asyncio.run(check_auth(config.gleap)))


@click.command("delete-user")
@click.argument("user_id")
@storage_options
def delete_user_command(
    user_id: str, config_path: str | None, data_dir: str | None, store_url: str | None
) -> None:
    """Delete USER_ID's contact in Gleap (DELETE /admin/contacts/USER_ID).

    The user's events still waiting in the queue are dropped first, so none reaches Gleap after the
    deletion. A contact Gleap does not know counts as deleted. Exit codes as for check-auth.
    """
    config = _config_with_token(config_path)
    backend = open_existing_queue(config, data_dir, store_url)
    try:
        dropped = backend.store.drop_user(user_id)
    finally:
        backend.close()
    click.echo(f"Dropped {dropped} queued event(s) of the user (not delivered yet).")
    _finish(asyncio.run(delete_user(config.gleap, user_id)))


def _config_with_token(config_path: str | None) -> Config:
    config = load_or_exit(config_path)
    if config.uses_sandbox:
        click.echo(
            "No Gleap API token is configured: set gleap.api_token in the config file or GLEAP_API_TOKEN.",
            err=True,
        )
        sys.exit(EXIT_CONFIG)
    return config


def _finish(outcome: Outcome) -> None:
    if outcome.ok:
        click.echo(outcome.message)
        return
    click.echo(outcome.message, err=True)
    sys.exit(EXIT_TEMPORARY if outcome.retryable else EXIT_FAILED)
