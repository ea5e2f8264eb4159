"""Initial sync's first phase: events the queue still retains, read back into the profile store.

When keys start syncing and reference event names no live key kept until now (a new definition, or the
stage's first run over a queue that already holds events, some maybe accepted by other ingest nodes), the
profile store lacks those events up to the cursor. A backfill reads the queue's events table back from the
cursor position (newest first, a chunk per round, its position stored with the chunk's writes, so a
restart resumes it) and keeps the events of its names; every event's ids are joined and its traits merged
under the ones the profile already has (read newest first, an older identify never overwrites a newer
value). Events past the queue's retention are gone: the sync covers what the queue retains.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from gleap_actions.audiences.profile import event_name
from gleap_actions.compute.active import Active
from gleap_actions.compute.evaluate import event_time
from gleap_actions.compute.metrics import ComputeObserver
from gleap_actions.compute.stream import profiled
from gleap_actions.queue.profiles import ProfileStore, ProfileTx

log = logging.getLogger(__name__)


class Backfill:
    """The backfills under way, as stored in the profile store."""

    def __init__(self, profiles: ProfileStore) -> None:
        self.profiles = profiles
        self.jobs = profiles.backfills()

    @property
    def running(self) -> bool:
        """Whether events are still being read back (syncing keys wait for it)."""
        return bool(self.jobs)

    def plan(self, active: Active, stayed: Iterable[str], position: int) -> None:
        """Start a backfill up to `position` for what the keys that did not stay live need; narrow the
        ones under way to the names still referenced."""
        stayed = set(stayed)
        wanted = set(active.horizons)
        for job, names, at in self.profiles.backfills():
            narrowed = [n for n in names if n in wanted]
            if narrowed != names:
                self.profiles.end_backfill(job)
                if narrowed or not names:
                    self.profiles.start_backfill(narrowed, at)
        jobs = self.profiles.backfills()
        kept = {n for key in stayed for n in active.computations[key].definition.history}
        kept |= {n for _, names, _ in jobs for n in names}
        fresh = [c for key, c in active.computations.items() if key not in stayed]
        needed = {n for c in fresh for n in c.definition.history} - kept
        # With no key staying live, ids and traits may be missing too (nothing kept them): read back anyway.
        if fresh and (needed or not stayed):
            self.profiles.start_backfill(sorted(needed), position)
            log.info("event=audience_backfill_started names=%s up_to=%d", sorted(needed), position)
        self.jobs = self.profiles.backfills()

    def step(
        self, active: Active, evaluable: frozenset[str], limit: int, now: float, metrics: ComputeObserver
    ) -> bool:
        """Read back one chunk of the furthest backfill; whether there was one."""
        if not self.jobs:
            return False
        job, names, position = max(self.jobs, key=lambda j: j[2])
        rows = self.profiles.read_back(position, limit)
        if not rows:
            self.profiles.end_backfill(job)
            self.jobs = self.profiles.backfills()
            log.info("event=audience_backfill_done names=%s", names)
            if not self.jobs:
                metrics.backfill_left(0)
            return True
        after = rows[-1][0] - 1
        self.profiles.run(lambda tx: _keep(tx, rows, set(names), active, evaluable, now, job, after))
        self.jobs = [(j, n, after if j == job else p) for j, n, p in self.jobs]
        left = max(0, after - self.profiles.oldest_event() + 1) if after > 0 else 0
        log.info("event=audience_backfill names=%s read_back_to=%d events_left=%d", names, after, left)
        metrics.backfill_left(left)
        return True


def _keep(
    tx: ProfileTx,
    rows: Sequence[tuple[int, bytes]],
    names: set[str],
    active: Active,
    evaluable: frozenset[str],
    now: float,
    job: str,
    after: int,
) -> None:
    for payload, event, profile, changed in profiled(tx, rows):
        if changed:
            tx.mark_due(profile, evaluable)  # a join: the live keys look at the joined profile again
        traits = event.get("traits")
        if event.get("type") == "identify" and isinstance(traits, dict):
            tx.merge_traits(profile, traits, keep=True)
        name = event_name(event)
        if name is not None and name in names:
            ts = event_time(event)
            bound = active.horizons.get(name)
            if ts is not None and (bound is None or ts > now - bound.total_seconds()):
                tx.add_event(profile, name, ts, payload.decode(), event)
    tx.backfilled(job, after)
