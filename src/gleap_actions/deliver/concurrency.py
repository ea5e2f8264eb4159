"""Adaptive request concurrency (AIMD), after Vector's ARC.

The limit on requests in flight starts at 1 and grows by one (additive increase) after a full limit's
worth of successful responses whose latency stayed near its moving baseline, provided the limit was
actually reached (idle capacity proves nothing). It halves (multiplicative decrease) on back pressure:
a 429, a 503, a timeout or network error, or a latency above the baseline by more than
`rtt_deviation_scale` mean deviations (plus a small slack). At most one decrease per round trip:
responses to requests sent before the last decrease count neither way. The limit stays between 1 and
`max_limit`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class Permit:
    """One request in flight; give it back with `AdaptiveConcurrency.release`."""

    started: float


class AdaptiveConcurrency:
    """An asyncio semaphore whose size adapts to the destination's latency and back pressure."""

    def __init__(
        self,
        max_limit: int,
        *,
        initial_limit: int = 1,
        ewma_alpha: float = 0.4,
        rtt_deviation_scale: float = 2.5,
        min_slack: float = 0.002,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_limit < 1:
            raise ValueError("max_limit must be at least 1")
        self.max_limit = max_limit
        self._limit = max(1, min(initial_limit, max_limit))
        self._alpha = ewma_alpha
        self._scale = rtt_deviation_scale
        self._min_slack = min_slack
        self._clock = clock
        self._in_flight = 0
        self._cond = asyncio.Condition()
        self._baseline: float | None = None  # EWMA of round-trip time
        self._deviation = 0.0  # EWMA of |rtt - baseline|
        self._successes = 0  # good responses since the last change
        self._reached = False  # the limit was hit since the last change
        self._last_decrease = float("-inf")

    @property
    def limit(self) -> int:
        """The current limit on requests in flight."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Requests currently holding a permit."""
        return self._in_flight

    @property
    def baseline(self) -> float | None:
        """The moving latency baseline in seconds (None before the first response)."""
        return self._baseline

    async def acquire(self) -> Permit:
        """Wait for room under the limit and take it."""
        async with self._cond:
            await self._cond.wait_for(lambda: self._in_flight < self._limit)
            self._in_flight += 1
            if self._in_flight >= self._limit:
                self._reached = True
        return Permit(self._clock())

    async def release(self, permit: Permit, *, overloaded: bool = False, measured: bool = True) -> None:
        """Give a permit back and learn from its response.

        `overloaded`: the destination pushed back (429, 503, timeout, network error).
        `measured`: False when the response says nothing about load (e.g. a 400), so only the slot is
        returned.
        """
        rtt = self._clock() - permit.started
        async with self._cond:
            self._in_flight -= 1
            if measured:
                self._learn(permit, rtt, overloaded)
            self._cond.notify_all()

    def _learn(self, permit: Permit, rtt: float, overloaded: bool) -> None:
        baseline = self._baseline
        # Slack so that scheduling noise on a fast link (a millisecond or two) is not read as load.
        slow = baseline is not None and rtt > baseline + self._scale * self._deviation + max(
            0.1 * baseline, self._min_slack
        )
        stale = permit.started < self._last_decrease  # sent before the last decrease: already acted on
        if overloaded or slow:
            if not stale:
                self._limit = max(1, self._limit // 2)
                self._last_decrease = self._clock()
                self._successes = 0
                self._reached = self._in_flight >= self._limit
        elif not stale:
            self._successes += 1
            if self._successes >= self._limit and self._reached and self._limit < self.max_limit:
                self._limit += 1
                self._successes = 0
                self._reached = False
        if overloaded:
            return  # a timeout's duration is not a latency sample
        if baseline is None:
            self._baseline = rtt
        else:
            self._deviation += self._alpha * (abs(rtt - baseline) - self._deviation)
            self._baseline = baseline + self._alpha * (rtt - baseline)
