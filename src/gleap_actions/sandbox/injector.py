"""The run-time side of fault injection: per-request decisions from the current `Faults`.

Times are `time.monotonic()` seconds passed in by the caller, so decisions are cheap and testable.
"""

from __future__ import annotations

import math
import random
from collections import deque

from gleap_actions.sandbox.faults import Faults, OutageMode


class FaultInjector:
    """Decides, request by request, which fault (if any) applies."""

    def __init__(self, faults: Faults, now: float) -> None:
        self._windows: dict[str, deque[float]] = {}
        self.configure(faults, now)

    @property
    def faults(self) -> Faults:
        """The faults in force."""
        return self._faults

    def configure(self, faults: Faults, now: float) -> None:
        """Put new faults in force. An outage window starts counting now; rate-limit history is kept
        so tightening the limit at run time takes effect at once."""
        self._faults = faults
        self._random = random.Random(faults.seed)
        outage = faults.outage
        if outage is None:
            self.outage_window: tuple[float, float] | None = None
        else:
            start = now + outage.start_in
            self.outage_window = (start, start + outage.duration)

    def outage(self, now: float) -> OutageMode | None:
        """The outage mode in force at `now`, or None."""
        window = self.outage_window
        if window is None or not window[0] <= now < window[1]:
            return None
        assert self._faults.outage is not None
        return self._faults.outage.mode

    def hold(self) -> bool:
        """Whether this request is to be held without an answer (a timeout)."""
        rate = self._faults.timeout_rate
        return rate > 0 and self._random.random() < rate

    def retry_after(self, endpoint: str, now: float) -> int | None:
        """None if the request fits the endpoint's sliding rate-limit window (and counts it), else the
        whole seconds until it would fit."""
        limit = self._faults.rate_limit_of(endpoint)
        if limit is None:
            return None
        window = self._faults.rate_limit_window
        times = self._windows.setdefault(endpoint, deque())
        while times and times[0] <= now - window:
            times.popleft()
        if len(times) >= limit:
            return max(1, math.ceil(times[-limit] + window - now))
        times.append(now)
        return None

    def error_status(self) -> int | None:
        """The status of an injected error for this request, or None."""
        rate = self._faults.error_rate
        if rate > 0 and self._random.random() < rate:
            return self._faults.error_status
        return None

    def body_too_large(self, size: int) -> bool:
        """Whether a body of `size` bytes exceeds the configured maximum."""
        limit = self._faults.max_body_bytes
        return limit is not None and size > limit

    def batch_too_large(self, count: int) -> bool:
        """Whether a track request with `count` events exceeds the configured maximum batch."""
        limit = self._faults.max_batch
        return limit is not None and count > limit
