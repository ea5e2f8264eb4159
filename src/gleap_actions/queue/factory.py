"""Open the queue a location names, with all its backend offers: the one place that tells backends apart.

- `postgresql://...` or `postgres://...`: `PostgresStore`, shared by every node using the same database,
  with requests-per-minute limiters (one per Gleap project and endpoint) shared through it.
- `sqlite:///abs/path.db`, `sqlite:relative.db` or a bare path: `SQLiteStore` at that file.
- None: `SQLiteStore` at `data_dir / "queue.db"` (the default).

Any other `scheme://` is refused here, so a URL never reaches a backend that cannot read it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg

from gleap_actions.queue.postgres import migrations as pg_migrations
from gleap_actions.queue.postgres.ratelimit import PostgresRateLimiter, project_key
from gleap_actions.queue.postgres.store import PostgresStore, describe
from gleap_actions.queue.sqlite import schema as sqlite_schema
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import Store

DEFAULT_SQLITE_FILE = "queue.db"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class StoreLocationError(ValueError):
    """A store location no backend reads (e.g. `mysql://...`)."""


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """A checked store location: which backend, and the file or URL it opens."""

    backend: Literal["sqlite", "postgres"]
    target: str  # the SQLite file, or the PostgreSQL URL (with its credentials: never show it)

    @property
    def shared(self) -> bool:
        """Whether several nodes can share this queue over the network (and its rate limit)."""
        return self.backend == "postgres"

    @property
    def exists(self) -> bool:
        """Whether there may be a queue there already: a shared database always may; a SQLite file's
        folder must exist (opening a location that does not exist creates it)."""
        return self.backend == "postgres" or Path(self.target).parent.exists()

    @property
    def description(self) -> str:
        """The location as it can be shown to a user: a PostgreSQL URL without credentials, or the file."""
        return describe(self.target) if self.backend == "postgres" else self.target


def parse_location(location: str | Path | None, data_dir: str | Path = "data") -> StoreLocation:
    """Check `location` (see the module docstring); raises `StoreLocationError` for an unknown scheme."""
    if location is None:
        return StoreLocation("sqlite", str(Path(data_dir) / DEFAULT_SQLITE_FILE))
    if isinstance(location, Path):
        return StoreLocation("sqlite", str(location))
    if location.startswith(POSTGRES_SCHEMES):
        return StoreLocation("postgres", location)
    if location.startswith("sqlite:"):
        rest = location.removeprefix("sqlite:")
        # sqlite:///abs/path (three slashes: empty authority) or sqlite:relative/path
        return StoreLocation("sqlite", rest[2:] if rest.startswith("//") else rest)
    if _URL_SCHEME.match(location):
        scheme = location.split("://", 1)[0]
        raise StoreLocationError(
            f"unsupported store URL scheme {scheme!r}: expected postgresql://..., sqlite:///path or a path"
        )
    return StoreLocation("sqlite", location)


@dataclass(frozen=True, slots=True)
class Backend:
    """An open queue and what its backend offers, so that no caller has to ask which backend it is."""

    store: Store
    description: str  # where the queue is, safe to show (no credentials)
    routes_on_append: bool  # `append` stores the routes decided at ingest (see `Store`)
    schema_version: int
    # A requests-per-minute limiter of one Gleap endpoint ("identify" or "track") shared by every node of
    # this queue, or None (each process limits itself): `shared_limiter(requests_per_minute, api_token,
    # endpoint)`.
    shared_limiter: Callable[[float, str, str], PostgresRateLimiter | None]

    def close(self) -> None:
        """Close the store."""
        self.store.close()


def open_store(location: str | Path | None, *, data_dir: str | Path = "data") -> Backend:
    """Open (creating or migrating the schema if needed) the queue at `location`."""
    where = parse_location(location, data_dir)
    if where.backend == "postgres":
        url = where.target

        def shared_limiter(requests_per_minute: float, api_token: str, endpoint: str) -> PostgresRateLimiter:
            return PostgresRateLimiter(url, requests_per_minute, key=f"{project_key(api_token)}:{endpoint}")

        try:
            store = PostgresStore(url)
        except psycopg.ProgrammingError as exc:  # a malformed URL
            raise StoreLocationError(f"cannot open the store at {where.description}: {exc}") from exc
        return Backend(
            store=store,
            description=where.description,
            routes_on_append=PostgresStore.routes_on_append,
            schema_version=len(pg_migrations.MIGRATIONS),
            shared_limiter=shared_limiter,
        )
    return Backend(
        store=SQLiteStore(where.target),
        description=where.description,
        routes_on_append=SQLiteStore.routes_on_append,
        schema_version=len(sqlite_schema.MIGRATIONS),
        shared_limiter=lambda requests_per_minute, api_token, endpoint: None,
    )
