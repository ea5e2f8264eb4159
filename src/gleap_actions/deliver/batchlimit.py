"""A limit of one mapping's batches (events per request, or body bytes), learned from 413 answers.

Gleap documents no batch limit, but it or a proxy in front of it may refuse large batches (413). A
refused batch is split like a 400; this remembers the sizes so later batches are planned small enough at
once. It is a binary search between the largest size accepted and the smallest refused: a 413 halves the
limit, each success moves it back up halfway towards the smallest refused size, and the refused size is
forgotten step by step (doubled after every `relax_after` accepted batches without a 413), so a limit the
destination raised is found again and the batch grows back to the configured size. Probing costs at most
one refused batch (split and delivered) per `relax_after` accepted ones.
"""

from __future__ import annotations


class BatchLimit:
    """One learned batch limit of one mapping: at most `configured`, lower after 413 answers."""

    def __init__(self, configured: int, *, relax_after: int = 100) -> None:
        self.configured = configured
        self._relax_after = relax_after
        self._accepted = 0  # the largest size accepted since the last 413
        self._refused: int | None = None  # the smallest size refused (relaxed since)
        self._successes = 0  # accepted batches since the last 413 or relaxation

    @property
    def current(self) -> int:
        """The largest batch to plan now (read from the planning thread: it changes no state)."""
        refused = self._refused
        if refused is None:
            return self.configured
        # Close enough to the refused size: stay at what is known to pass instead of probing again.
        if refused - self._accepted <= refused // 16:
            return max(1, self._accepted)
        return max(1, min(self.configured, (self._accepted + refused) // 2))

    @property
    def proven(self) -> int:
        """The largest size known to be accepted (0 when none)."""
        return self._accepted

    def refused(self, size: int) -> None:
        """A batch of `size` was answered 413."""
        self._refused = size if self._refused is None else min(self._refused, size)
        self._accepted = min(self._accepted, size - 1)
        self._successes = 0

    def accepted(self, size: int) -> None:
        """A batch of `size` was accepted."""
        self._accepted = max(self._accepted, size)
        if self._refused is None:
            return
        self._successes += 1
        if size >= self._refused:
            self._refused = None  # the destination takes more than it refused before
        elif self._successes >= self._relax_after:
            self._successes = 0
            doubled = self._refused * 2
            self._refused = None if doubled > self.configured else doubled
