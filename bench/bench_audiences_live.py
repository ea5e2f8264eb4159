"""Audiences computed live by `gleap-actions serve`: latency, throughput cost, initial sync, store size.

Every part is its own process on 127.0.0.1 (bench/harness.py). The load sends `Order Completed` track
events of 1000 users in turn (each user's n-th event at about n seconds at 1000 events/s). With
definitions, serve has 20 active audiences and computed traits, all reading that event, so every event
re-evaluates all 20 for its user. One audience is `count() >= N` (--nth, default 10): each user enters it
at their N-th event. The 10 computed traits change at a user's first event only (the load's properties
are constant) and the other 9 audiences need more events than a run sends: a warm-up second sends each
user's first event and waits for those identify calls to be delivered, so that in the measured run the
only changes are the entries.

1. latency: --rate events/s (default 1000) for --latency-seconds with the 20 definitions; p50/p99 from the
   send time of a user's N-th event to the sandbox receiving the identify of their entry (ingest ->
   queue -> compute -> queue -> Identify Contact -> sandbox), Gleap's request limit lifted (the sandbox
   has none here; at the first second each new user makes about 10 identify calls).
2. throughput: saturation (as bench_e2e.py) without definitions, then with the 20: delivered track
   events/s, and the ratio (target >= 0.7).
3. initial sync, in-process: --sync-events events of --sync-users users are stored in the queue before
   any definition exists; then one definition is added: seconds until it is live (its events read back
   from the queue into the profile store, then every profile evaluated); then a second definition over
   the same events: seconds until every profile is evaluated. The profile store's rows and its megabytes
   in the SQLite file.
4. --compute-only: the compute stage alone in this process, the load's events of 1000 users fed in rounds
   of 200 with the 20 definitions: events evaluated per CPU second (what one core can keep up with).
   --history N: each user has N events (default 1) before the measured rounds (the profile size).

    .venv/bin/python bench/bench_audiences_live.py [--rate 1000] [--latency-seconds 20] [--nth 10]
        [--seconds 10] [--sync-events 1000000] [--sync-users 100000] [--skip-serve] [--skip-sync]
        [--compute-only [--history 1]] [--nice N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from gleap_actions.audiences import compile_definition
from gleap_actions.compute import Computer
from gleap_actions.config.audiences import Computation
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent
from harness import USERS, SandboxProcess, ServeProcess, percentile, run_load

RESULTS = Path(__file__).parent / "results" / "audiences_live.json"
UNLIMITED = {"requests_per_minute": 10**9, "max_concurrency": 16}
E = "event('Order Completed')"
AUDIENCES = [
    f"{E}.count() >= 1",  # replaced by count() >= --nth (the audience measured)
    f"{E}.within(1 hours).count() >= 50",
    f"{E}.where(property('total') > 10).count() >= 60",
    f"{E}.where(property('currency') = 'EUR').within(1 days).count() >= 70",
    f"NOT {E}.within(10 minutes).count() >= 1",
    f"{E}.between(1 hours, 2 hours).count() >= 1",
    f"{E}.count() >= 1 AND trait('plan') = 'pro'",
    f"{E}.within(30 minutes).count() >= 80",
    f"{E}.count() >= 100",
    f"{E}.within(1 days).sum(property('items')) > 300",
]
TRAITS = [
    f"{E}.within(1 days).first(property('currency'))",
    f"{E}.within(1 days).max(property('items'))",
    f"{E}.within(7 days).avg(property('total'))",
    f"{E}.within(1 days).avg(property('items'))",
    f"{E}.within(7 days).max(property('total'))",
    f"{E}.within(1 days).mode(property('currency'), 2)",
    f"{E}.within(1 days).min(property('items'))",
    f"{E}.within(1 days).unique(property('currency')).count()",
    f"{E}.within(1 days).min(property('total'))",
    f"{E}.within(1 days).last(property('currency'))",
]
MEASURED = "entered"


NICE: dict[str, int] = {}  # `audiences_nice` for serve's config when --nice is given (else the default)


def sections(nth: int) -> dict[str, Any]:
    """The 20 definitions as config sections (the measured audience first)."""
    audiences = [{"name": f"Audience {i}", "definition": text} for i, text in enumerate(AUDIENCES)]
    audiences[0] = {"name": "Entered", "key": MEASURED, "definition": f"{E}.count() >= {nth}"}
    traits = [{"name": f"Trait {i}", "definition": text} for i, text in enumerate(TRAITS)]
    return {"audiences": audiences, "computed_traits": traits, **NICE}


def latency(box: SandboxProcess, rate: float, seconds: float, nth: int) -> dict[str, Any]:
    """A steady `rate` with the 20 definitions; send-to-identify latency percentiles of the entries."""
    box.call("reset")
    with ServeProcess(box.url, sections=sections(nth), **UNLIMITED) as serve:
        run_load(serve.url, rate=rate, events=USERS, concurrency=64)  # warm-up: each user's first event
        warm_up = _settle(box)
        load = run_load(serve.url, rate=rate, seconds=seconds, concurrency=64)
        deadline = time.time() + 120
        waits: list[float] = []
        while time.time() < deadline and len(waits) < USERS:
            time.sleep(1)
            waits = box.call(f"entry_latencies:{MEASURED}:{nth - 1}")  # nth - 1: after the warm-up's
        identifies = box.call("identifies") - warm_up
    return {
        "ingest": load,
        "identifies": identifies,
        "measured": len(waits),
        "p50_s": round(percentile(waits, 0.5), 4),
        "p99_s": round(percentile(waits, 0.99), 4),
        "max_s": round(waits[-1], 4) if waits else 0.0,
    }


def _settle(box: SandboxProcess) -> int:
    """Wait until the sandbox has received an identify call per user at least (the compute stage's process
    may take seconds to start), then none for 2 s; how many it received."""
    count, still = -1, 0
    while still < 4 or count < USERS:
        time.sleep(0.5)
        now = box.call("identifies")
        still = still + 1 if now == count else 0
        count = now
    return int(count)


def saturation(box: SandboxProcess, seconds: float, nth: int | None) -> dict[str, Any]:
    """Delivered track events/s at saturation, with the definitions or without (`nth` None)."""
    box.call("reset")
    extra = sections(nth) if nth is not None else None
    with ServeProcess(box.url, sections=extra, **UNLIMITED) as serve:
        load = run_load(serve.url, events=2_000_000, seconds=seconds)
        done = box.wait_for_events(load["accepted"], timeout=120 + load["accepted"] / 2000)
        delivered = box.call("count")
        caught_up = _last_identify(box) if nth is not None else None
    elapsed = (done or time.time()) - load["started_at"]
    result = {"accepted": load["accepted"], "delivered": delivered, "events_per_s": delivered / elapsed}
    if caught_up is not None:
        result["catch_up_s"] = round(caught_up - load["started_at"] - seconds, 1)
    return result


def _last_identify(box: SandboxProcess) -> float:
    """When the sandbox received its last identify call: polled until none came for 5 s (the compute stage
    has caught up with the load and its changes are delivered)."""
    count, last = box.call("identifies"), time.time()
    while time.time() - last < 5:
        time.sleep(0.5)
        now = box.call("identifies")
        if now != count:
            count, last = now, time.time()
    return last


def _computation(name: str, text: str) -> Computation:
    kind = "audience"
    return Computation(name, name, compile_definition(text, kind=kind), True, True)


def _megabytes(path: Path) -> float:
    """MB the profile store's tables and indexes take in the SQLite file (the queue's own tables apart)."""
    with sqlite3.connect(path) as conn:
        row = conn.execute(
            "SELECT sum(pgsize) FROM dbstat"
            " WHERE name LIKE 'profile%' OR name LIKE 'sqlite_autoindex_profile%'"
        ).fetchone()
    return round((row[0] or 0) / 1e6, 1)


def _definitions(nth: int) -> list[Computation]:
    """The 20 definitions, compiled as the config loader does."""
    out = []
    for section, kind in (("audiences", "audience"), ("computed_traits", "computed_trait")):
        for entry in sections(nth)[section]:
            key = entry.get("key") or entry["name"].lower().replace(" ", "_")
            definition = compile_definition(entry["definition"], kind=kind)  # type: ignore[arg-type]
            out.append(Computation(entry["name"], key, definition, True, True))
    return out


def compute_rate(rounds: int, per_round: int, nth: int, history: int = 1) -> dict[str, Any]:
    """The compute stage alone, in this process: rounds of `per_round` events of the load's 1000 users
    (after `history` events per user), each round run until idle; events/s of CPU time
    (`time.process_time`)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-rate-"))
    store = SQLiteStore(folder / "queue.db")
    computer = Computer(store, _definitions(nth), owner="bench")
    computer.profiles.open_cursor()
    seq = 0

    def load(count: int) -> None:
        nonlocal seq
        rows = []
        for _ in range(count):
            event = {
                "type": "track",
                "event": "Order Completed",
                "userId": f"user-{seq % USERS}",
                "messageId": uuid.uuid4().hex,
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "properties": {"total": 20, "items": 2, "currency": "EUR", "seq": seq},
            }
            rows.append(
                NewEvent.from_event(
                    event, source="bench", received_at=time.time(), payload=orjson.dumps(event)
                )
            )
            seq += 1
        store.append(rows)

    for _ in range(history):
        load(USERS)
        while computer.step():
            pass
    while computer.step():
        pass
    spent = 0.0
    for _ in range(rounds):
        load(per_round)
        started = time.process_time()
        while computer.step():
            pass
        spent += time.process_time() - started
    store.close()
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    return {
        "events": rounds * per_round,
        "cpu_seconds": round(spent, 2),
        "events_per_cpu_s": round(rounds * per_round / spent),
    }


def _store_events(store: SQLiteStore, events: int, users: int, now: float) -> None:
    """Append `events` track calls of `users` users, spread over the last 20 days, as ingest does."""
    chunk = 5000
    for start in range(0, events, chunk):
        rows = []
        for seq in range(start, min(events, start + chunk)):
            event = {
                "type": "track",
                "event": "Order Completed",
                "userId": f"user-{seq % users}",
                "messageId": uuid.uuid4().hex,
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 86400 * (seq % 20))),
                "properties": {"total": seq % 40, "seq": seq},
            }
            rows.append(
                NewEvent.from_event(event, source="bench", received_at=now, payload=orjson.dumps(event))
            )
        store.append(rows, dedup_window=0)


def _until_idle(computer: Computer) -> float:
    started = time.perf_counter()
    while computer.step():
        pass
    return time.perf_counter() - started


def initial_sync(events: int, users: int) -> dict[str, Any]:
    """`events` of `users` stored in the queue before any definition; then one definition is synced over
    them (read back from the queue, then every profile evaluated), then a second one over the same
    event name (evaluation only: the profile store holds the events already)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    store = SQLiteStore(folder / "queue.db", synchronous="NORMAL")
    first = _computation("buyers", f"{E}.within(30 days).count() >= 1")
    second = _computation("big_spenders", f"{E}.within(30 days).sum(property('total')) > 50")
    now = time.time()
    started = time.perf_counter()
    _store_events(store, events, users, now)
    store_s = time.perf_counter() - started
    computer = Computer(store, [first], owner="bench", clock=lambda: now)
    computer.profiles.open_cursor()  # as serve does: placed at the end of the queue
    sync_s = _until_idle(computer)
    first_state = computer.profiles.computations()["buyers"].state
    size_first = _megabytes(folder / "queue.db")
    rows_first = computer.profiles.size()
    computer = Computer(store, [first, second], owner="bench", clock=lambda: now)
    second_s = _until_idle(computer)
    state = computer.profiles.computations()["big_spenders"].state
    members = computer.profiles.members()
    store.close()
    size_after = _megabytes(folder / "queue.db")
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    return {
        "events": events,
        "users": users,
        "queue_append_seconds": round(store_s, 2),
        "first_sync_seconds": round(sync_s, 2),
        "first_sync_events_per_s": round(events / sync_s),
        "first_sync_state": first_state,
        "second_sync_seconds": round(second_s, 2),
        "second_sync_profiles_per_s": round(users / second_s),
        "second_sync_state": state,
        "members": members,
        "profile_rows": rows_first,
        "profile_store_mb": {"after_first": size_first, "after_second": size_after},
    }


def main() -> None:
    """Run the measurements; print and write the results."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s of the latency run")
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="length of the latency run")
    parser.add_argument("--nth", type=int, default=10, help="users enter the measured audience at this event")
    parser.add_argument("--seconds", type=float, default=10.0, help="load time of each saturation run")
    parser.add_argument("--sync-events", type=int, default=1_000_000, help="events of the initial sync")
    parser.add_argument("--sync-users", type=int, default=100_000, help="users of the initial sync")
    parser.add_argument("--skip-serve", action="store_true", help="only the in-process initial sync")
    parser.add_argument("--skip-sync", action="store_true", help="only the serve runs")
    parser.add_argument(
        "--compute-only", action="store_true", help="only the compute stage's own rate, in this process"
    )
    parser.add_argument(
        "--history", type=int, default=1, help="events per user before the rounds of --compute-only"
    )
    parser.add_argument(
        "--nice", type=int, default=None, help="serve's audiences_nice (default: the config's default)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args()
    if args.nice is not None:
        NICE["audiences_nice"] = args.nice
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    if args.compute_only:
        results["compute_rate"] = rate = compute_rate(30, 200, args.nth, args.history)
        print(
            f"compute stage alone, 20 definitions, {args.history} + about 6 events a user: "
            f"{rate['events_per_cpu_s']} events per CPU second"
        )
        args.skip_serve = args.skip_sync = True
    if not args.skip_serve:
        with SandboxProcess() as box:
            results["latency"] = latency(box, args.rate, args.latency_seconds, args.nth)
            without = saturation(box, args.seconds, None)
            with_20 = saturation(box, args.seconds, args.nth)
        results["throughput"] = {
            "without": without,
            "with_20": with_20,
            "ratio": round(with_20["events_per_s"] / without["events_per_s"], 3),
        }
        lat = results["latency"]
        print(
            f"latency at {args.rate:g} events/s, 20 definitions: p50 {lat['p50_s']} s, p99 {lat['p99_s']} s "
            f"({lat['measured']} entries measured, {lat['identifies']} identify calls)"
        )
        tp = results["throughput"]
        print(
            f"throughput: without {tp['without']['events_per_s']:.0f} events/s, with 20 "
            f"{tp['with_20']['events_per_s']:.0f} events/s, ratio {tp['ratio']}; the compute stage's "
            f"identify calls delivered at most {tp['with_20'].get('catch_up_s')} s after the load ended"
        )
    if not args.skip_sync:
        results["initial_sync"] = sync = initial_sync(args.sync_events, args.sync_users)
        print(
            f"initial sync: {sync['events']} stored events of {sync['users']} users: first definition "
            f"{sync['first_sync_seconds']} s ({sync['first_sync_events_per_s']} events/s, read back and "
            f"evaluated), second over the same events {sync['second_sync_seconds']} s "
            f"({sync['second_sync_profiles_per_s']} profiles/s); rows {sync['profile_rows']}, "
            f"profile store MB {sync['profile_store_mb']}"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
