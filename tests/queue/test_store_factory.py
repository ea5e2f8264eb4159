"""Choosing the store from a location: `open_store` is the one place that tells backends apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from gleap_actions.queue.factory import StoreLocationError, open_store, parse_location
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
    where = parse_location(location, "data-dir")
    assert (where.backend, where.target, where.shared) == ("sqlite", expected, False)


def test_unknown_schemes_are_refused() -> None:
    with pytest.raises(StoreLocationError, match="unsupported store URL scheme 'mysql'"):
        parse_location("mysql://db/queue")


def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    backend = open_store(None, data_dir=tmp_path / "d")
    assert isinstance(backend.store, SQLiteStore) and backend.description == str(tmp_path / "d" / "queue.db")
    assert backend.routes_on_append and backend.shared_limiter(60, "token", "identify") is None
    backend.close()
    backend = open_store(f"sqlite://{tmp_path}/x.db")
    assert isinstance(backend.store, SQLiteStore) and backend.store.location == str(tmp_path / "x.db")
    backend.close()


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_open_store_postgres(postgres_url: str, scheme: str) -> None:
    backend = open_store(postgres_url.replace("postgresql", scheme, 1))
    assert isinstance(backend.store, PostgresStore) and not backend.routes_on_append
    assert backend.store.location == backend.description
    limiter = backend.shared_limiter(60, "token", "track")
    assert limiter is not None
    limiter.close()
    backend.close()


def test_describe_location_never_shows_a_password() -> None:
    shown = parse_location("postgres://app:s3cret@db:5432/queue").description
    assert shown == "postgresql://db:5432/queue"
