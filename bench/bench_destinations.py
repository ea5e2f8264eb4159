"""Several destinations: end-to-end throughput with 1 and with 10 Gleap destinations, the same load.

As bench/bench_e2e.py's saturation run (the sandbox in its own process without a rate limit, a real
`gleap-actions serve`, the load generator posting `/v1/batch`), once with the single destination and once
with `--destinations` destinations fed by one source, so that every event is routed to each of them
(each destination its own lane: gate, rate budget, concurrency, mapping). The load is a fixed number of
events; the figure is deliveries per second (events delivered times destinations, over the time from the
first event sent to the last delivery) and, per event routed, its ratio to the single-destination figure
(target: at least 0.8).

    .venv/bin/python bench/bench_destinations.py [--events 50000] [--destinations 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from harness import RssSampler, SandboxProcess, ServeProcess, run_load

RESULTS = Path(__file__).parent / "results" / "destinations.json"
UNLIMITED = {"requests_per_minute": 10**9, "max_concurrency": 16}
TARGET_RATIO = 0.8


def run(box: SandboxProcess, events: int, destinations: int) -> dict[str, Any]:
    """Send `events` through serve with `destinations` destinations (0: the single-destination form)."""
    box.call("reset")
    fanout = max(1, destinations)
    with ServeProcess(box.url, destinations=destinations, **UNLIMITED) as serve, RssSampler(serve.pid) as rss:
        load = run_load(serve.url, events=events, seconds=600)
        expected = load["accepted"] * fanout
        done = box.wait_for_events(expected, timeout=120 + expected / 2000)
        delivered = box.call("count")
    elapsed = (done or time.time()) - load["started_at"]
    return {
        "destinations": fanout,
        "ingest": load,
        "delivered": delivered,
        "complete": done is not None,
        "seconds": round(elapsed, 3),
        "deliveries_per_s": delivered / elapsed if done else 0.0,
        "rss_mb": {"peak": rss.peak()},
    }


def main() -> None:
    """Run the single-destination and the N-destination measurements; print and write the results."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50_000, help="events sent in each run")
    parser.add_argument("--destinations", type=int, default=10, help="destinations of the second run")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args()

    with SandboxProcess() as box:
        single = run(box, args.events, 0)
        several = run(box, args.events, args.destinations)
    ratio = several["deliveries_per_s"] / single["deliveries_per_s"] if single["deliveries_per_s"] else 0.0
    print(f"Destinations on 127.0.0.1, {os.cpu_count()} cores; {args.events:,} events per run")
    print(f"{'run':<34} {'deliveries/s':>13} {'seconds':>8} {'RSS MB':>7}")
    for label, result in (("1 destination", single), (f"{args.destinations} destinations", several)):
        print(
            f"{label:<34} {result['deliveries_per_s']:>13,.0f} {result['seconds']:>8.1f}"
            f" {result['rss_mb']['peak']:>7.0f}"
        )
    print(f"per event routed, {args.destinations} / 1: {ratio:.2f} (target >= {TARGET_RATIO})")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "destinations",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "parameters": vars(args) | {"output": str(args.output)},
        "single": single,
        "several": several,
        "ratio_per_event_routed": round(ratio, 3),
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
