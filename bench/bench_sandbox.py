"""Throughput of the Gleap sandbox: requests/s (one event per request) and events/s (100 per request).

The sandbox runs in this process (a `SandboxThread`); a concurrent aiohttp client runs in a separate
process. The baseline, measured in the same run with the same client, is a bare aiohttp server whose
handler reads the body and answers a fixed 200: the ratio shows what the sandbox's own work (token
check, faults, validation, storage, request log) costs.

    .venv/bin/python bench/bench_sandbox.py [--duration 2] [--concurrency 32]

Prints a table and writes bench/results/sandbox.json.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import multiprocessing
import platform
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from gleap_actions.sandbox import Faults, SandboxThread

TOKEN = "bench-token"
RESULTS = Path(__file__).parent / "results" / "sandbox.json"


def make_bodies(batch: int, count: int) -> list[bytes]:
    """`count` distinct /admin/track bodies of `batch` events each (realistic size, no duplicates)."""
    bodies = []
    for request in range(count):
        events = [
            {
                "name": "checkout.completed",
                "date": "2024-05-17T10:44:00.000Z",
                "data": {"orderId": f"o-{request}-{i}", "revenue": 42.5, "currency": "EUR", "items": 3},
                "userId": f"user-{(request * batch + i) % 5000}",
            }
            for i in range(batch)
        ]
        bodies.append(orjson.dumps({"events": events}))
    return bodies


async def _client(url: str, batch: int, duration: float, concurrency: int) -> dict[str, Any]:
    bodies = make_bodies(batch, 200)
    headers = {"Api-Token": TOKEN, "Content-Type": "application/json"}
    counts = {"requests": 0, "errors": 0}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        deadline = time.perf_counter() + duration

        async def worker(offset: int) -> None:
            n = offset
            while time.perf_counter() < deadline:
                async with session.post(url, data=bodies[n % len(bodies)]) as resp:
                    await resp.read()
                    counts["requests" if resp.status == 200 else "errors"] += 1
                n += concurrency

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {**counts, "events": counts["requests"] * batch, "elapsed": elapsed}


def run_client(url: str, batch: int, duration: float, concurrency: int) -> dict[str, Any]:
    """Entry point of the client process."""
    return asyncio.run(_client(url, batch, duration, concurrency))


@contextmanager
def bare_server() -> Iterator[str]:
    """The baseline: aiohttp reading the body and answering a fixed JSON 200, in a background thread."""

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b'{"success":true}', content_type="application/json")

    ready: concurrent.futures.Future[str] = concurrent.futures.Future()
    stop = threading.Event()

    async def main() -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/admin/track", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set_result(f"http://127.0.0.1:{port}")
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await runner.cleanup()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    try:
        yield ready.result(timeout=10)
    finally:
        stop.set()
        thread.join()


def measure(
    pool: concurrent.futures.Executor, url: str, batch: int, args: argparse.Namespace
) -> dict[str, Any]:
    """One client run against `url`; rates per second."""
    result = pool.submit(run_client, url + "/admin/track", batch, args.duration, args.concurrency).result()
    elapsed = result["elapsed"]
    return {
        **result,
        "requests_per_s": result["requests"] / elapsed,
        "events_per_s": result["events"] / elapsed,
    }


def main() -> None:
    """Run the benchmark, print the table, write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        pool.submit(make_bodies, 1, 1).result()  # start the client process before measuring
        for batch in (1, 100):
            with bare_server() as url:
                baseline = measure(pool, url, batch, args)
            with SandboxThread(TOKEN, faults=Faults(rate_limit=None), request_log_size=1000) as sandbox:
                result = measure(pool, sandbox.url, batch, args)
                stored = sandbox.state.event_count()
            if result["errors"] or stored != result["events"]:
                raise SystemExit(
                    f"sandbox stored {stored} of {result['events']} events, {result['errors']} errors"
                )
            rows.append(
                {
                    "batch": batch,
                    "sandbox": result,
                    "baseline": baseline,
                    "ratio_requests": result["requests_per_s"] / baseline["requests_per_s"],
                }
            )

    header = ("events/request", "sandbox req/s", "events/s", "bare aiohttp req/s", "ratio")
    print(f"{header[0]:>14} {header[1]:>14} {header[2]:>12} {header[3]:>19} {header[4]:>6}")
    for row in rows:
        sandbox, baseline = row["sandbox"], row["baseline"]
        print(
            f"{row['batch']:>14} {sandbox['requests_per_s']:>14,.0f} {sandbox['events_per_s']:>12,.0f} "
            f"{baseline['requests_per_s']:>19,.0f} {row['ratio_requests']:>6.2f}"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "sandbox",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": multiprocessing.cpu_count()},
        "settings": {"duration": args.duration, "concurrency": args.concurrency},
        "baseline": "bare aiohttp handler (read body, fixed 200) with the same client",
        "results": rows,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"peak RSS of the sandbox process: {report['peak_rss_mb']:.0f} MB; written to {args.output}")


if __name__ == "__main__":
    main()
