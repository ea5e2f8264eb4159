"""Delivery under Gleap's limits: both endpoints' budgets used in full, and track batches sized by 413s.

1. Budgets: a SQLite backlog of identifies (one request each) and track events (batches of 100) delivered
   by an in-process `Pipeline` to a sandbox enforcing Gleap's documented limits (1000 requests a minute
   per endpoint, `--per-minute`). After a warm-up, the requests each endpoint answered 200 in a window of
   `--seconds` give requests/min per endpoint, against the configured limit. Baseline, same run: the same
   backlog with one bucket for both endpoints (what delivery did before: `rate=RateLimiter(...)`).
   Runs alternate, `--runs` pairs.
2. Track drain: `--drain-events` queued track events, Gleap (the sandbox) taking at most `--gleap-max-batch`
   events per request (413 beyond). Ours: batches configured at 1000 events (the most the config allows),
   learned down from the 413s; baseline, same run: the default 100. Figures: events per accepted request,
   requests per 1000 events, 413s, time to drain, the batch size learned.

The sandbox runs in its own process.

    .venv/bin/python bench/bench_budget.py [--per-minute 1000] [--seconds 30] [--runs 3]
        [--drain-events 50000] [--gleap-max-batch 500]

Prints a table and writes bench/results/budget.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import platform
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from gleap_actions import events
from gleap_actions.config import DeliveryConfig
from gleap_actions.deliver.pipeline import Pipeline
from gleap_actions.deliver.ratelimit import RateLimiter
from gleap_actions.destinations.gleap.actions import ACTIONS
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.subscription import Subscription
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent
from gleap_actions.sandbox import Faults, SandboxThread

TOKEN = "bench-token"
RESULTS = Path(__file__).parent / "results" / "budget.json"
WARMUP = 3.0  # seconds before the window: routing the backlog and the first burst
TRACK_TRIGGER = 'type = "track"'


def sandbox_process(conn: Connection) -> None:
    """Run the sandbox until told to stop; send its URL first."""
    with SandboxThread(api_token=TOKEN, faults=Faults(rate_limit=None)) as box:
        conn.send(box.url)
        conn.recv()


def queued(raw: dict[str, Any], now: float) -> NewEvent:
    event = events.normalize(raw, raw["type"], received_at=now)
    return NewEvent("bench", event["messageId"], event["userId"], raw["type"], now, orjson.dumps(event))


def backlog(identifies: int, tracks: int) -> list[NewEvent]:
    now = time.time()
    out = [
        queued({"type": "identify", "userId": f"u{i}", "traits": {"plan": f"p{i % 7}"}}, now)
        for i in range(identifies)
    ]
    out += [
        queued({"type": "track", "event": f"E{i % 20}", "userId": f"u{i % 500}", "properties": {"i": i}}, now)
        for i in range(tracks)
    ]
    return out


async def sandbox(session: aiohttp.ClientSession, url: str, method: str, path: str, body: Any = None) -> Any:
    async with session.request(method, url + path, json=body) as resp:
        return await resp.json()


async def budgets(url: str, mode: str, per_minute: int, seconds: float, folder: Path) -> dict[str, Any]:
    """One run: requests/min per endpoint in the window, with per-endpoint buckets or one shared."""
    per_second = per_minute / 60
    span = WARMUP + seconds + 5
    store = SQLiteStore(folder / f"budget-{mode}-{time.monotonic_ns()}.db")
    store.append(backlog(int(per_second * span * 1.5), int(per_second * span * 1.5) * 100))
    subscriptions = [
        Subscription.compile("Identify Contact", ACTIONS["identifyContact"]),
        Subscription.compile("Track Event", ACTIONS["trackEvent"], TRACK_TRIGGER, batching=True),
    ]
    delivery = DeliveryConfig(requests_per_minute=per_minute, linger=0.05)
    rate = RateLimiter(per_minute) if mode == "shared" else None
    async with aiohttp.ClientSession() as session:
        await sandbox(session, url, "POST", "/__sandbox/reset")
        limits = {"rate_limit": per_minute, "rate_limit_window": 60, "max_batch": None}
        await sandbox(session, url, "POST", "/__sandbox/faults", limits)
        p = Pipeline(store, subscriptions, GleapSettings(TOKEN, url, timeout=10), delivery, rate=rate)
        await p.start()
        try:
            await asyncio.sleep(WARMUP)
            before, started = await sandbox(session, url, "GET", "/__sandbox/stats"), time.monotonic()
            await asyncio.sleep(seconds)
            after, ended = await sandbox(session, url, "GET", "/__sandbox/stats"), time.monotonic()
        finally:
            await p.stop(timeout=2)
            store.close()
    minutes = (ended - started) / 60
    by_endpoint = {
        e: (after["requests_by_endpoint"].get(e, 0) - before["requests_by_endpoint"].get(e, 0)) / minutes
        for e in ("identify", "track")
    }
    refused = after["requests_by_status"].get("429", 0) - before["requests_by_status"].get("429", 0)
    return {"requests_per_min": by_endpoint, "answered_429": refused}


async def drain(
    url: str, batch_size: int, n: int, per_minute: int, gleap_max: int, folder: Path
) -> dict[str, Any]:
    """Drain `n` queued track events in batches configured at `batch_size`; Gleap takes `gleap_max`."""
    store = SQLiteStore(folder / f"drain-{batch_size}-{time.monotonic_ns()}.db")
    store.append(backlog(0, n))
    track = Subscription.compile(
        "Track Event",
        ACTIONS["trackEvent"],
        TRACK_TRIGGER,
        batching=True,
        batch_size=batch_size,
        batch_bytes=4_000_000,
    )
    delivery = DeliveryConfig(requests_per_minute=per_minute, linger=0.05)
    async with aiohttp.ClientSession() as session:
        await sandbox(session, url, "POST", "/__sandbox/reset")
        faults = {"rate_limit": per_minute, "rate_limit_window": 60, "max_batch": gleap_max}
        await sandbox(session, url, "POST", "/__sandbox/faults", faults)
        p = Pipeline(store, [track], GleapSettings(TOKEN, url, timeout=10), delivery)
        started = time.monotonic()
        await p.start()
        try:
            await p.drain(timeout=3600, poll=0.1)
            elapsed = time.monotonic() - started
            labels = {"destination": "default", "mapping": "Track Event"}
            learned = p.metrics.registry.get_sample_value("gleap_actions_batch_events_limit", labels)
        finally:
            await p.stop(timeout=2)
            store.close()
        stats = await sandbox(session, url, "GET", "/__sandbox/stats")
    accepted = stats["requests_by_status"].get("200", 0)
    return {
        "configured_batch": batch_size,
        "events": stats["events"],
        "requests": stats["requests"],
        "answered_413": stats["requests_by_status"].get("413", 0),
        "events_per_accepted_request": stats["events"] / max(1, accepted),
        "requests_per_1000_events": 1000 * stats["requests"] / max(1, stats["events"]),
        "seconds": elapsed,
        "learned_batch": learned,
    }


def main() -> None:
    """Run both measurements and print/write the results."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--per-minute", type=int, default=1000, help="Gleap's limit per endpoint (and ours)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measuring window of a budget run")
    parser.add_argument("--runs", type=int, default=3, help="interleaved pairs of budget runs")
    parser.add_argument("--drain-events", type=int, default=50_000, help="track events in the drain")
    parser.add_argument("--gleap-max-batch", type=int, default=500, help="most events Gleap takes a request")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    box = spawn.Process(target=sandbox_process, args=(theirs,), daemon=True)
    box.start()
    runs: dict[str, list[dict[str, Any]]] = {"per_endpoint": [], "shared": []}
    try:
        url = ours.recv()
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.runs):
                for mode in runs:
                    runs[mode].append(
                        asyncio.run(budgets(url, mode, args.per_minute, args.seconds, Path(tmp)))
                    )
            drains = [
                asyncio.run(
                    drain(url, size, args.drain_events, args.per_minute, args.gleap_max_batch, Path(tmp))
                )
                for size in (1000, 100)
            ]
    finally:
        ours.send("stop")
        box.join(10)
    window = f"window {args.seconds:g} s, {args.runs} pair(s)"
    print(f"budgets: Gleap allows {args.per_minute} requests/min per endpoint; {window}")
    summary: dict[str, Any] = {}
    for mode, results in runs.items():
        medians = {
            e: statistics.median(r["requests_per_min"][e] for r in results) for e in ("identify", "track")
        }
        summary[mode] = {
            e: {"median_per_min": v, "of_limit": v / args.per_minute} for e, v in medians.items()
        }
        shares = {e: f"{v:7.0f}/min ({v / args.per_minute:.2f}x)" for e, v in medians.items()}
        refused = sum(r["answered_429"] for r in results)
        print(f"  {mode:>12}: identify {shares['identify']}, track {shares['track']}, 429s {refused}")
    print(f"track drain: {args.drain_events} events, Gleap takes at most {args.gleap_max_batch} a request")
    for d in drains:
        print(
            f"  batches configured at {d['configured_batch']:>4}:"
            f" {d['events_per_accepted_request']:6.1f} events/request,"
            f" {d['requests_per_1000_events']:5.1f} requests/1000 events, {d['answered_413']} 413s,"
            f" {d['seconds']:6.1f} s, learned size {d['learned_batch']:.0f}"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": {"python": platform.python_version(), "cpus": multiprocessing.cpu_count()},
        "per_minute": args.per_minute,
        "budgets": {"runs": runs, "summary": summary},
        "drain": drains,
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
