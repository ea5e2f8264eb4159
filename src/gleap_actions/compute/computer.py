"""`Computer`: the stage that keeps audiences and computed traits up to date and delivers their changes.

Fed from the queue like the router, off the ingest path: it reads the events table after its cursor (one
process at a time, under a lease in the store), keeps in the profile store the identities, traits and the
events the enabled definitions reference, and marks each profile an event touched as due now (one
`TOUCHED` row; which keys the event can change is kept in memory, and a mark found without them, after a
restart, has every key evaluated). Every round it evaluates the due pairs (`profile_values.next_at <= now`,
an index range: a round costs what is due, never all profiles), appends an Engage-shaped identify to the
queue for each delivered value that changed, then records the values and each pair's next possible change
(only the rows that differ). The identify calls are stored before the values: a crash between the two
sends a change twice, never loses one.

A key enabled for the first time (or again, or with a changed definition) is synced in two phases, each
a chunk per round with its position kept in the store, so a restart resumes where it stopped:
1. backfill (`backfill.py`): the events still retained in the queue up to the cursor are read back, newest
   first, for the event names no live key kept until now; identities and traits come along (older traits
   never overwrite newer ones). This also covers events accepted before the stage first ran.
2. its profiles are marked due. Until both are done the key is neither marked nor evaluated by events, so
   it never sends values computed from half its history.
A key no longer enabled is either kept (`on_removal: keep`, Segment's behaviour: Gleap keeps the last
values) or unset (`on_removal: unset`: false for audience members, null for traits with a value) a chunk
at a time. `reconfigure` swaps the definitions between two rounds (a config reload).

The stage is the only writer of the profile store while it holds the lease, so it keeps hot profiles
parsed in memory (`ProfileStore.keep_in_memory`) and counts members by the changes it records (recounted
from the store when its cache was emptied and every `RECOUNT` seconds).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Literal

from gleap_actions.audiences.profile import event_name
from gleap_actions.compute.active import Active
from gleap_actions.compute.backfill import Backfill
from gleap_actions.compute.evaluate import Outcome, default, evaluate, event_time
from gleap_actions.compute.identify import SOURCE, engage_identify
from gleap_actions.compute.metrics import ComputeObserver, Silent
from gleap_actions.compute.stream import profiled
from gleap_actions.config.audiences import Computation
from gleap_actions.queue.profiles import (
    TOUCHED,
    ProfileStore,
    ProfileTx,
    StoredComputation,
    StoredProfile,
)
from gleap_actions.queue.store import DEFAULT_LEASE, NewEvent, Store, StoreFullError

log = logging.getLogger(__name__)

OnRemoval = Literal["keep", "unset"]
_PREFIXES = {"audience": "aud_", "computed_trait": "tra_"}
RECOUNT = 600.0  # seconds between two member counts from the store (changes are counted in between)
CACHE_PROFILES = 20_000  # profiles kept parsed in memory


class Computer:
    """One `step` is one round; `round` is a step that logs its failure. compute/process.py runs rounds
    every `interval` seconds (at once after a busy one) in a child process of the service."""

    def __init__(
        self,
        store: Store,
        computations: Sequence[Computation],
        *,
        owner: str,
        on_removal: OnRemoval = "keep",
        metrics: ComputeObserver | None = None,
        clock: Callable[[], float] = time.time,
        interval: float = 0.2,
        batch: int = 1000,
        lease: float = DEFAULT_LEASE,
        cache_profiles: int = CACHE_PROFILES,
    ) -> None:
        self.store = store
        self.profiles: ProfileStore = store.profiles
        self.profiles.keep_in_memory(cache_profiles)
        self.configured = tuple(computations)
        self.owner = owner
        self.on_removal: OnRemoval = on_removal
        self.metrics: ComputeObserver = metrics or Silent()
        self.clock = clock
        self.interval = interval
        self.batch = batch
        self.lease = lease
        self.active = Active.of(())
        self.backfill = Backfill(self.profiles)
        self.evaluable: frozenset[str] = frozenset()  # keys events mark due (not those still backfilling)
        self.members: dict[str, int] = {}
        self._counted_at = -RECOUNT
        self._cache_epoch = -1
        self._prepared = False
        self._pending: tuple[tuple[Computation, ...], OnRemoval] | None = None
        self._lock = threading.Lock()
        self._pruned_at = 0.0
        self._observed_at = 0.0
        # Profile -> the keys events made due since its last evaluation (the store holds a TOUCHED mark).
        self._touched: dict[int, set[str]] = {}

    # -- lifecycle ---------------------------------------------------------------------------------

    def reconfigure(self, computations: Sequence[Computation], on_removal: OnRemoval) -> None:
        """Use these definitions from the next round on (thread-safe): new ones are synced, removed ones
        kept or unset as `on_removal` says."""
        with self._lock:
            self._pending = (tuple(computations), on_removal)

    def round(self) -> bool:
        """`step`, logging a failure instead of raising it (what was cached may be wrong then: forgotten)."""
        try:
            return self.step()
        except StoreFullError as exc:
            log.warning("event=audiences_paused reason=%s", exc)
        except Exception:
            log.exception("event=audiences_round_failed")
            if self.profiles.cache is not None:
                self.profiles.cache.clear()
        return False

    # -- one round ---------------------------------------------------------------------------------

    def step(self) -> bool:
        """One round: read new events, backfill, sync, unset, evaluate what is due. Whether there was
        work."""
        # A round allocates many short-lived objects (parsed events, results) that reference counting
        # frees; the cyclic collector would scan them (and the cache) again and again: about a fifth of a
        # round's CPU time. It runs once after the round instead.
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self._step()
        finally:
            if enabled:
                gc.enable()

    def _step(self) -> bool:
        now = self.clock()
        position = self.profiles.lease(self.owner, self.lease, now)
        if position is None:
            return False
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            self.configured, self.on_removal = pending
            self._prepared = False
        if not self._prepared:
            self._prepare(position)
        self._recount(now)
        busy = False
        rows = self.profiles.read_events(position, self.batch, now) if self.active.computations else []
        if not self.active.computations:
            if self.profiles.read_events(position, 1, now):
                self.profiles.run(lambda tx: tx.advance_to_end())
        elif rows:
            self.profiles.run(lambda tx: self._ingest(tx, rows, now))
            busy = True
        # Evaluated at an instant after the events were read: one stored since `now` was taken would be
        # in the future of `now`, unseen, and evaluated again by a timer an instant later.
        now = max(now, self.clock())
        busy |= self.backfill.step(self.active, self.evaluable, self.batch, now, self.metrics)
        self.evaluable = self._evaluable()
        busy |= self._sync_and_remove(now)
        busy |= self._evaluate_due(now)
        if now - self._pruned_at > 60:
            self._prune(now)
        if now - self._observed_at > 5:
            self._observed_at = now
            self.metrics.stored(dict(self.members), self.profiles.pending(now))
        return busy

    def _prepare(self, position: int) -> None:
        """Reconcile the configured computations with the remembered ones (see the module docstring)."""
        stored = self.profiles.computations()
        by_name = {row.name: row for row in stored.values()}
        chosen: list[Computation] = []
        for computation in self.configured:
            row = by_name.get(computation.name)
            if not computation.key_given and row is not None and row.key != computation.key:
                # The key is stored once chosen: a default key derived from the name stays what it was.
                log.info("event=audience_key_kept name=%r key=%s", computation.name, row.key)
                computation = dataclasses.replace(computation, key=row.key)
            chosen.append(computation)
        self.active = Active.of(chosen)
        stayed: list[str] = []
        for key, computation in self.active.computations.items():
            row = stored.get(key)
            text = computation.definition.text
            if row is not None and row.state in ("syncing", "live") and row.definition == text:
                stayed.append(key)
                continue
            computation_id = row.computation_id if row else _PREFIXES[computation.kind] + uuid.uuid4().hex
            self.profiles.put_computation(
                StoredComputation(key, computation.name, computation.kind, computation_id, text, "syncing", 0)
            )
        for key, row in stored.items():
            if key not in self.active.computations and row.state in ("syncing", "live"):
                state = "removing" if self.on_removal == "unset" else "removed"
                self.profiles.put_computation(dataclasses.replace(row, state=state))
                if state == "removed":
                    self.profiles.forget_key(key)
                    self.members.pop(key, None)
        self.profiles.run(lambda tx: tx.drop_names(self.active.horizons))
        self.backfill.plan(self.active, stayed, position)
        self.evaluable = self._evaluable()
        self._prepared = True
        log.info(
            "event=audiences_configured enabled=%d synced=%d", len(self.active.computations), len(stayed)
        )

    def _evaluable(self) -> frozenset[str]:
        if not self.backfill.running:
            return frozenset(self.active.computations)
        syncing = {k for k, row in self.profiles.computations().items() if row.state == "syncing"}
        return frozenset(self.active.computations.keys() - syncing)

    def _recount(self, now: float) -> None:
        """Members from the store when the cache was emptied (others may have written) or now and then."""
        cache = self.profiles.cache
        epoch = cache.epoch if cache is not None else 0
        if epoch != self._cache_epoch or now - self._counted_at > RECOUNT:
            if epoch != self._cache_epoch:
                self._touched.clear()  # another process may have evaluated them: their marks say so
            self._cache_epoch = epoch
            self._counted_at = now
            counted = self.profiles.members()
            self.members = {key: counted.get(key, 0) for key in self.active.computations}

    def _ingest(self, tx: ProfileTx, rows: Sequence[tuple[int, bytes]], now: float) -> None:
        active = self.active
        evaluable = self.evaluable
        for payload, event, profile, changed in profiled(tx, rows):
            keys: set[str] = set(active.computations) if changed else set()
            traits = event.get("traits")
            if event.get("type") == "identify" and isinstance(traits, dict):
                tx.merge_traits(profile, traits)
                keys |= active.trait_readers
            name = event_name(event)
            if name is not None and name in active.horizons:
                ts = event_time(event)
                bound = active.horizons[name]
                if ts is not None and (bound is None or ts > now - bound.total_seconds()):
                    tx.add_event(profile, name, ts, payload.decode(), event)
                    keys |= active.by_event[name]
            keys &= evaluable
            if keys:
                # One mark per profile in the store; which keys, in memory (lost: every key is evaluated).
                tx.mark_due(profile, (TOUCHED,))
                self._touched.setdefault(profile, set()).update(keys)
        tx.advance(rows[-1][0])

    def _evaluate_due(self, now: float) -> bool:
        due = self.profiles.due(now, self.batch * max(1, len(self.active.computations)))
        if not due:
            return False
        started = time.perf_counter()
        loaded = self.profiles.view(lambda tx: [tx.load(p) for p in due])
        results: list[tuple[StoredProfile, list[Outcome]]] = []
        gone: list[int] = []
        for profile_id, stored in zip(due, loaded, strict=True):
            if stored is None:
                gone.append(profile_id)
                self._touched.pop(profile_id, None)
                continue
            keys = {k: at for k, at in due[profile_id].items() if k in self.evaluable}
            if TOUCHED in due[profile_id]:
                touched = self._touched.pop(profile_id, self.evaluable)
                keys.update((k, 0.0) for k in touched if k in self.evaluable and k not in keys)
            results.append((stored, evaluate(self.active, stored, keys, now)))
        self.metrics.evaluated(time.perf_counter() - started)
        computations = self.profiles.computations()
        events = [
            self._identify(stored, computations[outcome.key], outcome.value, now)
            for stored, outcomes in results
            for outcome in outcomes
            if outcome.send
        ]
        self._append(events)

        def record(tx: ProfileTx) -> None:
            rows: list[tuple[int, str, Any, float | None, bool]] = []
            for stored, outcomes in results:
                # Keys no longer enabled, or waiting for their sync: their values stay, not due any more.
                unknown = due[stored.id].keys() - {o.key for o in outcomes}
                rows += [(stored.id, k, stored.values.get(k), None, k in stored.values) for k in unknown]
                rows += [(stored.id, o.key, o.value, o.next_at, o.known) for o in outcomes]
            tx.save_values(rows)
            tx.delete_values(gone)

        self.profiles.run(record)
        for stored, outcomes in results:
            for outcome in outcomes:
                self._count(outcome)
                if outcome.send:
                    kind = self.active.computations[outcome.key].kind
                    self.metrics.changed(
                        stored.user_id or stored.anonymous_id, outcome.key, kind, outcome.value
                    )
        return True

    def _count(self, outcome: Outcome) -> None:
        """Keep the member count of `outcome.key` (profiles with a delivered value other than false/null)."""
        was = _member(outcome.previous)
        now = outcome.known and _member(outcome.value)
        if was != now:
            self.members[outcome.key] = self.members.get(outcome.key, 0) + (1 if now else -1)

    @staticmethod
    def _identify(stored: StoredProfile, row: StoredComputation, value: Any, now: float) -> NewEvent:
        event = engage_identify(
            user_id=str(stored.user_id),
            anonymous_id=stored.anonymous_id,
            kind=row.kind,
            key=row.key,
            computation_id=row.computation_id,
            value=value,
            email=stored.traits.get("email"),
            now=now,
        )
        return NewEvent.from_event(event, source=SOURCE, received_at=now)

    def _append(self, events: list[NewEvent]) -> None:
        if events:
            self.store.append(events, dedup_window=0)

    def _sync_and_remove(self, now: float) -> bool:
        busy = False
        for row in self.profiles.computations().values():
            if row.state == "syncing" and not self.backfill.running:
                last, left = self.profiles.sync_chunk(row.key, row.sync_after, self.batch)
                log.info("event=audience_sync key=%s profiles_marked_up_to=%d left=%d", row.key, last, left)
                self.metrics.sync_left(row.key, left)
                if left == 0:
                    self.profiles.put_computation(dataclasses.replace(row, state="live", sync_after=last))
                busy = True
            elif row.state == "removing":
                busy |= self._unset_chunk(row, now)
        return busy

    def _unset_chunk(self, row: StoredComputation, now: float) -> bool:
        values = self.profiles.values_of(row.key, self.batch)
        if not values:
            self.profiles.put_computation(dataclasses.replace(row, state="removed"))
            self.members.pop(row.key, None)
            return False
        cleared = default(row.kind)
        loaded = self.profiles.view(lambda tx: [tx.load(p) for p, _, _ in values])
        events = [
            self._identify(stored, row, cleared, now)
            for stored, (_, user_id, value) in zip(loaded, values, strict=True)
            if stored is not None and user_id is not None and value != cleared
        ]
        self._append(events)
        self.profiles.forget(row.key, [p for p, _, _ in values])
        return True

    def _prune(self, now: float) -> None:
        self._pruned_at = now
        horizons = {
            name: now - bound.total_seconds()
            for name, bound in self.active.horizons.items()
            if bound is not None
        }
        deleted = self.profiles.run(lambda tx: tx.prune(horizons))
        if deleted:
            log.info("event=audience_events_pruned deleted=%d", deleted)


def _member(value: Any) -> bool:
    return value is not None and value is not False
