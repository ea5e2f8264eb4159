"""Discarding on purpose the deliveries no configured mapping delivers (a destination or mapping removed).

They are kept, and reported, until someone decides: this moves them to the dead letters (reason
`unconfigured`), from where `dlq replay` brings them back (once their mapping is configured again) and
`dlq purge` deletes them. Only the store's own claim and dead-letter calls are used, so it works the same
on SQLite and PostgreSQL, with or without a running service.
"""

from __future__ import annotations

import time

from gleap_actions.queue.store import DEFAULT_LEASE, Store

REASON = "unconfigured"
_NOTE = "discarded: no configured destination or mapping delivers it"
_FAR = 1e9  # seconds ahead: retries scheduled later are claimed too


def unconfigured(store: Store, configured: frozenset[str]) -> dict[str, int]:
    """Delivery keys with waiting deliveries that are not in `configured`, with their counts."""
    waiting = store.due_mappings(time.time() + _FAR)
    return {key: count for key, count in sorted(waiting.items()) if key not in configured}


def discard(store: Store, key: str, *, owner: str, lease: float = DEFAULT_LEASE, limit: int = 5000) -> int:
    """Move every waiting delivery of `key` to the dead letters. Returns how many."""
    moved = 0
    while claimed := store.claim_deliveries(owner, key, limit, lease, time.time() + _FAR):
        ids = [d.id for d in claimed]
        store.dead_letter(ids, reason=REASON, status=None, request="", response=_NOTE)
        moved += len(ids)
    return moved
