"""`Computer`: the stage that keeps audiences and computed traits up to date and delivers their changes.

Fed from the queue like the router, off the ingest path: it reads the events table after its cursor (one
process at a time, under a lease in the store), keeps in the profile store the identities, traits and the
events the enabled definitions reference, and marks the (profile, key) pairs an event can change as due
now. Every round it evaluates the due pairs (`profile_values.next_at <= now`, an index range: a round costs
what is due, never all profiles), appends an Engage-shaped identify to the queue for each delivered value
that changed, then records the values and each pair's next possible change. The identify calls are stored
before the values: a crash between the two sends a change twice, never loses one.

A key enabled for the first time (or again, or with a changed definition) is synced: its profiles are
marked due a chunk at a time, the position kept in the store, so a restart resumes where it stopped. A key
no longer enabled is either kept (`on_removal: keep`, Segment's behaviour: Gleap keeps the last values) or
unset (`on_removal: unset`: false for audience members, null for traits with a value) a chunk at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Literal

import orjson

from gleap_actions.audiences.profile import event_name
from gleap_actions.compute.active import Active
from gleap_actions.compute.evaluate import Outcome, default, evaluate, event_time
from gleap_actions.compute.identify import SOURCE, engage_identify, is_engage
from gleap_actions.compute.metrics import ComputeMetrics
from gleap_actions.config.audiences import Computation
from gleap_actions.queue.profiles import ProfileStore, ProfileTx, StoredComputation, StoredProfile
from gleap_actions.queue.store import DEFAULT_LEASE, NewEvent, Store, StoreFullError

log = logging.getLogger(__name__)

OnRemoval = Literal["keep", "unset"]
_PREFIXES = {"audience": "aud_", "computed_trait": "tra_"}


class Computer:
    """Runs `step` in a worker thread every `interval` seconds (sooner after a busy round)."""

    def __init__(
        self,
        store: Store,
        computations: Sequence[Computation],
        *,
        owner: str,
        on_removal: OnRemoval = "keep",
        notify: Callable[[], None] = lambda: None,
        metrics: ComputeMetrics | None = None,
        changed: Callable[[str | None, str, Any], None] = lambda _user, _key, _value: None,
        clock: Callable[[], float] = time.time,
        interval: float = 0.2,
        batch: int = 1000,
        lease: float = DEFAULT_LEASE,
    ) -> None:
        self.store = store
        self.profiles: ProfileStore = store.profiles
        self.configured = tuple(computations)
        self.owner = owner
        self.on_removal = on_removal
        self.notify = notify
        self.metrics = metrics
        self.changed = changed  # told (user, key, value) of each delivered change, after it is recorded
        self.clock = clock
        self.interval = interval
        self.batch = batch
        self.lease = lease
        self.active = Active.of(())
        self._prepared = False
        self._pruned_at = 0.0
        self._observed_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Place the event cursor (before ingest accepts anything), then start the loop."""
        await asyncio.to_thread(self.profiles.open_cursor)
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Finish the round in progress and give the lease back."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        await asyncio.to_thread(self.profiles.release, self.owner)

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                busy = await asyncio.to_thread(self.step)
            except StoreFullError as exc:
                log.warning("event=audiences_paused reason=%s", exc)
                busy = False
            except Exception:
                log.exception("event=audiences_round_failed")
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.interval)

    # -- one round ---------------------------------------------------------------------------------

    def step(self) -> bool:
        """One round: read new events, sync, unset, evaluate what is due. Whether there was work."""
        now = self.clock()
        position = self.profiles.lease(self.owner, self.lease, now)
        if position is None:
            return False
        if not self._prepared:
            self._prepare()
        busy = False
        rows = self.profiles.read_events(position, self.batch, now) if self.active.computations else []
        if not self.active.computations:
            self.profiles.run(lambda tx: tx.advance_to_end())
        elif rows:
            self.profiles.run(lambda tx: self._ingest(tx, rows, now))
            busy = True
        busy |= self._sync_and_remove(now)
        busy |= self._evaluate_due(now)
        if now - self._pruned_at > 60:
            self._prune(now)
        if self.metrics is not None and now - self._observed_at > 5:
            self._observed_at = now
            self.metrics.observe_store(self.profiles.members(), self.profiles.pending(now))
        return busy

    def _prepare(self) -> None:
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
        for key, computation in self.active.computations.items():
            row = stored.get(key)
            text = computation.definition.text
            if row is not None and row.state in ("syncing", "live") and row.definition == text:
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
        self.profiles.run(lambda tx: tx.drop_names(self.active.horizons))
        self._prepared = True

    def _ingest(self, tx: ProfileTx, rows: Sequence[tuple[int, bytes]], now: float) -> None:
        active = self.active
        for _, payload in rows:
            try:
                event = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(event, dict) or is_engage(event):
                continue
            user_id = _id(event.get("userId"))
            anonymous = [a for a in (_id(event.get("anonymousId")), _id(event.get("previousId"))) if a]
            if user_id is None and not anonymous:
                continue
            profile, changed = tx.resolve(user_id, anonymous)
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
                    tx.add_event(profile, name, ts, payload.decode())
                    keys |= active.by_event[name]
            tx.mark_due(profile, keys)
        tx.advance(rows[-1][0])

    def _evaluate_due(self, now: float) -> bool:
        due = self.profiles.due(now, self.batch)
        if not due:
            return False
        started = time.perf_counter()
        loaded = self.profiles.view(lambda tx: [tx.load(p) for p in due])
        results: list[tuple[StoredProfile, list[Outcome]]] = []
        gone: list[int] = []
        for profile_id, stored in zip(due, loaded, strict=True):
            if stored is None:
                gone.append(profile_id)
                continue
            keys = due[profile_id] & self.active.computations.keys()
            results.append((stored, evaluate(self.active, stored, keys, now)))
        if self.metrics is not None:
            self.metrics.evaluation.observe(time.perf_counter() - started)
        computations = self.profiles.computations()
        events = [
            self._identify(stored, computations[outcome.key], outcome.value, now)
            for stored, outcomes in results
            for outcome in outcomes
            if outcome.send
        ]
        self._append(events, now)

        def record(tx: ProfileTx) -> None:
            rows: list[tuple[int, str, Any, float | None, bool]] = []
            for stored, outcomes in results:
                unknown = due[stored.id] - {o.key for o in outcomes}  # keys no longer enabled
                rows += [(stored.id, k, stored.values.get(k), None, k in stored.values) for k in unknown]
                rows += [(stored.id, o.key, o.value, o.next_at, o.known) for o in outcomes]
            tx.save_values(rows)
            tx.delete_values(gone)

        self.profiles.run(record)
        if self.metrics is not None:
            for _, outcomes in results:
                self.metrics.count(self.active, outcomes)
        for stored, outcomes in results:
            for outcome in outcomes:
                if outcome.send:
                    self.changed(stored.user_id or stored.anonymous_id, outcome.key, outcome.value)
        return True

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

    def _append(self, events: list[NewEvent], now: float) -> None:
        if events:
            self.store.append(events, dedup_window=0)
            self.notify()

    def _sync_and_remove(self, now: float) -> bool:
        busy = False
        for row in self.profiles.computations().values():
            if row.state == "syncing":
                last, left = self.profiles.sync_chunk(row.key, row.sync_after, self.batch)
                log.info("event=audience_sync key=%s profiles_marked_up_to=%d left=%d", row.key, last, left)
                if self.metrics is not None:
                    self.metrics.sync_left.labels(row.key).set(left)
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
            return False
        cleared = default(row.kind)
        loaded = self.profiles.view(lambda tx: [tx.load(p) for p, _, _ in values])
        events = [
            self._identify(stored, row, cleared, now)
            for stored, (_, user_id, value) in zip(loaded, values, strict=True)
            if stored is not None and user_id is not None and value != cleared
        ]
        self._append(events, now)
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


def _id(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)
