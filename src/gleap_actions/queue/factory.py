"""Open the `Store` a location names: a PostgreSQL URL, a SQLite URL or path, or the default file.

- `postgresql://...` or `postgres://...`: `PostgresStore` (shared by every node using the same database).
- `sqlite:///abs/path.db`, `sqlite:relative.db` or a bare path: `SQLiteStore` at that file.
- None: `SQLiteStore` at `data_dir / "queue.db"` (the default).
"""

from __future__ import annotations

from pathlib import Path

from gleap_actions.queue.postgres.store import PostgresStore, describe
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import Store

DEFAULT_SQLITE_FILE = "queue.db"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(location: str | Path | None) -> bool:
    """Whether `location` names a PostgreSQL database."""
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


def sqlite_path(location: str | Path | None, data_dir: str | Path = "data") -> Path:
    """The SQLite file a non-PostgreSQL location names."""
    if location is None:
        return Path(data_dir) / DEFAULT_SQLITE_FILE
    if isinstance(location, str) and location.startswith("sqlite:"):
        rest = location.removeprefix("sqlite:")
        # sqlite:///abs/path (three slashes: empty authority) or sqlite:relative/path
        return Path(rest[2:] if rest.startswith("//") else rest)
    return Path(location)


def open_store(location: str | Path | None, *, data_dir: str | Path = "data") -> Store:
    """Open (creating or migrating the schema if needed) the store at `location`."""
    if is_postgres(location):
        return PostgresStore(str(location))
    return SQLiteStore(sqlite_path(location, data_dir))


def describe_location(location: str | Path | None, *, data_dir: str | Path = "data") -> str:
    """`location` as it can be shown to a user: a PostgreSQL URL without credentials, or the file."""
    if is_postgres(location):
        return describe(str(location))
    return str(sqlite_path(location, data_dir))
