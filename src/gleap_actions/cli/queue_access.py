"""Opening the queue `serve` uses, from the commands that work on it (`dlq`, `delete-user`).

They take `--data-dir` / `--store` / `--config` like `serve` and never create a queue: a queue that does not
exist is an error naming where it was looked for (a command run from another directory must not quietly
work on a fresh, empty queue).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import psycopg

from gleap_actions.cli.common import EXIT_CONFIG, config_option, load_or_exit
from gleap_actions.config import Config
from gleap_actions.queue.factory import describe_location, is_postgres, open_store, sqlite_path
from gleap_actions.queue.postgres.migrations import schema_version
from gleap_actions.queue.store import Store

_F = TypeVar("_F", bound=Callable[..., Any])


def store_options(function: _F) -> _F:
    """`--config`, `--data-dir` and `--store`, as `serve` takes them."""
    function = click.option(
        "--store", "store_url", envvar="GLEAP_ACTIONS_STORE", help="postgresql://... (a shared queue)."
    )(function)
    function = click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        envvar="GLEAP_ACTIONS_DATA_DIR",
        help="The SQLite queue's folder (default: the config's storage.data_dir, else ./data).",
    )(function)
    return config_option(function)


def open_existing_store(config_path: str | None, data_dir: str | None, store_url: str | None) -> Store:
    """The queue the options name; exit 2 naming the place when there is none."""
    return open_configured_existing(load_or_exit(config_path), data_dir, store_url)


def open_configured_existing(config: Config, data_dir: str | None, store_url: str | None) -> Store:
    """`open_existing_store` for an already loaded config."""
    storage = config.storage
    if data_dir is not None:
        storage = dataclasses.replace(storage, data_dir=Path(data_dir))
    if store_url is not None:
        storage = dataclasses.replace(storage, url=store_url)
    where = describe_location(storage.url, data_dir=storage.data_dir)
    if is_postgres(storage.url):
        try:
            with psycopg.connect(str(storage.url), autocommit=True) as conn:
                exists = schema_version(conn) > 0
        except psycopg.Error as exc:
            click.echo(f"Cannot open the queue at {where}: {exc}".strip(), err=True)
            sys.exit(EXIT_CONFIG)
    else:
        exists = sqlite_path(storage.url, storage.data_dir).is_file()
    if not exists:
        click.echo(
            f"No queue at {where}. Name the queue serve uses with --data-dir, --store or --config "
            "(or GLEAP_ACTIONS_DATA_DIR / GLEAP_ACTIONS_STORE).",
            err=True,
        )
        sys.exit(EXIT_CONFIG)
    return open_store(storage.url, data_dir=storage.data_dir)
