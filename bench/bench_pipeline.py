"""Delivery throughput and latency: SQLite queue -> router -> Track Event (batches of 100) -> sandbox.

1. Backlog: N queued (unrouted) track events in a fresh SQLite file; the time for a `Pipeline` to route,
   plan and deliver all of them gives events/s. Baseline, same run, same sandbox: the same requests,
   built beforehand, POSTed straight to the sandbox with the same concurrency (no store, no routing, no
   mapping). The ratio is what the pipeline's own work costs.
2. Latency: events appended at a steady rate (default 1000/s, Gleap's 1000 requests/min limit in force)
   with `notify()`, as ingest does; ingest-to-delivery latency per event from the sandbox's receipt time.

The sandbox runs in its own process (the two cores are shared as they would be in production).

    .venv/bin/python bench/bench_pipeline.py [--events 100000] [--rate 1000] [--seconds 5]

Prints a table and writes bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import platform
import tempfile
import time
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from gleap_actions import events
from gleap_actions.config import DeliveryConfig
from gleap_actions.deliver.pipeline import Pipeline
from gleap_actions.destinations.gleap.actions import ACTIONS
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.subscription import Subscription
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent
from gleap_actions.sandbox import Faults, SandboxThread

TOKEN = "bench-token"
RESULTS = Path(__file__).parent / "results" / "pipeline.json"
CONCURRENCY = 16


def sandbox_process(conn: Connection) -> None:
    """Run the sandbox (no rate limit) until told to stop; send its URL first."""
    with SandboxThread(api_token=TOKEN, faults=Faults(rate_limit=None)) as box:
        conn.send(box.url)
        conn.recv()


def queued_event(i: int, now: float) -> NewEvent:
    raw = {"type": "track", "event": f"Event {i % 50}", "userId": f"user-{i % 1000}", "properties": {"i": i}}
    event = events.normalize(raw, "track", received_at=now)
    return NewEvent("bench", event["messageId"], event["userId"], "track", now, orjson.dumps(event))


def subscriptions() -> list[Subscription]:
    return [
        Subscription.compile("Track Event", ACTIONS["trackEvent"], batching=True, batch_size=100),
        Subscription.compile("Identify Contact", ACTIONS["identifyContact"]),
    ]


async def backlog(url: str, count: int, directory: Path) -> dict[str, float]:
    """Deliver `count` queued events; then the baseline posts the same requests directly."""
    now = time.time()
    queued = [queued_event(i, now) for i in range(count)]
    store = SQLiteStore(directory / "backlog.db")
    for start in range(0, count, 2500):
        store.append(queued[start : start + 2500])
    settings = GleapSettings(TOKEN, url)
    config = DeliveryConfig(max_concurrency=CONCURRENCY, requests_per_minute=0)
    pipeline = Pipeline(store, subscriptions(), settings, config)
    started = time.perf_counter()
    await pipeline.start()
    await pipeline.drain(600, poll=0.02)
    elapsed = time.perf_counter() - started
    await pipeline.stop()
    store.close()

    plan = subscriptions()[0].plan([orjson.loads(e.payload) for e in queued], settings, True)
    requests = [p.request for p in plan.requests]
    async with aiohttp.ClientSession() as session:
        pending = iter(requests)

        async def worker() -> None:
            for request in pending:
                async with session.post(request.url, headers=request.headers, data=request.body) as r:
                    await r.read()
                    assert r.status == 200, r.status

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        baseline = time.perf_counter() - started
    return {"pipeline_events_per_s": count / elapsed, "baseline_events_per_s": count / baseline}


async def latency(url: str, rate: int, seconds: float, directory: Path) -> dict[str, float]:
    """Append `rate` events/s for `seconds` with Gleap's request limit in force; latency percentiles."""
    async with aiohttp.ClientSession() as session:
        await (await session.post(f"{url}/__sandbox/reset")).read()
    store = SQLiteStore(directory / "latency.db")
    pipeline = Pipeline(store, subscriptions(), GleapSettings(TOKEN, url), DeliveryConfig())
    await pipeline.start()
    loop = asyncio.get_running_loop()
    step = 0.05
    per_step = max(1, round(rate * step))
    sent = 0
    begin = time.time()
    while time.time() - begin < seconds:
        tick = time.time()
        batch = [queued_event(sent + i, tick) for i in range(per_step)]
        await loop.run_in_executor(None, store.append, batch)
        pipeline.notify()
        sent += per_step
        await asyncio.sleep(max(0.0, tick + step - time.time()))
    await pipeline.drain(60)
    await pipeline.stop()
    store.close()
    async with aiohttp.ClientSession() as session:
        query = {"endpoint": "track", "limit": "100000"}
        async with session.get(f"{url}/__sandbox/requests", params=query) as r:
            log = await r.json()
    waits = sorted(
        row["time"] - datetime.fromisoformat(event["date"].replace("Z", "+00:00")).timestamp()
        for row in log["requests"]
        if row["status"] == 200
        for event in row["body"]["events"]
    )
    assert len(waits) == sent, (len(waits), sent)
    return {
        "events": sent,
        "p50_s": waits[len(waits) // 2],
        "p99_s": waits[min(len(waits) - 1, int(len(waits) * 0.99))],
        "max_s": waits[-1],
    }


def main() -> None:
    """Run both measurements and print/write the results."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="backlog size")
    parser.add_argument("--rate", type=int, default=1000, help="events/s for the latency run")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the latency run")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    sandbox = spawn.Process(target=sandbox_process, args=(theirs,), daemon=True)
    sandbox.start()
    try:
        url = ours.recv()
        with tempfile.TemporaryDirectory() as tmp:
            throughput = asyncio.run(backlog(url, args.events, Path(tmp)))
            delays = asyncio.run(latency(url, args.rate, args.seconds, Path(tmp)))
    finally:
        ours.send("stop")
        sandbox.join(10)
    ratio = throughput["pipeline_events_per_s"] / throughput["baseline_events_per_s"]
    ours_per_s, base_per_s = throughput["pipeline_events_per_s"], throughput["baseline_events_per_s"]
    print(f"backlog of {args.events} events, concurrency {CONCURRENCY}, batches of 100")
    print(f"  pipeline (SQLite -> route -> map -> sandbox): {ours_per_s:>10,.0f} events/s")
    print(f"  baseline (prebuilt requests -> sandbox):     {base_per_s:>10,.0f} events/s")
    print(f"  ratio pipeline/baseline:                     {ratio:>10.2f}")
    print(f"latency at {args.rate} events/s for {args.seconds:g} s (Gleap's 1000 requests/min in force)")
    print(f"  p50 {delays['p50_s']:.3f} s   p99 {delays['p99_s']:.3f} s   max {delays['max_s']:.3f} s")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": multiprocessing.cpu_count()},
        "backlog": {"events": args.events, **throughput, "ratio": ratio},
        "latency": {"rate": args.rate, "seconds": args.seconds, **delays},
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
