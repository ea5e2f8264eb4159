"""`gleap-actions dlq list|show|replay|purge`: dead letters, read and changed in the store directly.

Works whether or not the service is running (SQLite in WAL mode and PostgreSQL both allow it); a running
service picks replayed deliveries up at its next poll.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import click
import orjson

from gleap_actions.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    load_or_exit,
    open_existing_queue,
    storage_options,
)
from gleap_actions.queue.render import dead_letter_json
from gleap_actions.queue.store import Store


def _open(config_path: str | None, data_dir: str | None, store_url: str | None) -> Store:
    return open_existing_queue(load_or_exit(config_path), data_dir, store_url).store


def _selection(ids: tuple[int, ...], mapping: str | None, all_: bool) -> list[int] | None:
    if not ids and mapping is None and not all_:
        click.echo("Say which dead letters: IDs, --mapping NAME, or --all.", err=True)
        sys.exit(EXIT_CONFIG)
    return list(ids) if ids else None


@click.group("dlq")
def dlq_group() -> None:
    """Inspect, replay and purge dead letters (deliveries that failed for good)."""


@dlq_group.command("list")
@storage_options
@click.option("--mapping", help="Only this mapping's dead letters.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--after", type=int, default=0, help="Only ids greater than this (paging).")
def list_command(
    config_path: str | None, data_dir: str | None, store_url: str | None, mapping: str | None, limit: int,
    after: int,
) -> None:  # fmt: skip
    """One JSON line per dead letter: id, mapping, reason, status, attempts, created_at."""
    store = _open(config_path, data_dir, store_url)
    try:
        for letter in store.list_dead_letters(mapping=mapping, limit=limit, after_id=after):
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
    name: str, verb: str, help_text: str, act: Callable[[Store, list[int] | None, str | None], int]
) -> None:
    """Register `dlq NAME [IDS...] [--mapping M] [--all]`, which applies `act(store, ids, mapping)`."""

    @dlq_group.command(name, help=help_text)
    @storage_options
    @click.argument("ids", nargs=-1, type=int)
    @click.option("--mapping", help="Every dead letter of this mapping.")
    @click.option("--all", "all_", is_flag=True, help="Every dead letter.")
    def command(
        config_path: str | None, data_dir: str | None, store_url: str | None, ids: tuple[int, ...],
        mapping: str | None, all_: bool,
    ) -> None:  # fmt: skip
        selection = _selection(ids, mapping, all_)
        store = _open(config_path, data_dir, store_url)
        try:
            count = act(store, selection, mapping)
        finally:
            store.close()
        click.echo(f"{verb} {count} dead letter(s).")


_selection_command(
    "replay",
    "Replayed",
    "Queue dead letters for delivery again, with a fresh retry window.",
    lambda store, ids, mapping: store.replay_dead_letters(ids, mapping=mapping),
)
_selection_command(
    "purge",
    "Purged",
    "Delete dead letters for good.",
    lambda store, ids, mapping: store.purge_dead_letters(ids, mapping=mapping),
)
