"""Store benchmark: append and claim throughput of SQLite against PostgreSQL with 1, 2 and 4 processes,
and the cost of retention.

For each store and process count, in one run:
- append: every process appends batches of `--batch-size` events (unique messageIds, ~300-byte payloads),
  each batch one committed transaction, for `--duration` seconds;
- claim: every process claims unrouted events, routes them to one mapping, claims those deliveries and
  acknowledges them (the store's whole share of an event's trip) for `--duration` seconds or until empty.

Figures are events/s over all processes; the baseline is SQLite with one process, measured in the same run
(ratios are what to compare on a shared 2-core machine).

Retention: `--retention-events` delivered events (old enough to go) are purged the way the service does
(`purge_delivered(limit=1000)` until a call returns less), timed, with the size of `events` before and after
and, for row deletes, the `VACUUM` that the deleted rows then owe. Three ways, in one run: SQLite's batched
deletes; PostgreSQL's row-by-row path (the events still in the open generation, which is how the store
purged before rotation); PostgreSQL's rotation (the generation is closed and its partition dropped).

PostgreSQL comes from `--postgres URL`, else GLEAP_ACTIONS_TEST_POSTGRES_URL, else
postgresql://postgres@127.0.0.1:5432/test; each run uses a fresh schema, dropped afterwards. Without a
server the PostgreSQL rows are left out. Short by default (~1 min):

    .venv/bin/python bench/bench_store.py [--duration 2] [--batch-size 100] [--processes 1,2,4]
        [--retention-events 100000]

Prints a table and writes bench/results/store.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from gleap_actions.queue.factory import open_store
from gleap_actions.queue.postgres.store import PostgresStore
from gleap_actions.queue.store import NewEvent, Store

RESULTS = Path(__file__).parent / "results" / "store.json"
PAYLOAD = (
    b'{"type":"track","event":"Order Completed","properties":{"orderId":"o-1","revenue":42.5,'
    + (b'"sku":"x",' * 20)
    + b'"currency":"EUR"},"userId":"u-1"}'
)


def append_worker(location: str, proc: int, batch_size: int, duration: float, start: Any, out: Any) -> None:
    store = open_store(location).store
    start.wait()
    deadline = time.monotonic() + duration
    started = time.monotonic()
    count = 0
    while time.monotonic() < deadline:
        now = time.time()
        batch = [
            NewEvent("bench", f"{proc}-{count + i}", "u-1", "track", now, PAYLOAD) for i in range(batch_size)
        ]
        store.append(batch)
        count += batch_size
    out.put((count, time.monotonic() - started))
    store.close()


def claim_worker(location: str, proc: int, batch_size: int, duration: float, start: Any, out: Any) -> None:
    store = open_store(location).store
    owner = f"bench-{proc}"
    start.wait()
    deadline = time.monotonic() + duration
    started = time.monotonic()
    count = 0
    while time.monotonic() < deadline:
        events = store.claim_unrouted(owner, batch_size, 60)
        store.route([(e.id, ("A",)) for e in events])
        deliveries = store.claim_deliveries(owner, "A", batch_size, 60, time.time())
        store.ack([d.id for d in deliveries])
        count += len(deliveries)
        if not events and not deliveries:
            break
    out.put((count, time.monotonic() - started))
    store.close()


def run_phase(target: Any, location: str, processes: int, batch_size: int, duration: float) -> float:
    """Events/s of `processes` copies of `target` started together."""
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(processes + 1), ctx.Queue()  # the clock starts once every process is ready
    procs = [
        ctx.Process(target=target, args=(location, n, batch_size, duration, start, out))
        for n in range(processes)
    ]
    for proc in procs:
        proc.start()
    start.wait(timeout=60)
    results = [out.get(timeout=duration + 120) for _ in procs]
    for proc in procs:
        proc.join()
    total = sum(count for count, _ in results)
    elapsed = max(seconds for _, seconds in results)
    return total / elapsed if elapsed > 0 else 0.0


def fill_delivered(store: Store, count: int, received_at: float) -> None:
    """Append `count` events received at `received_at` and route them to nothing: all done."""
    for first in range(0, count, 1000):
        batch = [
            NewEvent("bench", f"r-{first + i}", "u-1", "track", received_at, PAYLOAD)
            for i in range(min(1000, count - first))
        ]
        store.append(batch, dedup_window=1e9)  # dedup entries stay: only events are purged
    while events := store.claim_unrouted("bench", 5000, 60):
        store.route([(e.id, ()) for e in events])


def timed_purge(store: Store, older_than: float) -> tuple[int, float]:
    """Purge as the service's retention loop does; (events removed, seconds)."""
    started = time.perf_counter()
    removed = 0
    while (count := store.purge_delivered(older_than, limit=1000)) >= 1000:
        removed += count
    return removed + count, time.perf_counter() - started


def events_size(url: str) -> int:
    """Bytes of `events` (all partitions, with indexes and TOAST)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace"
            " AND c.relname LIKE 'events%%'"
        ).fetchone()
    return int(row[0]) if row else 0


def measure_retention_sqlite(path: Path, count: int) -> dict[str, Any]:
    store = open_store(str(path)).store
    fill_delivered(store, count, time.time() - 1000)
    removed, seconds = timed_purge(store, time.time() - 500)
    store.close()
    return {"store": "sqlite", "mechanism": "batched deletes", "events": removed, "seconds": seconds}


def measure_retention_postgres(url: str, count: int, *, rotation: bool) -> dict[str, Any]:
    store = PostgresStore(url, rotate_after=0 if rotation else 1e9)
    # Rotation: a generation closed now goes once the retention has passed, here at once (the purge
    # closes it, and older_than is later). Row path: events received long ago, in the open generation.
    fill_delivered(store, count, time.time() if rotation else time.time() - 1000)
    before = events_size(url)
    removed, seconds = timed_purge(store, time.time() + 1 if rotation else time.time() - 500)
    after = events_size(url)
    vacuum = 0.0
    if not rotation:
        with psycopg.connect(url, autocommit=True) as conn:
            started = time.perf_counter()
            conn.execute("VACUUM events")
            vacuum = time.perf_counter() - started
    store.close()
    return {
        "store": "postgres",
        "mechanism": "rotation (drop partition)" if rotation else "row deletes",
        "events": removed,
        "seconds": seconds,
        "events_bytes_before": before,
        "events_bytes_after": after,
        "vacuum_seconds": vacuum,
    }


@contextmanager
def fresh_schema(base: str) -> Iterator[str]:
    """A URL whose tables live in a new schema, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
    try:
        yield base + ("&" if "?" in base else "?") + "options=" + quote(f"-csearch_path={schema}", safe="")
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]


def postgres_base(explicit: str | None) -> str | None:
    url = (
        explicit
        or os.environ.get("GLEAP_ACTIONS_TEST_POSTGRES_URL")
        or "postgresql://postgres@127.0.0.1:5432/test"
    )
    try:
        with psycopg.connect(url, connect_timeout=3):
            return url
    except psycopg.Error as exc:
        print(f"PostgreSQL unavailable, its rows are left out: {exc}")
        return None


def measure(kind: str, location: str, processes: int, args: argparse.Namespace) -> dict[str, Any]:
    open_store(location).close()  # create the schema outside the timed part
    append = run_phase(append_worker, location, processes, args.batch_size, args.duration)
    claim = run_phase(claim_worker, location, processes, args.batch_size * 5, args.duration)
    return {"store": kind, "processes": processes, "append_per_s": round(append), "claim_per_s": round(claim)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per phase")
    parser.add_argument("--batch-size", type=int, default=100, help="events per append")
    parser.add_argument("--processes", default="1,2,4", help="process counts to measure")
    parser.add_argument("--postgres", help="PostgreSQL URL (a fresh schema is created in it)")
    parser.add_argument("--retention-events", type=int, default=100_000, help="events purged, per way")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    counts = [int(n) for n in args.processes.split(",")]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            rows.append(measure("sqlite", str(Path(tmp) / f"queue-{n}.db"), n, args))
    retention: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        retention.append(measure_retention_sqlite(Path(tmp) / "retention.db", args.retention_events))
    base = postgres_base(args.postgres)
    if base is not None:
        for n in counts:
            with fresh_schema(base) as url:
                rows.append(measure("postgres", url, n, args))
        for rotation in (False, True):
            with fresh_schema(base) as url:
                retention.append(measure_retention_postgres(url, args.retention_events, rotation=rotation))
    baseline = rows[0]
    for row in rows:
        row["append_vs_sqlite_1"] = round(row["append_per_s"] / max(1, baseline["append_per_s"]), 2)
        row["claim_vs_sqlite_1"] = round(row["claim_per_s"] / max(1, baseline["claim_per_s"]), 2)
    print(
        f"{'store':<9}{'procs':>6}{'append ev/s':>13}{'x sqlite-1':>11}{'claim ev/s':>12}{'x sqlite-1':>11}"
    )
    for row in rows:
        print(
            f"{row['store']:<9}{row['processes']:>6}{row['append_per_s']:>13}{row['append_vs_sqlite_1']:>11}"
            f"{row['claim_per_s']:>12}{row['claim_vs_sqlite_1']:>11}"
        )
    print(f"\nretention of {args.retention_events} delivered events (baseline: SQLite batched deletes)")
    print(f"{'store':<9}{'mechanism':<27}{'events':>8}{'seconds':>9}{'x sqlite':>9}{'vacuum s':>10}")
    for row in retention:
        row["seconds"] = round(row["seconds"], 3)
        row["time_vs_sqlite"] = round(row["seconds"] / max(1e-6, retention[0]["seconds"]), 3)
        vacuum = row.get("vacuum_seconds")
        print(
            f"{row['store']:<9}{row['mechanism']:<27}{row['events']:>8}{row['seconds']:>9}"
            f"{row['time_vs_sqlite']:>9}{'' if vacuum is None else round(vacuum, 3):>10}"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "store",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": {"duration": args.duration, "batch_size": args.batch_size, "payload_bytes": len(PAYLOAD)},
        "baseline": "sqlite, 1 process, same run",
        "results": rows,
        "retention_events": args.retention_events,
        "retention": retention,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
