"""A requests-per-minute limiter shared by every node, in PostgreSQL (Gleap's limits are per project
and endpoint).

The same token bucket as `deliver.ratelimit.RateLimiter` and the same interface (`acquire`, `pause`,
`throttled`, `unlimited`), but the bucket is one row of `rate_limits`, keyed by the destination project
and the Gleap endpoint, updated atomically by one upsert per request on the database clock. Each
`acquire` reserves a token in that row (the count may go below zero: the reservation is a place in the
queue) and sleeps until it is due, so all nodes together stay under the limit and are served in the
order they asked.

The adaptive rate lives in the row too (`factor`, `factor_at`: the share of the configured rate after the
last 429 and when; it climbs back linearly over `RECOVERY` seconds), so a 429 seen by one node slows
every node. `pause` and `throttled` hold back this process at once and every other node from their next
`acquire`. An unlimited limiter never touches the database and only pauses this process.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg

from gleap_actions.deliver.ratelimit import COOLDOWN, MIN_FACTOR, RECOVERY
from gleap_actions.queue.postgres.migrations import migrate
from gleap_actions.queue.postgres.pool import Connection, ConnectionPool
from gleap_actions.queue.postgres.store import describe
from gleap_actions.queue.store import StoreFullError

T = TypeVar("T")

log = logging.getLogger(__name__)

_DB_NOW = "extract(epoch FROM clock_timestamp())::float8"

# The share of the configured rate in force at time `at` (see `deliver.ratelimit.Aimd`).
_FACTOR = "least(1, r.factor + greatest(0, {at} - r.factor_at) / %(recovery)s)"
# Take one token (creating a full bucket on first use); returns the tokens left, the pause remaining and
# the share of the rate in force.
_RESERVE = (
    "INSERT INTO rate_limits AS r (key, tokens, updated_at)"
    f" SELECT %(key)s, %(capacity)s - 1, {_DB_NOW}"
    " ON CONFLICT (key) DO UPDATE SET"
    " tokens = least(%(capacity)s, r.tokens + greatest(0, excluded.updated_at - r.updated_at) * %(rate)s * "
    + _FACTOR.format(at="excluded.updated_at")
    + ") - 1, updated_at = greatest(r.updated_at, excluded.updated_at)"
    " RETURNING r.tokens, r.blocked_until - r.updated_at, " + _FACTOR.format(at="r.updated_at")
)
# A 429: halve the share in force (unless a node just did), and hold everyone for the Retry-After.
_THROTTLE = (
    "INSERT INTO rate_limits AS r (key, tokens, updated_at, blocked_until, factor, factor_at)"
    f" SELECT %(key)s, 0, {_DB_NOW}, {_DB_NOW} + %(seconds)s, 0.5, {_DB_NOW}"
    " ON CONFLICT (key) DO UPDATE SET"
    " blocked_until = greatest(r.blocked_until, excluded.blocked_until),"
    " factor = CASE WHEN excluded.factor_at - r.factor_at < %(cooldown)s THEN r.factor"
    " ELSE greatest(%(min_factor)s, " + _FACTOR.format(at="excluded.factor_at") + " / 2) END,"
    " factor_at = CASE WHEN excluded.factor_at - r.factor_at < %(cooldown)s THEN r.factor_at"
    " ELSE excluded.factor_at END"
)
_GIVE_BACK = "UPDATE rate_limits SET tokens = least(%(capacity)s, tokens + 1) WHERE key = %(key)s"
_PAUSE = (
    "INSERT INTO rate_limits AS r (key, tokens, updated_at, blocked_until)"
    f" SELECT %(key)s, %(capacity)s, {_DB_NOW}, {_DB_NOW} + %(seconds)s"
    " ON CONFLICT (key) DO UPDATE SET blocked_until = greatest(r.blocked_until, excluded.blocked_until)"
)
_BLOCKED = f"SELECT blocked_until - {_DB_NOW} FROM rate_limits WHERE key = %(key)s"


def project_key(api_token: str) -> str:
    """The bucket key of the Gleap project an API token belongs to: a digest, so the token itself is
    never written to the database (nodes configured with the same token share the bucket)."""
    return "gleap:" + hashlib.sha256(api_token.encode()).hexdigest()[:24]


class PostgresRateLimiter:
    """Token bucket shared through PostgreSQL, with async acquire. `requests_per_minute <= 0` means
    unlimited. `key` names the limited project: `project_key(api_token)`, never the token itself."""

    def __init__(
        self,
        url: str,
        requests_per_minute: float,
        *,
        key: str,
        burst: float | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        self._rate = requests_per_minute / 60.0 if requests_per_minute > 0 else 0.0
        self._capacity = max(1.0, burst if burst is not None else self._rate)
        self._key = key
        self._factor = 1.0  # the share of the rate in force at the last reservation
        self._blocked_until = float("-inf")  # this process's own pause, on the monotonic clock
        self._background: set[asyncio.Future[object]] = set()
        self._location = describe(url)
        self._pool = ConnectionPool(url, size=2, connect_timeout=connect_timeout)
        if not self.unlimited:
            self._run(migrate)  # the table comes with the store's schema; make sure it is there

    @property
    def unlimited(self) -> bool:
        """True when no limit applies."""
        return self._rate == 0.0

    @property
    def requests_per_minute(self) -> float:
        """The rate in force at the last reservation; 0 when unlimited."""
        return self._rate * self._factor * 60.0

    def _params(self, **extra: float) -> dict[str, object]:
        return {
            "key": self._key,
            "capacity": self._capacity,
            "rate": self._rate,
            "recovery": RECOVERY,
            "cooldown": COOLDOWN,
            "min_factor": MIN_FACTOR,
            **extra,
        }

    def _run(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` on a pooled connection; database unavailability is a StoreFullError."""
        try:
            with self._pool.connection() as conn:
                return fn(conn)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StoreFullError(f"the rate limiter cannot reach {self._location}: {exc}") from exc

    def _reserve(self) -> float:
        """Reserve one token; return how long to wait before using it."""
        row = self._run(lambda conn: conn.execute(_RESERVE, self._params()).fetchone())
        tokens, blocked, self._factor = (
            (float(row[0]), float(row[1]), float(row[2])) if row else (0.0, 0.0, 1.0)
        )
        wait_tokens = -tokens / (self._rate * self._factor) if tokens < 0 else 0.0
        return max(wait_tokens, blocked, self._local_block())

    def _shared_block(self) -> float:
        row = self._run(lambda conn: conn.execute(_BLOCKED, self._params()).fetchone())
        return float(row[0]) if row else 0.0

    def _local_block(self) -> float:
        return max(0.0, self._blocked_until - time.monotonic())

    def pause(self, seconds: float) -> None:
        """Let nobody through for `seconds` (e.g. a 429's Retry-After): this process at once, the other
        nodes from their next acquire."""
        self._blocked_until = max(self._blocked_until, time.monotonic() + seconds)
        if not self.unlimited:
            self._in_background(lambda: self._run(lambda c: c.execute(_PAUSE, self._params(seconds=seconds))))

    def throttled(self, retry_after: float | None) -> None:
        """A 429: halve the rate of every node (it climbs back over `RECOVERY` seconds) and honour
        `retry_after`: this process at once, the other nodes from their next acquire."""
        seconds = retry_after or 0.0
        self._blocked_until = max(self._blocked_until, time.monotonic() + seconds)
        if not self.unlimited:
            self._in_background(
                lambda: self._run(lambda c: c.execute(_THROTTLE, self._params(seconds=seconds)))
            )

    def _in_background(self, fn: Callable[[], object]) -> None:
        """Run a database write without blocking the caller (in a thread, or inline without a loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            fn()
            return
        future = loop.run_in_executor(None, fn)
        self._background.add(future)
        future.add_done_callback(self._finished)

    def _finished(self, future: asyncio.Future[object]) -> None:
        self._background.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.warning("event=rate_limit_write_failed error=%s", future.exception())

    async def acquire(self) -> None:
        """Wait until one request may be sent. A cancelled wait gives its token back."""
        if self.unlimited:
            delay = self._local_block()
        else:
            delay = await asyncio.to_thread(self._reserve)
        if delay <= 0:
            return
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            if not self.unlimited:
                self._in_background(lambda: self._run(lambda c: c.execute(_GIVE_BACK, self._params())))
            raise
        # A pause set while we slept (a 429 here or on another node) holds us too.
        remaining = self._local_block()
        if not self.unlimited:
            remaining = max(remaining, await asyncio.to_thread(self._shared_block))
        if remaining > 0:
            await asyncio.sleep(remaining)

    def close(self) -> None:
        """Release the database connections."""
        self._pool.close()
