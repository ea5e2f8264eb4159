# Over 400 lines: the profile store's whole SQL for both backends, kept in one place so they cannot drift.
"""The profile store of audiences and computed traits, written once for both backends.

Each backend hands `ProfileStore` a `transact(body)` that runs `body(tx)` in one of its write transactions;
the SQL here uses `%s` placeholders (SQLite's `tx` turns them into `?`) and only syntax both databases share.

Tables (see each backend's migrations):
- `profiles`: one row per person: the userId (once known), an anonymousId, the latest traits (JSON).
- `profile_ids`: `u:<userId>` and `a:<anonymousId>` -> profile. Identify, alias and any event carrying both
  ids join two profiles into the older one.
- `profile_events`: the events the enabled definitions reference, only those names, each kept as long as
  the longest window over it (`prune`). A definition without a window keeps its events: its reducers
  (first, last, mode, unique, where() with trait() or nested funnels) are not incrementally maintainable
  in general, and the events are already filtered to the referenced names.
- `profile_values`: per (profile, key) the value last delivered (JSON; NULL: none yet) and `next_at`, the
  instant the value must be re-evaluated: 0 when an event touched it, the definition's next change
  otherwise, NULL when nothing can change it without a new event. "Due" is one index range. The key
  `TOUCHED` (empty) marks a profile an event touched, for the keys the reader knows (one row per event
  instead of one per key; a reader that does not know them, after a restart, evaluates every key).
- `computations`: every key ever enabled, with its computation id, state (`syncing`, `live`, `removing`,
  `removed`) and the initial sync's position: a key, once chosen, is remembered.
- `profile_cursor`: how far the events queue has been read, with the lease of the process reading it; and
  one row per backfill under way (`backfill:` and its event names): how far back it has read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, LiteralString, Protocol, TypeVar

import orjson

from gleap_actions.queue.profile_cache import CachedProfile, KeptEvent, ProfileCache

T = TypeVar("T")
TOUCHED = ""  # the key of a profile's "touched by an event" mark (no computation has an empty key)
_CURSOR = "events"
_BACKFILL = "backfill:"  # + the JSON list of event names: a backfill's row in `profile_cursor`


def profile_tables(serial: LiteralString, integer: LiteralString, real: LiteralString) -> LiteralString:
    """The profile store's migration in a backend's types: an auto-increment primary key, a 64-bit
    integer, a double."""
    return f"""
    CREATE TABLE profiles (
        id {serial},
        user_id TEXT,
        anonymous_id TEXT,
        traits TEXT NOT NULL DEFAULT '{{}}'
    );
    CREATE TABLE profile_ids (
        identity TEXT PRIMARY KEY,
        profile_id {integer} NOT NULL
    );
    CREATE INDEX profile_ids_profile ON profile_ids (profile_id);
    CREATE TABLE profile_events (
        id {serial},
        profile_id {integer} NOT NULL,
        name TEXT NOT NULL,
        ts {real} NOT NULL,
        payload TEXT NOT NULL
    );
    CREATE INDEX profile_events_profile ON profile_events (profile_id, name, ts);
    CREATE INDEX profile_events_age ON profile_events (name, ts);
    CREATE TABLE profile_values (
        profile_id {integer} NOT NULL,
        key TEXT NOT NULL,
        value TEXT,
        next_at {real},
        PRIMARY KEY (profile_id, key)
    );
    CREATE INDEX profile_values_due ON profile_values (next_at) WHERE next_at IS NOT NULL;
    CREATE INDEX profile_values_key ON profile_values (key);
    CREATE TABLE computations (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        computation_id TEXT NOT NULL,
        definition TEXT NOT NULL,
        state TEXT NOT NULL,
        sync_after {integer} NOT NULL DEFAULT 0
    );
    CREATE TABLE profile_cursor (
        name TEXT PRIMARY KEY,
        position {integer} NOT NULL,
        owner TEXT,
        lease_until {real}
    );
    """


class Tx(Protocol):
    """One open transaction of a backend."""

    def execute(self, sql: LiteralString, params: Sequence[object] = ()) -> int:
        """Run a statement; the affected row count."""

    def fetch(self, sql: LiteralString, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run a query; its rows."""

    def execute_many(self, sql: LiteralString, rows: Sequence[Sequence[object]]) -> None:
        """Run a statement once per row of parameters."""


Transact = Callable[[Callable[[Tx], T]], T]


@dataclass(frozen=True, slots=True)
class StoredProfile:
    """A profile as evaluations read it."""

    id: int
    user_id: str | None
    anonymous_id: str | None
    traits: dict[str, Any]
    events: list[KeptEvent]  # shared with the cache: their `parsed` is kept for the next reader
    values: dict[str, Any]  # key -> the value last delivered (absent: none)
    folds: dict[int, Any] | None = None  # the evaluator's, kept with the cached profile (None: not kept)


@dataclass(frozen=True, slots=True)
class StoredComputation:
    """A row of `computations`."""

    key: str
    name: str
    kind: str
    computation_id: str
    definition: str
    state: str
    sync_after: int


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _holds(cached: CachedProfile, key: str, value: Any, next_at: float | None, known: bool) -> bool:
    """Whether the stored row of `key` (as cached) is this one already (a missing row: neither)."""
    if key not in cached.next_at:
        return not known and next_at is None
    if cached.next_at[key] != next_at or (key in cached.values) is not known:
        return False
    if not known:
        return True
    held = cached.values[key]
    if type(held) is not type(value):
        return False
    return held == value if isinstance(value, str | int | float) else _json(held) == _json(value)


class ProfileTx:
    """The profile store's operations inside one transaction, through the writer's cache when it has one."""

    def __init__(self, tx: Tx, cache: ProfileCache | None = None) -> None:
        self.tx = tx
        self.cache = cache
        # Kept events and due marks are written in one statement each per transaction (`flush`): one
        # statement per event and key was most of a round's store time.
        self._events: list[tuple[int, str, float, str]] = []
        self._due: set[tuple[int, str]] = set()

    def flush(self) -> None:
        """Write the kept events and due marks gathered so far (before anything reads or moves them)."""
        if self._events:
            self.tx.execute_many(
                "INSERT INTO profile_events (profile_id, name, ts, payload) VALUES (%s, %s, %s, %s)",
                self._events,
            )
            self._events = []
        if self._due:
            self.tx.execute_many(
                "INSERT INTO profile_values (profile_id, key, next_at) VALUES (%s, %s, 0)"
                " ON CONFLICT (profile_id, key) DO UPDATE SET next_at = 0",
                sorted(self._due),
            )
            self._due = set()

    # -- identities --------------------------------------------------------------------------------

    def resolve(self, user_id: str | None, anonymous_ids: Sequence[str]) -> tuple[int, bool]:
        """The profile of these ids, created or joined as needed: (id, whether its identity changed)."""
        identities = ([f"u:{user_id}"] if user_id else []) + [f"a:{a}" for a in anonymous_ids if a]
        if self.cache is not None:
            known = self.cache.known(identities, user_id)
            if known is not None:
                return known, False
        found: list[int] = []
        for identity in identities:
            rows = self.tx.fetch("SELECT profile_id FROM profile_ids WHERE identity = %s", (identity,))
            if rows and rows[0][0] not in found:
                found.append(int(rows[0][0]))
        changed = False
        if not found:
            first_anonymous = next((a for a in anonymous_ids if a), None)
            rows = self.tx.fetch(
                "INSERT INTO profiles (user_id, anonymous_id) VALUES (%s, %s) RETURNING id",
                (user_id, first_anonymous),
            )
            profile = int(rows[0][0])
            changed = True
        else:
            found.sort()
            profile = found[0]
            for other in found[1:]:
                self._join(profile, other)
                changed = True
        for identity in identities:
            changed |= (
                self.tx.execute(
                    "INSERT INTO profile_ids (identity, profile_id) VALUES (%s, %s)"
                    " ON CONFLICT (identity) DO NOTHING",
                    (identity, profile),
                )
                > 0
            )
        if user_id:
            changed |= (
                self.tx.execute(
                    "UPDATE profiles SET user_id = %s WHERE id = %s AND user_id IS NULL", (user_id, profile)
                )
                > 0
            )
        if self.cache is not None:
            cached = self.cache.get(profile)
            if cached is not None and user_id and cached.user_id is None:
                cached.user_id = user_id
            self.cache.remember(
                identities, profile, has_user=bool(user_id) or profile in self.cache.with_user
            )
        return profile, changed

    def _join(self, into: int, other: int) -> None:
        """Move `other`'s identities, events and traits into `into` (the older profile's traits win ties
        only where `other` has none) and delete `other`."""
        self.flush()
        if self.cache is not None:
            self.cache.clear()  # rare: ids and events move between profiles
        rows = self.tx.fetch("SELECT user_id, anonymous_id, traits FROM profiles WHERE id = %s", (other,))
        if rows:
            user_id, anonymous_id, traits = rows[0]
            self.tx.execute(
                "UPDATE profiles SET user_id = coalesce(user_id, %s),"
                " anonymous_id = coalesce(anonymous_id, %s) WHERE id = %s",
                (user_id, anonymous_id, into),
            )
            self.merge_traits(into, orjson.loads(traits))
        self.tx.execute("UPDATE profile_ids SET profile_id = %s WHERE profile_id = %s", (into, other))
        self.tx.execute("UPDATE profile_events SET profile_id = %s WHERE profile_id = %s", (into, other))
        # The joined profile's delivered values are its own; the survivor re-evaluates every key.
        self.tx.execute("DELETE FROM profile_values WHERE profile_id = %s", (other,))
        self.tx.execute("DELETE FROM profiles WHERE id = %s", (other,))

    def merge_traits(self, profile: int, traits: Mapping[str, Any], *, keep: bool = False) -> None:
        """Set the profile's traits to `traits` over the ones it has (the newest value wins); with `keep`,
        only the traits it does not have yet are set (an older identify read after newer ones)."""
        cached = self.cache.get(profile) if self.cache is not None else None
        if cached is not None:
            current = cached.traits
        else:
            rows = self.tx.fetch("SELECT traits FROM profiles WHERE id = %s", (profile,))
            current = orjson.loads(rows[0][0]) if rows else {}
        merged = {**traits, **current} if keep else {**current, **traits}
        if merged == current:
            return
        self.tx.execute("UPDATE profiles SET traits = %s WHERE id = %s", (_json(merged), profile))
        if cached is not None:
            cached.traits = merged

    # -- events and values -------------------------------------------------------------------------

    def add_event(self, profile: int, name: str, ts: float, payload: str, event: dict[str, Any]) -> None:
        """Keep an event a definition references (`event`: `payload` parsed)."""
        self._events.append((profile, name, ts, payload))
        cached = self.cache.get(profile) if self.cache is not None else None
        if cached is not None:
            cached.events.append(KeptEvent(name, ts, event))

    def mark_due(self, profile: int, keys: Iterable[str]) -> None:
        """Have `keys` re-evaluated for `profile` at once (`TOUCHED`: the keys the reader knows)."""
        cached = self.cache.get(profile) if self.cache is not None else None
        for key in keys:
            self._due.add((profile, key))
            if cached is not None:
                cached.next_at[key] = 0

    def load(self, profile: int) -> StoredProfile | None:
        """The profile with its kept events and delivered values, or None when it is gone."""
        cached = self.cache.get(profile) if self.cache is not None else None
        if cached is None:
            self.flush()
            rows = self.tx.fetch(
                "SELECT user_id, anonymous_id, traits FROM profiles WHERE id = %s", (profile,)
            )
            if not rows:
                return None
            user_id, anonymous_id, traits = rows[0]
            events = [
                KeptEvent(str(name), float(ts), orjson.loads(payload))
                for name, ts, payload in self.tx.fetch(
                    "SELECT name, ts, payload FROM profile_events WHERE profile_id = %s ORDER BY id",
                    (profile,),
                )
            ]
            rows = self.tx.fetch(
                "SELECT key, value, next_at FROM profile_values WHERE profile_id = %s", (profile,)
            )
            values = {key: orjson.loads(value) for key, value, _ in rows if value is not None}
            next_at = {key: None if at is None else float(at) for key, _, at in rows}
            cached = CachedProfile(user_id, anonymous_id, orjson.loads(traits), events, values, next_at)
            if self.cache is not None:
                self.cache.put(profile, cached)
        return StoredProfile(
            profile,
            cached.user_id,
            cached.anonymous_id,
            dict(cached.traits),
            list(cached.events),
            dict(cached.values),
            cached.folds if self.cache is not None else None,
        )

    def save_values(self, rows: Iterable[tuple[int, str, Any, float | None, bool]]) -> None:
        """Record, per (profile, key, value, next_at, known), the value delivered (`known` False: nothing
        delivered) and when to look again. A pair with neither is deleted: the store holds rows only for
        profiles with something to keep. A cached pair that holds this already is not written."""
        self.flush()
        upserts: list[tuple[object, ...]] = []
        deletes: list[tuple[object, ...]] = []
        looked_up: int | None = None
        cached: CachedProfile | None = None
        for profile, key, value, next_at, known in rows:
            if profile != looked_up:  # rows come a profile at a time: one cache look-up each
                looked_up = profile
                cached = self.cache.get(profile) if self.cache is not None else None
            if cached is not None:
                if _holds(cached, key, value, next_at, known):
                    continue
                if known:
                    cached.values[key] = value
                else:
                    cached.values.pop(key, None)
                if known or next_at is not None:
                    cached.next_at[key] = next_at
                else:
                    cached.next_at.pop(key, None)
            if not known and next_at is None:
                deletes.append((profile, key))
            else:
                upserts.append((profile, key, _json(value) if known else None, next_at))
        if deletes:
            self.tx.execute_many("DELETE FROM profile_values WHERE profile_id = %s AND key = %s", deletes)
        if upserts:
            self.tx.execute_many(
                "INSERT INTO profile_values (profile_id, key, value, next_at) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (profile_id, key) DO UPDATE SET value = excluded.value,"
                " next_at = excluded.next_at",
                upserts,
            )

    def advance(self, position: int) -> None:
        """The events queue has been read up to `position`."""
        self.tx.execute("UPDATE profile_cursor SET position = %s WHERE name = %s", (position, _CURSOR))

    def backfilled(self, job: str, position: int) -> None:
        """The backfill `job` has read back every event above `position`."""
        self.tx.execute("UPDATE profile_cursor SET position = %s WHERE name = %s", (position, job))

    def advance_to_end(self) -> None:
        """Nothing needs the events: the cursor skips to the newest one."""
        self.tx.execute(
            "UPDATE profile_cursor SET position = (SELECT coalesce(max(id), 0) FROM events) WHERE name = %s",
            (_CURSOR,),
        )

    def delete_values(self, profiles: Iterable[int]) -> None:
        """Delete the value rows of profiles that are gone (joined into another, or erased)."""
        self.flush()
        for profile in profiles:
            self.tx.execute("DELETE FROM profile_values WHERE profile_id = %s", (profile,))
            if self.cache is not None:
                self.cache.profiles.pop(profile, None)

    def prune(self, horizons: Mapping[str, float]) -> int:
        """Delete kept events older than their name's horizon (Unix seconds); how many."""
        self.flush()
        deleted = 0
        for name, horizon in horizons.items():
            deleted += self.tx.execute(
                "DELETE FROM profile_events WHERE name = %s AND ts < %s", (name, horizon)
            )
        if self.cache is not None:
            self.cache.prune(horizons)
        return deleted

    def drop_names(self, keep: Iterable[str]) -> int:
        """Delete the kept events of names no enabled definition references any more."""
        self.flush()
        names = [row[0] for row in self.tx.fetch("SELECT DISTINCT name FROM profile_events")]
        wanted = set(keep)
        if self.cache is not None:
            self.cache.clear()
        return sum(
            self.tx.execute("DELETE FROM profile_events WHERE name = %s", (name,))
            for name in names
            if name not in wanted
        )


class ProfileStore:
    """The profile store over one backend's transactions (see the module docstring)."""

    def __init__(self, transact: Transact[Any], read: Transact[Any], *, settle: float = 0.0) -> None:
        """`transact` runs a write transaction, `read` a read-only one (which must not hold up ingest).
        `settle`: seconds an event must have been stored before it is read, so that the cursor never
        passes an id whose transaction commits later (0 where ids are handed out in commit order)."""
        self.transact = transact
        self.read = read
        self.settle = settle
        self.cache: ProfileCache | None = None  # the writer's (`keep_in_memory`)

    def keep_in_memory(self, size: int) -> None:
        """Keep the `size` profiles used last parsed in memory (only in the process that writes the store)."""
        self.cache = ProfileCache(size)

    def run(self, body: Callable[[ProfileTx], T]) -> T:
        """`body` in one write transaction."""

        def whole(tx: Tx) -> T:
            profile_tx = ProfileTx(tx, self.cache)
            result = body(profile_tx)
            profile_tx.flush()
            return result

        result: T = self.transact(whole)
        return result

    def view(self, body: Callable[[ProfileTx], T]) -> T:
        """Read-only `body` in one snapshot."""
        result: T = self.read(lambda tx: body(ProfileTx(tx, self.cache)))
        return result

    # -- the events queue --------------------------------------------------------------------------

    def open_cursor(self) -> None:
        """Place the cursor at the end of the queue unless it is already placed: events stored from now
        on are read. Called before ingest starts, so that no event accepted meanwhile is skipped."""
        self.transact(_open_cursor)

    def lease(self, owner: str, lease: float, now: float) -> int | None:
        """Take or renew the lease on reading events; the cursor position, or None (another holds it).
        Taken rather than renewed, the store may have been written by others: the cache is emptied.
        A lease with more than half its time left is only read: a round that finds nothing to do writes
        nothing (with SQLite, a write waits for the service's writes and makes them wait)."""
        rows = self.read(
            lambda tx: tx.fetch(
                "SELECT owner, lease_until, position FROM profile_cursor WHERE name = %s", (_CURSOR,)
            )
        )
        if rows and rows[0][0] == owner and rows[0][1] is not None and rows[0][1] - now > lease / 2:
            return int(rows[0][2])

        def body(tx: Tx) -> int | None:
            _open_cursor(tx)
            held = tx.fetch("SELECT owner FROM profile_cursor WHERE name = %s", (_CURSOR,))[0][0] == owner
            taken = tx.execute(
                "UPDATE profile_cursor SET owner = %s, lease_until = %s WHERE name = %s"
                " AND (owner IS NULL OR owner = %s OR lease_until < %s)",
                (owner, now + lease, _CURSOR, owner, now),
            )
            if not taken:
                return None
            if not held and self.cache is not None:
                self.cache.clear()
            return int(tx.fetch("SELECT position FROM profile_cursor WHERE name = %s", (_CURSOR,))[0][0])

        result: int | None = self.transact(body)
        return result

    def read_events(self, after: int, limit: int, now: float) -> list[tuple[int, bytes]]:
        """Events stored after position `after`, oldest first, stopping at one not settled yet."""

        def body(tx: Tx) -> list[tuple[int, bytes]]:
            rows = tx.fetch(
                "SELECT id, received_at, payload FROM events WHERE id > %s ORDER BY id LIMIT %s",
                (after, limit),
            )
            out: list[tuple[int, bytes]] = []
            for id_, received_at, payload in rows:
                if self.settle and received_at > now - self.settle:
                    break
                out.append((int(id_), bytes(payload)))
            return out

        result: list[tuple[int, bytes]] = self.read(body)
        return result

    def lag(self, now: float) -> tuple[int, float] | None:
        """How far the compute stage is behind the queue: events stored after its cursor (ids past it, so
        with PostgreSQL's unused ids counted too), and the age in seconds of the oldest of them (0 when
        none); None while no stage has placed its cursor. Two index lookups, however deep the lag."""

        def body(tx: Tx) -> tuple[int, float] | None:
            cursor = tx.fetch("SELECT position FROM profile_cursor WHERE name = %s", (_CURSOR,))
            if not cursor:
                return None
            position = int(cursor[0][0])
            oldest = tx.fetch(
                "SELECT id, received_at FROM events WHERE id > %s ORDER BY id LIMIT 1", (position,)
            )
            if not oldest:
                return 0, 0.0
            newest = int(tx.fetch("SELECT max(id) FROM events")[0][0])
            return newest - position, max(0.0, now - float(oldest[0][1]))

        result: tuple[int, float] | None = self.read(body)
        return result

    def release(self, owner: str) -> None:
        """Give the lease back (at a graceful stop)."""
        self.transact(
            lambda tx: tx.execute(
                "UPDATE profile_cursor SET owner = NULL WHERE name = %s AND owner = %s", (_CURSOR, owner)
            )
        )

    # -- backfills: events read back from the queue for names no live key kept ------------------------

    def backfills(self) -> list[tuple[str, list[str], int]]:
        """The backfills under way: (its row, the event names it keeps, the id it reads back from)."""
        rows = self.read(
            lambda tx: tx.fetch(
                "SELECT name, position FROM profile_cursor WHERE name LIKE %s ORDER BY name",
                (_BACKFILL + "%",),
            )
        )
        return [(str(n), list(orjson.loads(str(n)[len(_BACKFILL) :])), int(pos)) for n, pos in rows]

    def start_backfill(self, names: Sequence[str], position: int) -> None:
        """Read back the events up to id `position` for `names` (and every event's ids and traits)."""
        self.transact(
            lambda tx: tx.execute(
                "INSERT INTO profile_cursor (name, position) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                (_BACKFILL + _json(sorted(names)), position),
            )
        )

    def end_backfill(self, job: str) -> None:
        """The backfill `job` is done (or no longer wanted)."""
        self.transact(lambda tx: tx.execute("DELETE FROM profile_cursor WHERE name = %s", (job,)))

    def read_back(self, upto: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to `limit` retained events with ids up to `upto`, newest first."""
        rows = self.read(
            lambda tx: tx.fetch(
                "SELECT id, payload FROM events WHERE id <= %s ORDER BY id DESC LIMIT %s", (upto, limit)
            )
        )
        return [(int(id_), bytes(payload)) for id_, payload in rows]

    def oldest_event(self) -> int:
        """The smallest id the queue still holds (0: none)."""
        rows = self.read(lambda tx: tx.fetch("SELECT coalesce(min(id), 0) FROM events"))
        return int(rows[0][0])

    def profiles_after(self, profile: int) -> int:
        """How many profiles have an id above `profile` (what a sync has still to mark)."""
        rows = self.read(lambda tx: tx.fetch("SELECT count(*) FROM profiles WHERE id > %s", (profile,)))
        return int(rows[0][0])

    # -- timers, computations, counts ----------------------------------------------------------------

    def due(self, now: float, limit: int) -> dict[int, dict[str, float]]:
        """Up to `limit` (profile, key) pairs due at `now`, soonest first, by profile: each key with when it
        fell due (0: an event touched it). One index range; a profile's other due keys come next time."""
        rows = self.read(
            lambda tx: tx.fetch(
                "SELECT profile_id, key, next_at FROM profile_values WHERE next_at IS NOT NULL"
                " AND next_at <= %s ORDER BY next_at LIMIT %s",
                (now, limit),
            )
        )
        due: dict[int, dict[str, float]] = {}
        for profile, key, next_at in rows:
            due.setdefault(int(profile), {})[str(key)] = float(next_at)
        return due

    def pending(self, now: float) -> int:
        """How many marks are due now: a profile touched by events counts once (its `TOUCHED` mark),
        a profile's expired timer once per key."""
        rows = self.read(
            lambda tx: tx.fetch(
                "SELECT count(*) FROM profile_values WHERE next_at IS NOT NULL AND next_at <= %s", (now,)
            )
        )
        return int(rows[0][0])

    def computations(self) -> dict[str, StoredComputation]:
        """Every remembered key."""
        rows = self.read(
            lambda tx: tx.fetch(
                "SELECT key, name, kind, computation_id, definition, state, sync_after FROM computations"
            )
        )
        return {row[0]: StoredComputation(*row) for row in rows}

    def put_computation(self, computation: StoredComputation) -> None:
        """Insert or update a row of `computations`."""
        self.transact(
            lambda tx: tx.execute(
                "INSERT INTO computations (key, name, kind, computation_id, definition, state, sync_after)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO UPDATE SET name = excluded.name,"
                " kind = excluded.kind, definition = excluded.definition, state = excluded.state,"
                " sync_after = excluded.sync_after",
                (
                    computation.key,
                    computation.name,
                    computation.kind,
                    computation.computation_id,
                    computation.definition,
                    computation.state,
                    computation.sync_after,
                ),
            )
        )

    def sync_chunk(self, key: str, after: int, limit: int) -> tuple[int, int]:
        """Mark the next `limit` profiles after id `after` due for `key`: (last id marked or `after`,
        profiles left after it)."""

        def body(tx: Tx) -> tuple[int, int]:
            ids = [
                int(r[0])
                for r in tx.fetch(
                    "SELECT id FROM profiles WHERE id > %s ORDER BY id LIMIT %s", (after, limit)
                )
            ]
            marks = ProfileTx(tx, self.cache)
            for profile in ids:
                marks.mark_due(profile, (key,))
            marks.flush()
            last = ids[-1] if ids else after
            left = int(tx.fetch("SELECT count(*) FROM profiles WHERE id > %s", (last,))[0][0])
            tx.execute("UPDATE computations SET sync_after = %s WHERE key = %s", (last, key))
            return last, left

        result: tuple[int, int] = self.transact(body)
        return result

    def values_of(self, key: str, limit: int) -> list[tuple[int, str | None, Any]]:
        """Up to `limit` delivered values of `key`: (profile, userId, value)."""
        rows = self.read(
            lambda tx: tx.fetch(
                "SELECT v.profile_id, p.user_id, v.value FROM profile_values v JOIN profiles p"
                " ON p.id = v.profile_id WHERE v.key = %s AND v.value IS NOT NULL ORDER BY v.profile_id"
                " LIMIT %s",
                (key, limit),
            )
        )
        return [(int(r[0]), r[1], orjson.loads(r[2])) for r in rows]

    def forget(self, key: str, profiles: Sequence[int]) -> None:
        """Delete `key`'s rows of these profiles."""
        for profile in profiles:
            cached = self.cache.profiles.get(profile) if self.cache is not None else None
            if cached is not None:
                cached.values.pop(key, None)
                cached.next_at.pop(key, None)
        self.transact(
            lambda tx: [
                tx.execute("DELETE FROM profile_values WHERE key = %s AND profile_id = %s", (key, p))
                for p in profiles
            ]
        )

    def forget_key(self, key: str) -> None:
        """Delete every value row of `key` (a computation removed with its values kept in Gleap)."""
        if self.cache is not None:
            for cached in self.cache.profiles.values():
                cached.values.pop(key, None)
                cached.next_at.pop(key, None)
        self.transact(lambda tx: tx.execute("DELETE FROM profile_values WHERE key = %s", (key,)))

    def members(self) -> dict[str, int]:
        """Per key, the profiles with a delivered value other than false and null."""
        rows = self.read(
            lambda tx: tx.fetch(
                "SELECT key, count(*) FROM profile_values WHERE value IS NOT NULL AND value <> 'false'"
                " AND value <> 'null' GROUP BY key"
            )
        )
        return {str(key): int(count) for key, count in rows}

    def size(self) -> dict[str, int]:
        """Rows per profile table."""

        def body(tx: Tx) -> dict[str, int]:
            return {
                "profiles": int(tx.fetch("SELECT count(*) FROM profiles")[0][0]),
                "profile_events": int(tx.fetch("SELECT count(*) FROM profile_events")[0][0]),
                "profile_values": int(tx.fetch("SELECT count(*) FROM profile_values")[0][0]),
            }

        result: dict[str, int] = self.read(body)
        return result


def erase_user(tx: Tx, user_id: str) -> int:
    """Delete the profile of `user_id` (identities, traits, kept events, values); how many profiles.
    The lease on the event cursor is given back, so that the writer forgets what it cached of them."""
    rows = tx.fetch("SELECT profile_id FROM profile_ids WHERE identity = %s", (f"u:{user_id}",))
    if rows:
        tx.execute("UPDATE profile_cursor SET owner = NULL WHERE name = %s", (_CURSOR,))
    for (profile,) in rows:
        tx.execute("DELETE FROM profile_events WHERE profile_id = %s", (profile,))
        tx.execute("DELETE FROM profile_values WHERE profile_id = %s", (profile,))
        tx.execute("DELETE FROM profile_ids WHERE profile_id = %s", (profile,))
        tx.execute("DELETE FROM profiles WHERE id = %s", (profile,))
    return len(rows)


def _open_cursor(tx: Tx) -> None:
    tx.execute(
        "INSERT INTO profile_cursor (name, position) VALUES (%s, "
        "(SELECT coalesce(max(id), 0) FROM events)) ON CONFLICT (name) DO NOTHING",
        (_CURSOR,),
    )
