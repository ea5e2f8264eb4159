"""A requests-per-minute limiter shared by every sender of the process (Gleap allows 1000/min).

A token bucket refilled continuously at `requests_per_minute / 60` tokens per second, holding at most
`burst` tokens (one second's worth by default, so no 60 s window ever sees much more than the limit).
`acquire` reserves a token at once and sleeps until it is due, which serves waiters in arrival order
without a lock. `pause` stops everyone for the time the destination asked for (`Retry-After` on a
429), so one rate-limit answer does not become a storm of them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol


class Limiter(Protocol):
    """What senders need from a rate limiter: this in-process one, or one shared by nodes."""

    @property
    def unlimited(self) -> bool:
        """True when no limit applies."""
        ...

    def pause(self, seconds: float) -> None:
        """Let nobody through for `seconds`."""
        ...

    async def acquire(self) -> None:
        """Wait until one request may be sent."""
        ...

    def close(self) -> None:
        """Release what the limiter holds (connections)."""
        ...


class RateLimiter:
    """Token bucket with async acquire. `requests_per_minute <= 0` means unlimited."""

    def __init__(
        self,
        requests_per_minute: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._rate = requests_per_minute / 60.0 if requests_per_minute > 0 else 0.0
        self._capacity = max(1.0, burst if burst is not None else self._rate)
        self._tokens = self._capacity
        self._updated = clock()
        self._blocked_until = float("-inf")

    @property
    def unlimited(self) -> bool:
        """True when no limit applies."""
        return self._rate == 0.0

    def pause(self, seconds: float) -> None:
        """Let nobody through for `seconds`, e.g. a 429's Retry-After."""
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def _delay(self) -> float:
        """Reserve one token; return how long to wait before using it."""
        now = self._clock()
        wait_block = max(0.0, self._blocked_until - now)
        if self.unlimited:
            return wait_block
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        self._tokens -= 1.0
        wait_tokens = -self._tokens / self._rate if self._tokens < 0 else 0.0
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
