"""The CPU cost of the SQLite store's delivery calls, by how many users the queued events belong to.

In one process (no HTTP, no other process): `append` --events routed track events (batches of 100,
timestamps increasing) of 1 user and of --users users, then `claim_deliveries` of 1,000 and `ack` by 100
until the queue is empty. Figures are events per CPU second (`time.process_time`), which a loaded machine
skews less than the wall clock. Per-user order makes claims read each user's queue head and acks update an
index spread by user, so the many-user figure is the one it costs most.

The baseline is the same script on another checkout, run interleaved with this one:

    .venv/bin/python bench/bench_claims.py [--events 30000] [--users 1000]
    PYTHONPATH=../main/src .venv/bin/python bench/bench_claims.py      # main, for comparison

Prints a table and writes bench/results/claims.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent, Route

RESULTS = Path(__file__).parent / "results" / "claims.json"
PAYLOAD = b'{"type":"track","event":"Order Completed","properties":{"total":42,"currency":"EUR"}}' * 3
# A checkout without per-user order has no event time on `NewEvent` (the baseline runs this script too).
ORDERED = "ordered_at" in {f.name for f in dataclasses.fields(NewEvent)}


def measure(events: int, users: int) -> dict[str, float]:
    """Events per CPU second of append, and of claim + ack, with `events` spread over `users` users."""
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStore(Path(folder) / "queue.db", synchronous="NORMAL")
        now = time.time()
        started = time.process_time()
        for first in range(0, events, 100):
            batch = []
            for n in range(first, min(events, first + 100)):
                extra: dict[str, Any] = {"ordered_at": now + n / 1000} if ORDERED else {}
                batch.append(
                    NewEvent(
                        "bench", f"m-{n}", f"u-{n % users}", "track", now, PAYLOAD, Route(("A",)), **extra
                    )
                )
            store.append(batch)
        append = events / (time.process_time() - started)
        started = time.process_time()
        claimed = 0
        while deliveries := store.claim_deliveries("bench", "A", 1000, 60, time.time()):
            for first in range(0, len(deliveries), 100):
                store.ack([d.id for d in deliveries[first : first + 100]])
            claimed += len(deliveries)
        claim = claimed / (time.process_time() - started)
        store.close()
    return {"append_per_cpu_s": round(append), "claim_ack_per_cpu_s": round(claim)}


def main() -> None:
    """Measure with one user and with many; print and write the results."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=30_000, help="events queued per measurement")
    parser.add_argument("--users", type=int, default=1000, help="users of the many-user measurement")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args()
    results = {str(users): measure(args.events, users) for users in (1, args.users)}
    print(f"{'users':>6}{'append ev/cpu-s':>17}{'claim+ack ev/cpu-s':>20}")
    for users, figures in results.items():
        print(f"{users:>6}{figures['append_per_cpu_s']:>17,}{figures['claim_ack_per_cpu_s']:>20,}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"events": args.events, "results": results}, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
