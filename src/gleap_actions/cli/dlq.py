"""`gleap-actions dlq list|show|replay|purge|waiting|discard`: dead letters, read and changed in the
store directly, and the deliveries no configured mapping delivers (a destination or mapping removed).

`--destination`, `--mapping`, `--reason` and `--status` choose dead letters (together: all must hold). A
mapping of a destination other than `default` is stored as `destination/mapping` (its delivery key):
`--destination D --mapping M` says the same as `--mapping D/M`.

Works whether or not the service is running (SQLite in WAL mode and PostgreSQL both allow it); a running
service picks replayed deliveries up at its next poll.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click
import orjson

from gleap_actions.admin.selection import dead_letter_filter
from gleap_actions.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    load_or_exit,
    open_existing_queue,
    storage_options,
)
from gleap_actions.config import Config
from gleap_actions.deliver import discard
from gleap_actions.queue.owners import owner_name
from gleap_actions.queue.render import dead_letter_json
from gleap_actions.queue.store import ALL_DEAD_LETTERS, DeadLetterFilter, Store
from gleap_actions.route import delivery_key


def _open(config_path: str | None, data_dir: str | None, store_url: str | None) -> Store:
    return open_existing_queue(load_or_exit(config_path), data_dir, store_url).store


def _filter_options(command: Callable[..., None]) -> Callable[..., None]:
    """`--destination`, `--mapping`, `--reason` and `--status`, given to `command` as `where`."""

    @click.option("--destination", metavar="NAME", help="Only this destination's dead letters.")
    @click.option("--mapping", help="Only this mapping's (of --destination, or a delivery key).")
    @click.option("--reason", help="Only those whose reason contains this (e.g. 'HTTP 400', unconfigured).")
    @click.option(
        "--status", type=click.IntRange(100, 599), help="Only those Gleap answered with this status."
    )
    @functools.wraps(command)
    def with_filter(
        destination: str | None, mapping: str | None, reason: str | None, status: int | None, **kwargs: Any
    ) -> None:
        command(where=dead_letter_filter(destination, mapping, reason, status), **kwargs)

    return with_filter


def _selection(ids: tuple[int, ...], where: DeadLetterFilter, all_: bool) -> list[int] | None:
    if not ids and where == ALL_DEAD_LETTERS and not all_:
        click.echo(
            "Say which dead letters: IDs, --destination/--mapping/--reason/--status, or --all.", err=True
        )
        sys.exit(EXIT_CONFIG)
    return list(ids) if ids else None


@click.group("dlq")
def dlq_group() -> None:
    """Inspect, replay and purge dead letters (deliveries that failed for good)."""


@dlq_group.command("list")
@storage_options
@_filter_options
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--after", type=int, default=0, help="Only ids greater than this (paging).")
def list_command(
    config_path: str | None, data_dir: str | None, store_url: str | None, where: DeadLetterFilter,
    limit: int, after: int,
) -> None:  # fmt: skip
    """One JSON line per dead letter: id, destination, mapping (its delivery key), reason, status, attempts,
    created_at."""
    store = _open(config_path, data_dir, store_url)
    try:
        for letter in store.list_dead_letters(where, limit=limit, after_id=after):
            click.echo(orjson.dumps(dead_letter_json(letter, full=False)))
    finally:
        store.close()


@dlq_group.command("show")
@storage_options
@click.argument("dead_letter_id", type=int)
def show_command(
    config_path: str | None, data_dir: str | None, store_url: str | None, dead_letter_id: int
) -> None:
    """A dead letter in full: the reason, the redacted request, Gleap's response and the event."""
    store = _open(config_path, data_dir, store_url)
    try:
        letter = store.get_dead_letter(dead_letter_id)
    finally:
        store.close()
    if letter is None:
        click.echo(f"No dead letter {dead_letter_id}.", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(orjson.dumps(dead_letter_json(letter, full=True), option=orjson.OPT_INDENT_2))


def _selection_command(
    name: str, verb: str, help_text: str, act: Callable[[Store, list[int] | None, DeadLetterFilter], int]
) -> None:
    """Register `dlq NAME [IDS...] [filters] [--all]`, which applies `act(store, ids, where)`."""

    @dlq_group.command(name, help=help_text)
    @storage_options
    @click.argument("ids", nargs=-1, type=int)
    @_filter_options
    @click.option("--all", "all_", is_flag=True, help="Every dead letter.")
    def command(
        config_path: str | None, data_dir: str | None, store_url: str | None, ids: tuple[int, ...],
        where: DeadLetterFilter, all_: bool,
    ) -> None:  # fmt: skip
        selection = _selection(ids, where, all_)
        store = _open(config_path, data_dir, store_url)
        try:
            count = act(store, selection, where)
        finally:
            store.close()
        click.echo(f"{verb} {count} dead letter(s).")


_selection_command(
    "replay",
    "Replayed",
    "Queue dead letters for delivery again, with a fresh retry window.",
    lambda store, ids, where: store.replay_dead_letters(ids, where=where),
)
_selection_command(
    "purge",
    "Purged",
    "Delete dead letters for good.",
    lambda store, ids, where: store.purge_dead_letters(ids, where=where),
)


def _configured(config: Config) -> frozenset[str]:
    return frozenset(
        delivery_key(d.name, s.name) for d in config.destinations for s in d.subscriptions if s.enabled
    )


@dlq_group.command("waiting")
@storage_options
def waiting_command(config_path: str | None, data_dir: str | None, store_url: str | None) -> None:
    """Deliveries waiting for a destination or mapping the config no longer has (or disables): one
    JSON line per delivery key with its count. They are kept until `dlq discard`."""
    config = load_or_exit(config_path)
    backend = open_existing_queue(config, data_dir, store_url)
    try:
        waiting = discard.unconfigured(backend.store, _configured(config))
    finally:
        backend.close()
    for key, count in waiting.items():
        click.echo(orjson.dumps({"mapping": key, "waiting": count}))


@dlq_group.command("discard")
@storage_options
@click.argument("key", metavar="MAPPING")
def discard_command(config_path: str | None, data_dir: str | None, store_url: str | None, key: str) -> None:
    """Move the waiting deliveries of MAPPING (a delivery key from `dlq waiting`), which the config no
    longer delivers, to the dead letters (reason `unconfigured`): then `dlq replay` or `dlq purge`."""
    config = load_or_exit(config_path)
    if key in _configured(config):
        click.echo(f"{key!r} is delivered by a configured mapping: nothing discarded.", err=True)
        sys.exit(EXIT_CONFIG)
    backend = open_existing_queue(config, data_dir, store_url)
    try:
        count = discard.discard(backend.store, key, owner=owner_name())
    finally:
        backend.close()
    click.echo(f"Discarded {count} delivery(ies) into the dead letters.")
