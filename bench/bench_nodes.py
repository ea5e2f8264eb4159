"""Several `gleap-actions serve` nodes sharing one queue: PostgreSQL against SQLite, 1, 2 and 4 processes.

For each store and process count, N serve processes share one queue (one PostgreSQL database, or one SQLite
file) and one sandbox process (no rate limit); N load processes post Segment batches to `/v1/batch`, one per
node, for a fixed time. Reported: ingest events/s (accepted, every event committed before its 200) and end
to end events/s (from the first event sent until the sandbox has them all). Baseline in the same run: the
load posted straight to the sandbox. On a 2-core machine the nodes, the load generators and the sandbox
share the cores, so more processes measure contention, not scale-out; on several machines each node
brings its own cores. Needs a PostgreSQL server (`GLEAP_ACTIONS_BENCH_POSTGRES_URL`, default
`postgresql://postgres@127.0.0.1:5432/postgres`): each run uses a fresh database, dropped afterwards.

    .venv/bin/python bench/bench_nodes.py [--processes 1,2,4] [--stores sqlite,postgres] [--seconds 8]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg

from harness import SandboxProcess, ServeProcess, run_load

RESULTS = Path(__file__).parent / "results" / "nodes.json"
UNLIMITED = {"requests_per_minute": 10**9, "max_concurrency": 16}  # the sandbox has no rate limit here
ADMIN_URL = os.environ.get(
    "GLEAP_ACTIONS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextlib.contextmanager
def fresh_queue(store: str) -> Iterator[tuple[Path, str | None]]:
    """A folder for the nodes, and the PostgreSQL URL of a new database (None: SQLite in the folder)."""
    with tempfile.TemporaryDirectory(prefix="bench-nodes-") as folder:
        if store == "sqlite":
            yield Path(folder), None
            return
        name = f"gleap_bench_{os.getpid()}_{time.time_ns()}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield Path(folder), ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(box: SandboxProcess, store: str, processes: int, seconds: float) -> dict[str, Any]:
    """N nodes on one queue under load from N load processes; ingest and end-to-end events/s."""
    box.call("reset")
    with fresh_queue(store) as (folder, url), contextlib.ExitStack() as stack:
        nodes = [
            stack.enter_context(
                ServeProcess(box.url, data_dir=folder, store_url=url, name=f"node{i}", **UNLIMITED)
            )
            for i in range(processes)
        ]
        with ThreadPoolExecutor(processes) as pool:
            loads = list(pool.map(lambda node: run_load(node.url, seconds=seconds), nodes))
        accepted = sum(load["accepted"] for load in loads)
        started = min(load["started_at"] for load in loads)
        ingest_seconds = max(load["seconds"] for load in loads)
        done = box.wait_for_events(accepted, timeout=120 + accepted / 2000)
        delivered = box.call("count")
    elapsed = (done or time.time()) - started
    return {
        "store": store,
        "processes": processes,
        "accepted": accepted,
        "ingest_events_per_s": accepted / ingest_seconds if ingest_seconds else 0.0,
        "delivered": delivered,
        "complete": done is not None,
        "e2e_events_per_s": delivered / elapsed if done else 0.0,
        "errors": [load["errors"] for load in loads],
    }


def main() -> None:
    """Run every (store, processes) combination; print a table and write JSON."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", default="1,2,4", help="comma-separated node counts")
    parser.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--seconds", type=float, default=8.0, help="load time of each run")
    parser.add_argument("--baseline-seconds", type=float, default=3.0)
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args()
    counts = [int(n) for n in args.processes.split(",")]
    stores = [s.strip() for s in args.stores.split(",")]

    with SandboxProcess() as box:
        baseline = run_load(box.url, target="gleap", seconds=args.baseline_seconds)
        rows = [run(box, store, n, args.seconds) for store in stores for n in counts]

    print(f"Nodes sharing one queue, {os.cpu_count()} cores shared by nodes, load and sandbox")
    print(f"baseline (load -> sandbox directly): {baseline['events_per_s']:,.0f} events/s")
    print(f"{'store':<10} {'nodes':>5} {'ingest ev/s':>12} {'e2e ev/s':>10} {'e2e/baseline':>13}")
    for row in rows:
        ratio = row["e2e_events_per_s"] / baseline["events_per_s"] if baseline["events_per_s"] else 0.0
        row["ratio_e2e_to_baseline"] = round(ratio, 3)
        complete = "" if row["complete"] else "  (not all delivered)"
        print(
            f"{row['store']:<10} {row['processes']:>5} {row['ingest_events_per_s']:>12,.0f}"
            f" {row['e2e_events_per_s']:>10,.0f} {ratio:>13.3f}{complete}"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "nodes",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "parameters": vars(args) | {"output": str(args.output)},
        "baseline": baseline,
        "runs": rows,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
