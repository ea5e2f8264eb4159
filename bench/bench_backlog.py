"""Backlog: N events queued while Gleap is down, then recovery. RSS of `gleap-actions serve` all along.

Every part is its own process on 127.0.0.1 (bench/harness.py). The sandbox answers 503 to every Gleap
request (an outage) while the load generator posts N events to `/v1/batch` of a real `gleap-actions
serve`; serve keeps retrying with backoff (capped at 2 s here, so recovery starts promptly). After
--hold seconds down, the outage ends and the queue drains into the sandbox, which only counts the events
(millions would not fit its memory). Reported: ingest events/s while down, drain events/s, the RSS of the
serve process while filling, down and draining (target: 5 million queued events under 300 MB), and the
baseline of the same run: the same load straight to the sandbox, the ceiling of delivery on this machine.

    .venv/bin/python bench/bench_backlog.py [--events 200000] [--hold 3]
    .venv/bin/python bench/bench_backlog.py --events 5000000    # the target: about 4 GB of disk, 7 minutes

Prints a table and writes bench/results/backlog.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from harness import RssSampler, SandboxProcess, ServeProcess, run_load

RESULTS = Path(__file__).parent / "results" / "backlog.json"
TARGET_RSS_MB = 300
DELIVERY = {
    "requests_per_minute": 10**9,  # the sandbox has no rate limit here
    "max_concurrency": 16,
    "initial_backoff": 0.2,
    "max_backoff": 2.0,
}


def main() -> None:
    """Fill the queue during an outage, hold, recover; print and write the results."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000, help="events queued during the outage")
    parser.add_argument("--hold", type=float, default=3.0, help="seconds down after the queue is filled")
    parser.add_argument("--baseline-seconds", type=float, default=3.0, help="length of the baseline run")
    parser.add_argument("--data-dir", type=Path, help="where serve keeps its queue (default: a temp dir)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args()

    with SandboxProcess(request_log_size=0, lean=True) as box:
        baseline = run_load(box.url, target="gleap", seconds=args.baseline_seconds)
        box.call("reset")
        box.call("outage")
        with ServeProcess(box.url, data_dir=args.data_dir, **DELIVERY) as serve, RssSampler(serve.pid) as rss:
            filling = run_load(serve.url, events=args.events, seconds=3600)
            queued_at = rss.now()
            time.sleep(args.hold)
            assert box.call("count") == 0, "events were delivered during the outage"
            box.call("heal")
            healed_at = rss.now()
            started = time.time()
            done = box.wait_for_events(filling["accepted"], timeout=300 + filling["accepted"] / 1000)
            drained = box.call("count")
            drained_at = rss.now()
    drain_seconds = (done or time.time()) - started
    drain_rate = drained / drain_seconds if drain_seconds else 0.0
    peaks = {
        "filling": rss.peak(0.0),
        "down": max((mb for at, mb in rss.samples if queued_at <= at < healed_at), default=0.0),
        "draining": max((mb for at, mb in rss.samples if healed_at <= at <= drained_at), default=0.0),
    }
    peak = max(peaks.values())
    ratio = drain_rate / baseline["events_per_s"] if baseline["events_per_s"] else 0.0

    print(f"Backlog of {filling['accepted']:,} events queued during a Gleap outage, then recovery")
    print(f"{'measure':<42} {'value':>14}")
    print(f"{'baseline: load -> sandbox directly, events/s':<42} {baseline['events_per_s']:>14,.0f}")
    print(f"{'ingest while Gleap is down, events/s':<42} {filling['events_per_s']:>14,.0f}")
    print(f"{'drain after recovery, events/s':<42} {drain_rate:>14,.0f}")
    print(f"{'drain time, s':<42} {drain_seconds:>14.1f}")
    for phase, mb in peaks.items():
        print(f"{f'serve RSS peak while {phase}, MB':<42} {mb:>14.0f}")
    complete = "all delivered" if done else f"only {drained:,} delivered"
    print(f"drain / baseline: {ratio:.2f}; {complete}; RSS target < {TARGET_RSS_MB} MB at 5M events")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "backlog",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "parameters": {"events": args.events, "hold_s": args.hold, "delivery": DELIVERY},
        "baseline": baseline,
        "ingest_while_down": filling,
        "drain": {
            "delivered": drained,
            "complete": done is not None,
            "seconds": round(drain_seconds, 3),
            "events_per_s": round(drain_rate),
        },
        "ratio_drain_to_baseline": round(ratio, 3),
        "rss_mb": {"peak": peak, "peaks": peaks, "samples": rss.samples},
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
