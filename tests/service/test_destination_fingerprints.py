"""With several destinations the queue records each one's Gleap fingerprint: a destination whose token
changed with work pending is refused (or its work delivered or discarded on purpose) without holding
back the others."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gleap_actions.config.load import Config, load_config
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent, Route
from gleap_actions.service.destination import OtherDestinationError, claim_queues

CONFIG = """
destinations:
  - {name: prod, gleap: {api_token: "${PROD}"}, mappings: [{name: T, action: trackEvent}]}
  - {name: eu, gleap: {api_token: "${EU}"}, mappings: [{name: T, action: trackEvent}]}
"""


def config(tmp_path: Path, prod: str, eu: str) -> Config:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    return load_config(path, env={"PROD": prod, "EU": eu})


def queue_one(store: SQLiteStore, key: str, n: int) -> None:
    event = NewEvent("s", f"m{n}", "u", "track", time.time(), b"{}", Route((key,)))
    store.append([event])


def test_a_changed_destination_with_pending_work_is_refused_or_discarded_alone(
    store: SQLiteStore, tmp_path: Path
) -> None:
    first = config(tmp_path, "prod-token-1", "eu-token-1")
    assert claim_queues(store, first.destinations, "refuse", "here") == 0
    queue_one(store, "prod/T", 1)
    queue_one(store, "eu/T", 2)
    # The same settings: nothing to decide.
    assert claim_queues(store, first.destinations, "refuse", "here") == 0
    rotated = config(tmp_path, "prod-token-1", "eu-token-2")
    with pytest.raises(OtherDestinationError) as refused:
        claim_queues(store, rotated.destinations, "refuse", "here")
    assert "destination 'eu'" in str(refused.value) and "token-2" not in str(refused.value)
    # Discarded on purpose: only eu's pending work, into the dead letters; prod's still waits.
    assert claim_queues(store, rotated.destinations, "discard", "here") == 1
    assert store.due_mappings(time.time()) == {"prod/T": 1}
    assert [d.mapping for d in store.list_dead_letters()] == ["eu/T"]
    # Recorded now: a later start with the rotated settings goes ahead.
    assert claim_queues(store, rotated.destinations, "refuse", "here") == 0
