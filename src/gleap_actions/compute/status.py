"""What `audiences list|show` and the admin API say about each configured audience or computed trait: the
config entry, and where a profile store is at hand its state (`syncing`, `live`, `removed`), members, and
while syncing its progress."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gleap_actions.config.audiences import Computation
from gleap_actions.queue.profiles import ProfileStore


def status(computations: Sequence[Computation], profiles: ProfileStore | None) -> list[dict[str, Any]]:
    """One document per computation: name, key, kind, enabled, definition, what it reads, history needed,
    and with a store: state, computation id, members (profiles with a delivered value other than
    false/null), and while syncing `sync`: events of the queue still to read back (`backfill_events_left`,
    all syncing keys wait for every backfill) and profiles still to mark (`profiles_left`)."""
    stored = profiles.computations() if profiles is not None else {}
    members = profiles.members() if profiles is not None else {}
    backfill_left = _backfill_left(profiles) if profiles is not None else 0
    documents = []
    for computation in computations:
        definition = computation.definition
        window = definition.window
        document: dict[str, Any] = {
            "name": computation.name,
            "key": computation.key,
            "kind": computation.kind,
            "enabled": computation.enabled,
            "include_anonymous_users": definition.include_anonymous_users,
            "definition": definition.text,
            "events": sorted(definition.references.events),
            "traits": sorted(definition.references.traits),
            "history_seconds": None if window is None else window.total_seconds(),
        }
        if profiles is not None:
            row = stored.get(computation.key)
            document["state"] = row.state if row is not None else "not started"
            document["computation_id"] = row.computation_id if row is not None else None
            document["members"] = members.get(computation.key, 0)
            if row is not None and row.state == "syncing" and profiles is not None:
                document["sync"] = {
                    "backfill_events_left": backfill_left,
                    "profiles_left": profiles.profiles_after(row.sync_after),
                }
        documents.append(document)
    return documents


def _backfill_left(profiles: ProfileStore) -> int:
    """Events the backfills under way have still to read back (about: ids down to the oldest kept)."""
    jobs = profiles.backfills()
    if not jobs:
        return 0
    oldest = profiles.oldest_event()
    return max(0, max(position for _, _, position in jobs) - oldest + 1) if oldest else 0


def sync_states(profiles: ProfileStore) -> dict[str, str]:
    """Each remembered key's state as the console shows it, a syncing one with its progress."""
    rows = profiles.computations()
    if not any(row.state == "syncing" for row in rows.values()):
        return {key: row.state for key, row in rows.items()}
    backfill_left = _backfill_left(profiles)
    states = {}
    for key, row in rows.items():
        if row.state != "syncing":
            states[key] = row.state
        elif backfill_left:
            states[key] = f"syncing: reading back the queue's events, about {backfill_left} left"
        else:
            states[key] = f"syncing: {profiles.profiles_after(row.sync_after)} profiles left to evaluate"
    return states
