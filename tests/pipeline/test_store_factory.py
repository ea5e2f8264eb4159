"""Choosing the store from a location."""

from __future__ import annotations

from pathlib import Path

import pytest

from gleap_actions.queue.factory import describe_location, open_store, sqlite_path
from gleap_actions.queue.postgres.store import PostgresStore
from gleap_actions.queue.sqlite.store import SQLiteStore


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (None, "data-dir/queue.db"),
        ("sqlite:///abs/q.db", "/abs/q.db"),
        ("sqlite:rel/q.db", "rel/q.db"),
        ("plain/q.db", "plain/q.db"),
        (Path("p/q.db"), "p/q.db"),
    ],
)
def test_sqlite_locations(location: str | Path | None, expected: str) -> None:
    assert sqlite_path(location, "data-dir") == Path(expected)


def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    store = open_store(None, data_dir=tmp_path / "d")
    assert isinstance(store, SQLiteStore) and store.path == tmp_path / "d" / "queue.db"
    store.close()
    store = open_store(f"sqlite://{tmp_path}/x.db")
    assert isinstance(store, SQLiteStore) and store.path == tmp_path / "x.db"
    store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_open_store_postgres(postgres_url: str, scheme: str) -> None:
    store = open_store(postgres_url.replace("postgresql", scheme, 1))
    assert isinstance(store, PostgresStore)
    store.close()


def test_describe_location_never_shows_a_password() -> None:
    shown = describe_location("postgres://app:s3cret@db:5432/queue")
    assert shown == "postgresql://db:5432/queue"
