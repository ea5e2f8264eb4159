"""Retention scanning shared by the stores: which events of a chunk may be deleted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def retention_candidates(
    rows: Sequence[Sequence[Any]], *, cursor: int, chunk: int, budget: int, older_than: float
) -> tuple[list[int], int, bool]:
    """From `(id, received_at, routed)` rows in id order (a chunk of at most `chunk` rows after `cursor`):
    the routed events received before `older_than`, at most `budget` of them; the last id looked at; and
    whether the scan is finished (it reached events too recent, or the end)."""
    candidates: list[int] = []
    last = cursor
    finished = len(rows) < chunk
    for event_id, received_at, routed in rows:
        if received_at >= older_than or len(candidates) >= budget:
            finished = received_at >= older_than
            break
        last = event_id
        if routed:
            candidates.append(event_id)
    return candidates, last, finished
