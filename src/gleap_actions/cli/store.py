"""`gleap-actions store ...`: operate the durable queue (for operators who migrate it themselves)."""

from __future__ import annotations

import click

from gleap_actions.cli.common import load_or_exit, storage_options, with_storage
from gleap_actions.queue.factory import StoreLocationError, open_store
from gleap_actions.queue.store import StoreFullError


@click.group("store")
def store_group() -> None:
    """The durable queue (SQLite by default, PostgreSQL for several nodes)."""


@store_group.command("migrate")
@storage_options
def migrate_command(config_path: str | None, data_dir: str | None, store_url: str | None) -> None:
    """Create the store's schema or bring it to this version's.

    `serve` does this by itself at start (concurrent nodes wait for each other); run this first when the
    database user of the nodes may not change the schema, or to upgrade at a moment of your choosing.
    """
    location: str | None = store_url
    where = data_dir or "data"
    if location is None:  # no --store: the config's storage (so a broken config does not stop --store)
        storage = with_storage(load_or_exit(config_path), data_dir, None)
        location, where = storage.url, str(storage.data_dir)
    try:
        backend = open_store(location, data_dir=where)
    except (StoreFullError, StoreLocationError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    backend.close()
    click.echo(f"store at {backend.description}: schema version {backend.schema_version}, up to date")
