"""What `audiences list|show` and the admin API say about each configured audience or computed trait: the
config entry, and where a profile store is at hand its state (`syncing`, `live`, `removed`) and members."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gleap_actions.config.audiences import Computation
from gleap_actions.queue.profiles import ProfileStore


def status(computations: Sequence[Computation], profiles: ProfileStore | None) -> list[dict[str, Any]]:
    """One document per computation: name, key, kind, enabled, definition, what it reads, history needed,
    and with a store: state, computation id, members (profiles with a delivered value other than
    false/null)."""
    stored = profiles.computations() if profiles is not None else {}
    members = profiles.members() if profiles is not None else {}
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
        documents.append(document)
    return documents
