"""End to end: Segment batches -> `gleap-actions serve` (SQLite queue, router, Track Event) -> sandbox.

Every part is its own process on 127.0.0.1 (bench/harness.py): the sandbox (no rate limit), a real
`gleap-actions serve` with a config pointing to it, and a load generator posting `/v1/batch` (100 events
per request, 16 connections). Three runs:

1. baseline: the load generator posts the same events, already in Gleap's form, straight to the sandbox:
   what HTTP and the sandbox cost on this machine, the ceiling for the runs through serve;
2. saturation: as many events as the load sends in --seconds, through serve with no request limit;
   end-to-end events/s = events delivered / (last one delivered - first one sent);
3. latency: a fixed --rate (default 1000 events/s, in small batches every 50 ms) for --latency-seconds
   with Gleap's 1000 requests/min in force; p50/p99 from each event's send time (a property it carries)
   to the time the sandbox received it.

The RSS of the serve process is sampled all along. Prints a table and writes bench/results/e2e.json.

    .venv/bin/python bench/bench_e2e.py [--seconds 10] [--rate 1000] [--latency-seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from harness import RssSampler, SandboxProcess, ServeProcess, percentile, run_load

RESULTS = Path(__file__).parent / "results" / "e2e.json"
UNLIMITED = {"requests_per_minute": 10**9, "max_concurrency": 16}  # the sandbox has no rate limit here
TARGET_EVENTS_PER_S = 20_000
TARGET_P99_S = 1.0


def saturation(box: SandboxProcess, seconds: float, events: int) -> dict[str, Any]:
    """Load serve as fast as the load generator can for `seconds`; events/s into the sandbox."""
    box.call("reset")
    with ServeProcess(box.url, **UNLIMITED) as serve, RssSampler(serve.pid) as rss:
        load = run_load(serve.url, events=events, seconds=seconds)
        done = box.wait_for_events(load["accepted"], timeout=120 + load["accepted"] / 2000)
        delivered = box.call("count")
        ack = ack_wait_ms(serve)
    elapsed = (done or time.time()) - load["started_at"]  # from the first event sent
    return {
        "ingest": load,
        "delivered": delivered,
        "complete": done is not None,
        "seconds": round(elapsed, 3),
        "events_per_s": delivered / elapsed if done else 0.0,
        "ack_wait_ms": ack,
        "rss_mb": {"peak": rss.peak(), "samples": rss.samples},
    }


def ack_wait_ms(serve: ServeProcess) -> float:
    """The mean time from Gleap's 2xx to its acknowledgement committed (the window where a kill -9
    sends a request again), in milliseconds."""
    count = serve.metric("gleap_actions_ack_seconds_count")
    return round(1000 * serve.metric("gleap_actions_ack_seconds_sum") / count, 2) if count else 0.0


def latency(box: SandboxProcess, rate: float, seconds: float) -> dict[str, Any]:
    """A steady `rate` events/s with Gleap's request limit; ingest-to-delivery latency percentiles."""
    box.call("reset")
    with ServeProcess(box.url, requests_per_minute=1000) as serve, RssSampler(serve.pid) as rss:
        load = run_load(serve.url, rate=rate, seconds=seconds, concurrency=64)
        done = box.wait_for_events(load["accepted"], timeout=60)
        waits = box.call("latencies")
        ack = ack_wait_ms(serve)
    return {
        "ingest": load,
        "delivered": len(waits),
        "complete": done is not None,
        "p50_s": round(percentile(waits, 0.5), 4),
        "p99_s": round(percentile(waits, 0.99), 4),
        "max_s": round(waits[-1], 4) if waits else 0.0,
        "ack_wait_ms": ack,
        "rss_mb": {"peak": rss.peak(), "samples": rss.samples},
    }


def main() -> None:
    """Run the three measurements; print and write the results."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="load time of the saturation run")
    parser.add_argument("--events", type=int, default=2_000_000, help="most events sent at saturation")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s of the latency run")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="length of the latency run")
    parser.add_argument("--baseline-seconds", type=float, default=3.0, help="length of the baseline run")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args()

    with SandboxProcess() as box:
        baseline = run_load(box.url, target="gleap", seconds=args.baseline_seconds)
        box.call("reset")
        saturated = saturation(box, args.seconds, args.events)
        steady = latency(box, args.rate, args.latency_seconds)

    ratio = saturated["events_per_s"] / baseline["events_per_s"] if baseline["events_per_s"] else 0.0
    print(f"End to end on 127.0.0.1, {os.cpu_count()} cores (sandbox, serve and load share them)")
    print(f"{'run':<44} {'events/s':>10} {'p50 s':>7} {'p99 s':>7} {'RSS MB':>7}")
    print(f"{'baseline: load -> sandbox directly':<44} {baseline['events_per_s']:>10,.0f}")
    print(
        f"{'saturation: load -> serve -> sandbox':<44} {saturated['events_per_s']:>10,.0f}"
        f"{'':>16} {saturated['rss_mb']['peak']:>7.0f}"
    )
    print(f"{'  (ingest accepted)':<44} {saturated['ingest']['events_per_s']:>10,.0f}")
    print(f"{'  (mean ms from 2xx to ack committed)':<44} {saturated['ack_wait_ms']:>10.2f}")
    steady_label = f"latency at {args.rate:g} events/s (1000 req/min)"
    print(
        f"{steady_label:<44} {steady['ingest']['events_per_s']:>10,.0f}"
        f" {steady['p50_s']:>7.3f} {steady['p99_s']:>7.3f} {steady['rss_mb']['peak']:>7.0f}"
    )
    print(f"{'  (mean ms from 2xx to ack committed)':<44} {steady['ack_wait_ms']:>10.2f}")
    print(
        f"saturation / baseline: {ratio:.2f}; targets: >= {TARGET_EVENTS_PER_S:,} events/s, "
        f"p99 < {TARGET_P99_S:g} s at 1k events/s"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "e2e",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "parameters": vars(args) | {"output": str(args.output)},
        "baseline": baseline,
        "saturation": saturated,
        "latency": steady,
        "ratio_saturation_to_baseline": round(ratio, 3),
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
