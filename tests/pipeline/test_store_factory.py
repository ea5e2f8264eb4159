"""Choosing the store from a location, and `gleap-actions store migrate`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from gleap_actions.cli import cli
from gleap_actions.pipeline.pg_migrations import MIGRATIONS
from gleap_actions.pipeline.postgres_store import PostgresStore
from gleap_actions.pipeline.sqlite_store import SQLiteStore
from gleap_actions.pipeline.store_factory import describe_location, open_store, sqlite_path


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


@pytest.mark.postgres
def test_store_migrate_command(postgres_url: str) -> None:
    result = CliRunner().invoke(cli, ["store", "migrate", "--store", postgres_url])
    assert result.exit_code == 0, result.output
    assert f"schema version {len(MIGRATIONS)}, up to date" in result.output
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (len(MIGRATIONS),)
    # From the environment too, and a second run changes nothing.
    again = CliRunner().invoke(cli, ["store", "migrate"], env={"GLEAP_ACTIONS_STORE": postgres_url})
    assert again.exit_code == 0, again.output


def test_store_migrate_sqlite_by_default(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gleap_actions", "store", "migrate", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(tmp_path / "queue.db") in out.stdout
    assert (tmp_path / "queue.db").exists()


def test_store_migrate_unreachable_database_is_a_clear_error() -> None:
    result = CliRunner().invoke(
        cli, ["store", "migrate", "--store", "postgresql://app:s3cret@127.0.0.1:9/queue"]
    )
    assert result.exit_code == 1
    assert "cannot open the store at postgresql://127.0.0.1:9/queue" in result.output
    assert "s3cret" not in result.output
