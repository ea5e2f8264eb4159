"""A requests-per-minute limiter for one Gleap endpoint of one project (Gleap allows 1000/min each).

A token bucket refilled continuously at the current rate, holding at most `burst` tokens (one second's
worth by default, so no 60 s window ever sees much more than the limit). `acquire` reserves a token at
once and sleeps until it is due, which serves waiters in arrival order without a lock.

The current rate adapts to Gleap's answers (`Aimd`): a 429 halves it and holds everyone for its
`Retry-After` (`throttled`), so one rate-limit answer does not become a storm of them; it then climbs
back linearly to the configured rate. `pause` only holds everyone (a `Retry-After` on another status).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

RECOVERY = 60.0  # seconds to climb from zero back to the configured rate after a 429
MIN_FACTOR = 1 / 32  # the rate never drops below this share of the configured rate
COOLDOWN = 1.0  # 429s within this many seconds of a decrease answer requests sent before it


class Limiter(Protocol):
    """What senders need from a rate limiter: this in-process one, or one shared by nodes."""

    @property
    def unlimited(self) -> bool:
        """True when no limit applies."""
        ...

    @property
    def requests_per_minute(self) -> float:
        """The rate in force now (lower than configured after a 429); 0 when unlimited."""
        ...

    def pause(self, seconds: float) -> None:
        """Let nobody through for `seconds`."""
        ...

    def throttled(self, retry_after: float | None) -> None:
        """Gleap answered 429: slow down, and let nobody through for `retry_after` seconds if given."""
        ...

    async def acquire(self) -> None:
        """Wait until one request may be sent."""
        ...

    def close(self) -> None:
        """Release what the limiter holds (connections)."""
        ...


class Aimd:
    """The share of the configured rate in force: halved by a 429 (at most once per `COOLDOWN`), then
    growing linearly back to 1 over `recovery` seconds (additive increase, multiplicative decrease)."""

    def __init__(self, *, recovery: float = RECOVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self._recovery = recovery
        self._clock = clock
        self._factor = 1.0  # the share right after the last decrease
        self._since = float("-inf")  # when it was decreased

    def factor(self) -> float:
        """The share of the configured rate in force now."""
        return min(1.0, self._factor + (self._clock() - self._since) / self._recovery)

    def decrease(self) -> None:
        """A 429: halve the share, unless it was just halved (answers to requests already in flight)."""
        now = self._clock()
        if now - self._since < COOLDOWN:
            return
        self._factor = max(MIN_FACTOR, self.factor() / 2)
        self._since = now


class RateLimiter:
    """Token bucket with async acquire and an adaptive rate. `requests_per_minute <= 0` means unlimited."""

    def __init__(
        self,
        requests_per_minute: float,
        *,
        burst: float | None = None,
        recovery: float = RECOVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._rate = requests_per_minute / 60.0 if requests_per_minute > 0 else 0.0
        self._capacity = max(1.0, burst if burst is not None else self._rate)
        self._tokens = self._capacity
        self._updated = clock()
        self._blocked_until = float("-inf")
        self._aimd = Aimd(recovery=recovery, clock=clock)

    @property
    def unlimited(self) -> bool:
        """True when no limit applies."""
        return self._rate == 0.0

    @property
    def requests_per_minute(self) -> float:
        """The rate in force now; 0 when unlimited."""
        return self._rate * self._aimd.factor() * 60.0

    def pause(self, seconds: float) -> None:
        """Let nobody through for `seconds`, e.g. a Retry-After."""
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def throttled(self, retry_after: float | None) -> None:
        """A 429: halve the rate (it climbs back over `recovery` seconds) and honour `retry_after`."""
        if retry_after:
            self.pause(retry_after)
        if not self.unlimited:
            self._refill()  # tokens earned so far were earned at the old rate
            self._aimd.decrease()

    def _refill(self) -> None:
        now = self._clock()
        rate = self._rate * self._aimd.factor()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * rate)
        self._updated = now

    def _delay(self) -> float:
        """Reserve one token; return how long to wait before using it."""
        wait_block = max(0.0, self._blocked_until - self._clock())
        if self.unlimited:
            return wait_block
        self._refill()
        self._tokens -= 1.0
        wait_tokens = -self._tokens / (self._rate * self._aimd.factor()) if self._tokens < 0 else 0.0
        return max(wait_tokens, wait_block)

    async def acquire(self) -> None:
        """Wait until one request may be sent. A cancelled wait gives its token back."""
        delay = self._delay()
        if delay <= 0:
            return
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            if not self.unlimited:
                self._tokens += 1.0
            raise
        # A block set while we slept (a 429 elsewhere) holds us too.
        remaining = self._blocked_until - self._clock()
        if remaining > 0:
            await asyncio.sleep(remaining)

    def close(self) -> None:
        """Nothing to release."""
