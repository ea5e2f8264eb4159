"""Console: how long each console page takes to answer with a deep queue (target: under 200 ms at 1M events).

A SQLite queue is filled with N routed events (one pending delivery each, as ingest stores them) and
`--dead-letters` dead letters, then a real `gleap-actions serve` (its own process) opens it while Gleap is
unreachable (a closed port: every delivery attempt fails and is retried, the backlog stays). A client signs
in to the console and fetches each page `--repeat` times one after the other; reported per page: median,
p95 and max milliseconds. Baselines from the same run: `GET /health` (the HTTP floor) and `GET /admin/stats`
(the store query the overview also makes).

    .venv/bin/python bench/bench_console.py [--events 1000000] [--dead-letters 1000] [--repeat 30]

Filling 1M events takes about a minute. Prints a table and writes bench/results/console.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import orjson

from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent, Route
from harness import ServeProcess

RESULTS = Path(__file__).parent / "results" / "console.json"
ADMIN_TOKEN = "bench-admin-token"
MAPPING = "Track Event"
TARGET_MS = 200
PAGES = (
    "/console/overview",
    "/console/overview/live",
    "/console/events",
    "/console/mappings",
    "/console/dead-letters",
    "/console/dead-letters/1",
)


def fill(data_dir: Path, events: int, dead_letters: int, batch: int = 5000) -> float:
    """Queue `events` routed events and dead-letter `dead_letters` of them; returns seconds taken."""
    started = time.monotonic()
    data_dir.mkdir(parents=True, exist_ok=True)
    store = SQLiteStore(data_dir / "queue.db")
    route = Route((MAPPING,))
    run = uuid.uuid4().hex[:8]
    now = time.time()
    for first in range(0, events, batch):
        chunk = []
        for i in range(first, min(events, first + batch)):
            event = {
                "type": "track",
                "event": "Order Completed",
                "userId": f"user-{i % 50_000}",
                "messageId": f"{run}-{i}",
                "properties": {"order": i, "total": 19.99, "currency": "EUR"},
                "timestamp": "2026-01-01T00:00:00.000Z",
                "receivedAt": "2026-01-01T00:00:00.000Z",
            }
            chunk.append(NewEvent.from_event(event, source="bench", received_at=now, route=route))
        store.append(chunk)
    claimed = store.claim_deliveries("bench", MAPPING, dead_letters, 60.0, time.time() + 1)
    request = orjson.dumps({"method": "POST", "url": "https://api.gleap.io/admin/track"}).decode()
    store.dead_letter(
        [d.id for d in claimed], reason="HTTP 400: bad request", status=400, request=request, response="{}"
    )
    store.close()
    return time.monotonic() - started


async def measure(url: str, repeat: int) -> dict[str, dict[str, float]]:
    """Sign in, then time each page (and the baselines) `repeat` times."""
    jar = aiohttp.CookieJar(unsafe=True)
    out: dict[str, dict[str, float]] = {}
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.post(url + "/console/login", data={"token": ADMIN_TOKEN}) as r:
            assert r.status == 200, await r.text()  # followed to the overview
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        for path in ("/health", "/admin/stats", *PAGES):
            times = []
            for _ in range(repeat + 1):
                started = time.perf_counter()
                async with http.get(url + path, headers=headers, allow_redirects=False) as r:
                    await r.read()
                    assert r.status == 200, (path, r.status)
                times.append((time.perf_counter() - started) * 1000)
            times = sorted(times[1:])  # the first request warms caches
            out[path] = {
                "median_ms": statistics.median(times),
                "p95_ms": times[max(0, round(0.95 * len(times)) - 1)],
                "max_ms": times[-1],
            }
    return out


def main() -> None:
    """Fill, serve, measure; print and write the results."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events queued")
    parser.add_argument("--dead-letters", type=int, default=1000, help="of which dead-lettered")
    parser.add_argument("--repeat", type=int, default=30, help="requests per page")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-console-") as folder:
        filled = fill(Path(folder) / "data", args.events, args.dead_letters)
        print(f"queued {args.events:,} events ({args.dead_letters:,} dead letters) in {filled:.1f} s")
        serve = ServeProcess(
            "http://127.0.0.1:9",  # nothing listens: Gleap is unreachable, the backlog stays
            data_dir=Path(folder),
            server={"admin_token": ADMIN_TOKEN},
            initial_backoff=30,
            max_backoff=60,
        )
        with serve:
            pages = asyncio.run(measure(serve.url, args.repeat))
    print(f"{'page':32} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for path, figures in pages.items():
        print(f"{path:32} {figures['median_ms']:10.1f} {figures['p95_ms']:8.1f} {figures['max_ms']:8.1f}")
    worst = max(f["p95_ms"] for p, f in pages.items() if p.startswith("/console"))
    print(f"slowest console page p95: {worst:.1f} ms (target under {TARGET_MS} ms)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "events": args.events,
                "dead_letters": args.dead_letters,
                "fill_seconds": filled,
                "pages": pages,
                "slowest_console_p95_ms": worst,
                "target_ms": TARGET_MS,
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
