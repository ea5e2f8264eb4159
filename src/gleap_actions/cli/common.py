"""What the subcommands share: the `--config`, `--data-dir` and `--store` options, loading the config or
exiting with its problems, and opening an existing queue (`dlq`, `delete-user`)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from gleap_actions.config import Config, ConfigError, StorageConfig, load_config

if TYPE_CHECKING:
    from gleap_actions.queue.factory import Backend

# Exit codes: 0 done, 1 the operation failed, 2 a usage or configuration problem (click's own code for
# usage errors), 3 a temporary failure (Gleap unreachable or overloaded): try again later.
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_TEMPORARY = 3

STORE_ENV = "GLEAP_ACTIONS_STORE"

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


def data_dir_option(function: _F) -> _F:
    """`--data-dir D`: the SQLite queue's folder, instead of the config's storage.data_dir."""
    option = click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        help="The SQLite queue's folder (default: the config's storage.data_dir).",
    )
    return option(function)


def store_option(function: _F) -> _F:
    """`--store URL` (or `GLEAP_ACTIONS_STORE`): the queue, instead of the config's storage."""
    option = click.option(
        "--store",
        "store_url",
        envvar=STORE_ENV,
        metavar="URL",
        help=(
            "postgresql://user:pass@host:5432/db (shared by several nodes), sqlite:///path/queue.db "
            f"or a path. Default: ${STORE_ENV}, else the config's storage.url, else queue.db in its data_dir."
        ),
    )
    return option(function)


def storage_options(function: _F) -> _F:
    """`--config`, `--data-dir` and `--store`: everything that says where the queue is."""
    return config_option(data_dir_option(store_option(function)))


def with_storage(config: Config, data_dir: str | None, store_url: str | None) -> StorageConfig:
    """The config's storage with the `--data-dir` and `--store` given on the command line."""
    storage = config.storage
    if data_dir is not None:
        storage = dataclasses.replace(storage, data_dir=Path(data_dir))
    if store_url is not None:
        storage = dataclasses.replace(storage, url=store_url)
    return storage


def destination_option(function: _F) -> _F:
    """`--destination NAME`: only this configured destination (default: the first, or as the command says)."""
    option = click.option(
        "--destination",
        "destination",
        metavar="NAME",
        help="A destination of the config's `destinations:` (default: the first one).",
    )
    return option(function)


def for_destination(config: Config, name: str | None) -> Config:
    """`config` narrowed to the destination `name` (None: unchanged), or exit 2 naming the known ones."""
    if name is None:
        return config
    try:
        return config.only(name)
    except KeyError:
        known = ", ".join(d.name for d in config.destinations)
        click.echo(f"No destination {name!r} in the config (configured: {known}).", err=True)
        sys.exit(EXIT_CONFIG)


def open_existing_queue(config: Config, data_dir: str | None, store_url: str | None) -> Backend:
    """The queue the options name, never created: a command run from another directory must not quietly
    work on a fresh, empty queue. Exit 2 naming the place when there is none."""
    import psycopg  # imported here: most commands never open a queue

    from gleap_actions.queue.factory import StoreLocationError, open_store, parse_location
    from gleap_actions.queue.postgres.migrations import schema_version

    storage = with_storage(config, data_dir, store_url)
    try:
        where = parse_location(storage.url, storage.data_dir)
    except StoreLocationError as exc:
        click.echo(f"Invalid --store: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    if where.backend == "postgres":
        try:
            with psycopg.connect(where.target, autocommit=True) as conn:
                exists = schema_version(conn) > 0
        except psycopg.Error as exc:
            click.echo(f"Cannot open the queue at {where.description}: {exc}".strip(), err=True)
            sys.exit(EXIT_CONFIG)
    else:
        exists = Path(where.target).is_file()
    if not exists:
        click.echo(
            f"No queue at {where.description}. Name the queue serve uses with --data-dir, --store or "
            "--config (or GLEAP_ACTIONS_DATA_DIR / GLEAP_ACTIONS_STORE).",
            err=True,
        )
        sys.exit(EXIT_CONFIG)
    return open_store(storage.url, data_dir=storage.data_dir)


def load_or_exit(path: str | None) -> Config:
    """The config at `path`, or exit 2 after printing every problem to stderr."""
    try:
        return load_config(path)
    except ConfigError as exc:
        click.echo(f"Invalid configuration ({len(exc.errors)} problem(s)):", err=True)
        for error in exc.errors:
            click.echo(f"  {error}", err=True)
        sys.exit(EXIT_CONFIG)
