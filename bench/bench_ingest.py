"""Ingest benchmark: `/v1/batch` events/s and requests/s with every event committed before the 200.

Runs, in one go and on 127.0.0.1:
- the ingest server (TrackingAPI over a SQLiteStore, synchronous=FULL) in its own process on one core,
- a baseline minimal aiohttp server (reads the body, answers 200) the same way,
- against each, a separate load process (asyncio + aiohttp client) on the other core, sending distinct
  Segment batches (unique messageIds) from `--concurrency` connections for `--duration` seconds.

Prints a table and writes bench/results/ingest.json. Short by default (about 10 s in all):

    .venv/bin/python bench/bench_ingest.py [--duration 3] [--batch-size 100] [--concurrency 16] [--output F]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "ingest.json"
WRITE_KEY = "bench-write-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pin(cpu: int) -> None:
    """Keep this process on one core (when the machine has it), so 'one core' means one core."""
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


# -- servers (run in a child process) -----------------------------------------------------------------


def serve(kind: str, port: int, data_dir: str) -> None:
    from aiohttp import web

    pin(0)
    app = web.Application()
    if kind == "baseline":

        async def ok(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(body=b'{"success":true}', content_type="application/json")

        app.router.add_post("/v1/batch", ok)
    else:
        from gleap_actions.ingest.limits import RUNNER_OPTIONS
        from gleap_actions.ingest.tracking import TrackingAPI
        from gleap_actions.queue.sqlite.store import SQLiteStore

        store = SQLiteStore(Path(data_dir) / "queue.db")
        TrackingAPI(store, write_keys=[WRITE_KEY]).add_routes(app)
        web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, **RUNNER_OPTIONS)
        store.close()
        return
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# -- load (run in a child process) --------------------------------------------------------------------


def batch_template(batch_size: int) -> bytes:
    """A realistic analytics-python batch; `@@` is replaced by a request number to make ids unique."""
    items = [
        {
            "type": "track",
            "userId": f"user-{i % 50}",
            "event": "Order Completed",
            "messageId": f"@@-{i}",
            "timestamp": "2024-05-01T12:00:00.000+00:00",
            "properties": {"orderId": f"o-{i}", "total": 19.99, "currency": "EUR", "items": 3},
            "context": {"library": {"name": "analytics-python", "version": "2.4.0"}, "ip": "10.0.0.1"},
            "integrations": {},
        }
        for i in range(batch_size)
    ]
    return json.dumps({"batch": items, "sentAt": "2024-05-01T12:00:01.000+00:00"}).encode()


async def load(url: str, duration: float, batch_size: int, concurrency: int) -> dict[str, Any]:
    import aiohttp

    template = batch_template(batch_size)
    headers = {"Content-Type": "application/json", "Authorization": "Basic YmVuY2gtd3JpdGUta2V5Og=="}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    counter = 0
    warmup_end = time.perf_counter() + 0.5
    end = warmup_end + duration

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal counter
        while (now := time.perf_counter()) < end:
            counter += 1
            body = template.replace(b"@@", b"r%d" % counter)
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                done = time.perf_counter()
                if response.status != 200:
                    errors[str(response.status)] = errors.get(str(response.status), 0) + 1
                elif now >= warmup_end:
                    latencies.append(done - now)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    latencies.sort()

    def pct(p: float) -> float:
        return 1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else 0.0

    return {
        "requests_per_s": len(latencies) / duration,
        "events_per_s": len(latencies) * batch_size / duration,
        "latency_ms": {
            "p50": pct(0.50),
            "p90": pct(0.90),
            "p99": pct(0.99),
            "max": pct(1.0),
            "mean": 1000 * statistics.fmean(latencies) if latencies else 0.0,
        },
        "errors": errors,
        "requests": len(latencies),
    }


# -- orchestration ------------------------------------------------------------------------------------


def run_one(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as data_dir:
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind, "--port", str(port), "--data-dir", data_dir]
        )
        try:
            deadline = time.time() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.time() > deadline or server.poll() is not None:
                        raise RuntimeError(f"the {kind} server did not start") from None
                    time.sleep(0.05)
            loader = subprocess.run(
                [
                    sys.executable, __file__, "--load", f"http://127.0.0.1:{port}/v1/batch",
                    "--duration", str(args.duration), "--batch-size", str(args.batch_size),
                    "--concurrency", str(args.concurrency),
                ],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            result: dict[str, Any] = json.loads(loader.stdout)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(20)
        if kind == "ingest":
            with sqlite3.connect(Path(data_dir) / "queue.db") as db:
                result["events_stored"] = db.execute("SELECT count(*) FROM events").fetchone()[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per server")
    parser.add_argument("--batch-size", type=int, default=100, help="events per /v1/batch request")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent requests")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    parser.add_argument("--serve", choices=["ingest", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve:
        serve(args.serve, args.port, args.data_dir)
        return
    if args.load:
        pin(1)
        print(json.dumps(asyncio.run(load(args.load, args.duration, args.batch_size, args.concurrency))))
        return

    results = {kind: run_one(kind, args) for kind in ("baseline", "ingest")}
    ingest, baseline = results["ingest"], results["baseline"]
    report = {
        "benchmark": "ingest /v1/batch, durable (SQLite WAL, synchronous=FULL, committed before 200)",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "parameters": {
            "duration_s": args.duration,
            "batch_size": args.batch_size,
            "concurrency": args.concurrency,
        },
        "results": results,
        "ratio_events_per_s_vs_baseline": ingest["events_per_s"] / baseline["events_per_s"],
        "target_events_per_s": 30_000,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")

    header = f"{'server':<10}{'events/s':>12}{'requests/s':>12}"
    print(header + f"{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for kind, result in results.items():
        lat = result["latency_ms"]
        print(
            f"{kind:<10}{result['events_per_s']:>12,.0f}{result['requests_per_s']:>12,.0f}"
            f"{lat['p50']:>9.2f}{lat['p90']:>9.2f}{lat['p99']:>9.2f}{sum(result['errors'].values()):>8}"
        )
    print(
        f"ingest / baseline: {report['ratio_events_per_s_vs_baseline']:.2f}; "
        f"stored {ingest.get('events_stored', 0):,} events (target >= 30,000 events/s) -> {args.output}"
    )


if __name__ == "__main__":
    main()
