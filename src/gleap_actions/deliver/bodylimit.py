"""The batch body limit a destination accepts, learned from its 413 answers.

Gleap documents no body limit, but a proxy in front of it may refuse large bodies (413). A refused batch
is split like a 400; this remembers the sizes so later batches are planned small enough at once. It is a
binary search between the largest body accepted and the smallest refused: a 413 halves the limit, each
success moves it back up halfway towards the smallest refused size, and the refused size is forgotten
step by step (doubled every `relax_after` seconds without a 413), so a limit the destination raised is
found again.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class BodyLimit:
    """The effective `batch_bytes` of one mapping: at most `configured`, lower after 413 answers."""

    def __init__(
        self, configured: int, *, relax_after: float = 600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.configured = configured
        self._relax_after = relax_after
        self._clock = clock
        self._accepted = 0  # the largest body accepted since the last 413
        self._refused: int | None = None  # the smallest body refused
        self._refused_at = 0.0

    @property
    def current(self) -> int:
        """The largest batch body to plan now (read from the planning thread: it changes no state)."""
        refused = self._bound()
        if refused is None:
            return self.configured
        # Close enough to the refused size: stay at what is known to pass instead of probing again.
        if refused - self._accepted <= refused // 16:
            return max(1, self._accepted)
        return max(1, min(self.configured, (self._accepted + refused) // 2))

    def refused(self, size: int) -> None:
        """A body of `size` bytes was answered 413."""
        bound = self._bound()
        self._refused = size if bound is None else min(bound, size)
        self._accepted = min(self._accepted, size - 1)
        self._refused_at = self._clock()

    def accepted(self, size: int) -> None:
        """A body of `size` bytes was accepted."""
        self._accepted = max(self._accepted, size)
        bound = self._bound()
        if bound is not None and size >= bound:
            self._refused = None  # the destination takes more than it refused before

    def _bound(self) -> int | None:
        """The smallest refused size, doubled for every `relax_after` since; None when there is none or
        it has grown past the configured limit."""
        if self._refused is None:
            return None
        steps = int((self._clock() - self._refused_at) // self._relax_after)
        bound = self._refused << min(steps, 64)
        return None if steps and bound > self.configured else bound
