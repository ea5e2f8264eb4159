"""`gleap-actions store ...`: operate the durable queue (for operators who migrate it themselves)."""

from __future__ import annotations

import click

from gleap_actions.cli.common import config_option, load_or_exit
from gleap_actions.queue.factory import StoreLocationError, open_store
from gleap_actions.queue.store import StoreFullError

STORE_ENV = "GLEAP_ACTIONS_STORE"


@click.group("store")
def store_group() -> None:
    """The durable queue (SQLite by default, PostgreSQL for several nodes)."""


@store_group.command("migrate")
@click.option(
    "--store",
    "location",
    envvar=STORE_ENV,
    metavar="URL",
    help=(
        "postgresql://user:pass@host:5432/db (shared by several nodes), sqlite:///path/queue.db or a path. "
        f"Default: ${STORE_ENV}, else the config's storage.url, else queue.db in its data_dir."
    ),
)
@config_option
def migrate_command(location: str | None, config_path: str | None) -> None:
    """Create the store's schema or bring it to this version's.

    `serve` does this by itself at start (concurrent nodes wait for each other); run this first when the
    database user of the nodes may not change the schema, or to upgrade at a moment of your choosing.
    """
    data_dir = "data"
    if location is None:
        storage = load_or_exit(config_path).storage
        location, data_dir = storage.url, str(storage.data_dir)
    try:
        backend = open_store(location, data_dir=data_dir)
    except (StoreFullError, StoreLocationError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    backend.close()
    click.echo(f"store at {backend.description}: schema version {backend.schema_version}, up to date")
