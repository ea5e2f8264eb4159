"""The retry policy: when a failed delivery is tried again, and when it is given up (dead-lettered).

Exponential backoff with full jitter (AWS's "full jitter": a uniform draw up to the exponential cap, here
never below `initial_backoff`), a `Retry-After` from the destination honoured as a floor (never retry
sooner), and a retry window measured from the first attempt (Segment's 4 hours by default) after which a
still-failing delivery is dead-lettered with its last error.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff and give-up rules. Times are Unix seconds, durations seconds."""

    initial_backoff: float = 1.0
    max_backoff: float = 300.0
    window: float = 14400.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, attempts: int) -> float:
        """A jittered delay after the `attempts`-th failed attempt (1-based): uniform between
        `initial_backoff` and min(`max_backoff`, `initial_backoff` * 2**attempts)."""
        cap = min(self.max_backoff, self.initial_backoff * 2.0 ** min(attempts, 62))
        low = min(self.initial_backoff, cap)
        return self.rng.uniform(low, cap)

    def next_attempt(
        self, *, attempts: int, first_attempt_at: float | None, now: float, retry_after: float | None = None
    ) -> float | None:
        """When to try again after the `attempts`-th failed attempt, or None when the retry window
        (counted from `first_attempt_at`, or from `now` for a first failure) is over: dead-letter.

        The next attempt is clamped to the end of the window so a delivery always gets a last try
        there, unless `Retry-After` asks for later: the destination's word wins.
        """
        first = now if first_attempt_at is None else first_attempt_at
        deadline = first + self.window
        if now >= deadline:
            return None
        at = min(now + self.backoff(attempts), deadline)
        if retry_after is not None and retry_after > 0:
            at = max(at, now + retry_after)
        return at
