"""Processes the end-to-end benchmarks run on 127.0.0.1: the sandbox, `gleap-actions serve`, a load generator.

Each runs in its own process, so the figures include real HTTP, real process boundaries and the serve
process's own memory (RSS, read from /proc). Used by bench_e2e.py and bench_backlog.py.

- `SandboxProcess`: the Gleap sandbox (no rate limit) in a child process, driven over a pipe: count the
  events received, put a 503 outage in force or end it, compute ingest-to-delivery latencies from its
  request log. `lean=True` counts events instead of keeping them (millions would not fit its memory).
- `ServeProcess`: `python -m gleap_actions serve --config FILE` with a config pointing to the sandbox.
- `run_load`: a load process posting Segment batches to `/v1/batch` (or Gleap bodies straight to the
  sandbox, the baseline), at saturation or at a fixed rate. Each event carries its send time
  (`properties.sent`) and a sequence number (`properties.seq`), which reach the sandbox unchanged.
- `RssSampler`: samples a process's RSS in a thread.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
import yaml

TOKEN = "bench-token"
WRITE_KEY = "bench-write-key"
USERS = 1000  # the load cycles over this many users (user-0 ... user-999)
_SPAWN = multiprocessing.get_context("spawn")


# -- the sandbox ------------------------------------------------------------------------------------------


class _Tally:
    """Stands in for the sandbox state's event store: counts validated track events and forgets them."""

    def __init__(self) -> None:
        self.events = 0
        self._lock = threading.Lock()

    def add_events(self, events: list[dict[str, Any]]) -> None:
        with self._lock:
            self.events += len(events)


def _sandbox_main(conn: Connection, request_log_size: int, lean: bool) -> None:
    from gleap_actions.sandbox import Faults, Outage, SandboxThread

    well = Faults(rate_limit=None)
    with SandboxThread(api_token=TOKEN, faults=well, request_log_size=request_log_size) as box:
        state = box.sandbox.state
        tally = _Tally()
        if lean:
            state.add_events = tally.add_events  # type: ignore[method-assign]
        conn.send(box.url)
        while True:
            command = conn.recv()
            if command == "stop":
                return
            if command == "count":
                conn.send(tally.events if lean else state.stats().events)
            elif command == "outage":
                box.set_faults(Faults(rate_limit=None, outage=Outage(duration=86400.0)))
                conn.send(None)
            elif command == "heal":
                box.set_faults(well)
                conn.send(None)
            elif command == "reset":
                state.reset()
                tally.events = 0
                conn.send(None)
            elif command == "latencies":
                conn.send(_latencies(state.requests(endpoint="track")))
            elif command.startswith("entry_latencies:"):
                _, key, nth = command.split(":")
                tracks, identifies = state.requests(endpoint="track"), state.requests(endpoint="identify")
                conn.send(_entry_latencies(tracks, identifies, key, int(nth)))
            elif command == "identifies":
                conn.send(state.stats().requests_by_endpoint.get("identify", 0))


def _latencies(requests: list[Any]) -> list[float]:
    """Receive time minus send time of each event (first delivery of each sequence number), sorted."""
    first: dict[int, float] = {}
    for request in requests:
        if request.status != 200:
            continue
        for event in orjson.loads(request.body)["events"]:
            data = event["data"]
            first.setdefault(data["seq"], request.time - data["sent"])
    return sorted(first.values())


def _entry_latencies(tracks: list[Any], identifies: list[Any], key: str, nth: int) -> list[float]:
    """For each user whose identify set `key` to true: its receive time minus the send time of the user's
    `nth` event of the latest load (the one that made them enter the audience), sorted. The load sends
    user-{seq % USERS}, so that event is seq `user + (nth - 1) * USERS`."""
    sent: dict[int, float] = {}  # the latest load's send time of each seq
    for request in tracks:
        if request.status == 200:
            for event in orjson.loads(request.body)["events"]:
                sent[event["data"]["seq"]] = event["data"]["sent"]
    waits: dict[str, float] = {}
    for request in identifies:
        body = orjson.loads(request.body) if request.status == 200 else {}
        user = body.get("userId", "")
        if body.get(key) is True and user not in waits:
            seq = int(user.rsplit("-", 1)[1]) + (nth - 1) * USERS
            if seq in sent:
                waits[user] = request.time - sent[seq]
    return sorted(waits.values())


class SandboxProcess:
    """The sandbox in a child process: `with SandboxProcess() as box: box.url, box.call("count")`."""

    def __init__(self, request_log_size: int = 20_000, lean: bool = False) -> None:
        self._conn, theirs = _SPAWN.Pipe()
        self._process = _SPAWN.Process(
            target=_sandbox_main, args=(theirs, request_log_size, lean), daemon=True
        )
        self.url = ""

    def __enter__(self) -> SandboxProcess:
        self._process.start()
        if not self._conn.poll(30):
            raise RuntimeError("the sandbox did not start")
        self.url = self._conn.recv()
        return self

    def call(self, command: str) -> Any:
        """Run one command in the sandbox process (count, outage, heal, reset, latencies)."""
        self._conn.send(command)
        if not self._conn.poll(120):
            raise RuntimeError(f"the sandbox did not answer {command!r}")
        return self._conn.recv()

    def wait_for_events(self, count: int, timeout: float, poll: float = 0.05) -> float | None:
        """Wait until the sandbox has received `count` events; the time.time() then, None on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.call("count") >= count:
                return time.time()
            time.sleep(poll)
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._conn.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()


# -- gleap-actions serve ----------------------------------------------------------------------------------


class ServeProcess:
    """`gleap-actions serve` in a child process, delivering to `gleap_url` with the given delivery settings
    (and `server` settings added to the config's `server` section); with `destinations` N, as N
    destinations (all `gleap_url`) fed by one source.

    Its queue lives in a temporary directory (or `data_dir`); its log goes to a file in it.
    """

    def __init__(
        self,
        gleap_url: str,
        *,
        data_dir: Path | None = None,
        store_url: str | None = None,
        name: str = "serve",
        server: dict[str, Any] | None = None,
        sections: dict[str, Any] | None = None,
        destinations: int = 0,
        **delivery: Any,
    ) -> None:
        self._temp = tempfile.TemporaryDirectory(prefix="bench-serve-") if data_dir is None else None
        self.folder = Path(self._temp.name) if self._temp else data_dir or Path(".")
        storage: dict[str, Any] = {"data_dir": str(self.folder / "data")}
        if store_url is not None:
            storage["url"] = store_url
        document = {
            "gleap": {"api_token": TOKEN, "base_url": gleap_url, "timeout": 10},
            "server": {"host": "127.0.0.1", "port": 0, "write_keys": [WRITE_KEY], **(server or {})},
            "storage": storage,
            "delivery": delivery,
            **(sections or {}),
        }
        if destinations:
            # `destinations` Gleap projects (all this sandbox), fed by one source: each event N times.
            gleap = document.pop("gleap")
            names = [f"d{i}" for i in range(destinations)]
            document["destinations"] = [
                {"name": n, "gleap": gleap, "mappings": [{"name": "Track Event", "action": "trackEvent"}]}
                for n in names
            ]
            keys = document["server"].pop("write_keys")
            document["sources"] = [{"name": "bench", "write_keys": keys, "destinations": names}]
        self.config = self.folder / f"{name}.yaml"
        self.config.write_text(yaml.safe_dump(document))
        self.log = self.folder / f"{name}.log"
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServeProcess:
        command = [sys.executable, "-m", "gleap_actions", "serve", "--config", str(self.config)]
        command += ["--log-level", "WARNING"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not (match := re.search(r"listening on (http://\S+)", self.log.read_text())):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"gleap-actions serve did not start:\n{self.log.read_text()}")
            time.sleep(0.05)
        self.url = match.group(1)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def metric(self, name: str) -> float:
        """The sum of a metric's samples on /metrics (e.g. `gleap_actions_queue{state="pending"}`)."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
            text = response.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._temp is not None:
            self._temp.cleanup()


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    """Samples a process's RSS every `interval` seconds in a thread: `.samples` is [(seconds, MB)]."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._start = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((round(time.monotonic() - self._start, 2), round(rss_mb(self.pid), 1)))
            except OSError:
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def peak(self, since: float = 0.0) -> float:
        """The highest RSS sampled at or after `since` seconds."""
        return max((mb for at, mb in self.samples if at >= since), default=0.0)

    def now(self) -> float:
        """Seconds since sampling started (to mark phases)."""
        return time.monotonic() - self._start


# -- load -------------------------------------------------------------------------------------------------


def _segment_batch(first: int, count: int, run: str) -> bytes:
    now = time.time()
    items = [
        {
            "type": "track",
            "event": "Order Completed",
            "userId": f"user-{seq % USERS}",
            "messageId": f"{run}-{seq}",
            "properties": {"sent": now, "seq": seq, "total": 19.99, "currency": "EUR", "items": 3},
            "context": {"library": {"name": "analytics-python", "version": "2.4.0"}, "ip": "10.0.0.1"},
        }
        for seq in range(first, first + count)
    ]
    return orjson.dumps({"batch": items})


def _gleap_batch(first: int, count: int, run: str) -> bytes:
    now = time.time()
    date = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now))
    items = [
        {
            "name": "Order Completed",
            "date": date,
            "data": {"sent": now, "seq": seq, "total": 19.99, "currency": "EUR", "items": 3},
            "userId": f"user-{seq % USERS}",
        }
        for seq in range(first, first + count)
    ]
    return orjson.dumps({"events": items})


async def _load(
    url: str, target: str, events: int, rate: float, seconds: float, batch: int, concurrency: int
) -> dict[str, Any]:
    """Post up to `events` events (at most `seconds` long); `rate` events/s, or 0 for as fast as possible."""
    import aiohttp

    if target == "gleap":
        make, endpoint, headers = _gleap_batch, "/admin/track", {"Api-Token": TOKEN}
    else:
        make, endpoint = _segment_batch, "/v1/batch"
        headers = {"Authorization": aiohttp.BasicAuth(WRITE_KEY, "").encode()}
    headers["Content-Type"] = "application/json"
    run = f"r{os.getpid()}-{time.time_ns()}"
    latencies: list[float] = []
    errors: dict[str, int] = {}
    accepted = 0
    next_seq = 0
    started_at = time.time()
    start = time.monotonic()
    deadline = start + seconds

    async def post(session: aiohttp.ClientSession, first: int, count: int) -> None:
        nonlocal accepted
        body = make(first, count, run)
        began = time.monotonic()
        try:
            async with session.post(url + endpoint, data=body, headers=headers) as response:
                await response.read()
                status = str(response.status)
        except aiohttp.ClientError as error:
            status = type(error).__name__
        if status == "200":
            accepted += count
            latencies.append(time.monotonic() - began)
        else:
            errors[status] = errors.get(status, 0) + 1

    def take(count: int) -> tuple[int, int]:
        nonlocal next_seq
        first, next_seq = next_seq, min(events, next_seq + count)
        return first, next_seq - first

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        if rate <= 0:

            async def worker() -> None:
                while time.monotonic() < deadline and (chunk := take(batch))[1]:
                    await post(session, *chunk)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        else:
            step = 0.05  # a small batch every 50 ms, as a client library flushing often would
            per_step = max(1, round(rate * step))
            tasks: set[asyncio.Task[None]] = set()
            tick = start
            while time.monotonic() < deadline and next_seq < events:
                first, count = take(per_step)
                task = asyncio.create_task(post(session, first, count))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                tick += step
                await asyncio.sleep(max(0.0, tick - time.monotonic()))
            await asyncio.gather(*tasks)
    elapsed = time.monotonic() - start
    latencies.sort()

    def pct(p: float) -> float:
        return (
            round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2) if latencies else 0.0
        )

    return {
        "started_at": started_at,
        "sent": next_seq,
        "accepted": accepted,
        "seconds": round(elapsed, 3),
        "events_per_s": accepted / elapsed if elapsed else 0.0,
        "requests": len(latencies),
        "request_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0)},
        "errors": errors,
    }


def _load_main(conn: Connection, kwargs: dict[str, Any]) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {(os.cpu_count() or 1) - 1})  # the last core: serve tends to take the first
    conn.send(asyncio.run(_load(**kwargs)))


def run_load(
    url: str,
    *,
    target: str = "segment",
    events: int = 10**9,
    rate: float = 0.0,
    seconds: float = 3600.0,
    batch: int = 100,
    concurrency: int = 16,
) -> dict[str, Any]:
    """Run the load generator in its own process until done; its summary (sent, accepted, events/s, ...).

    `target="segment"` posts Segment batches to `url`/v1/batch; `"gleap"` posts Gleap bodies to
    `url`/admin/track (the baseline: the sandbox without gleap-actions in between).
    """
    ours, theirs = _SPAWN.Pipe()
    arguments = {
        "url": url,
        "target": target,
        "events": events,
        "rate": rate,
        "seconds": seconds,
        "batch": batch,
        "concurrency": concurrency,
    }
    process = _SPAWN.Process(target=_load_main, args=(theirs, arguments), daemon=True)
    process.start()
    try:
        if not ours.poll(seconds + 120):
            raise RuntimeError("the load generator did not finish")
        result: dict[str, Any] = ours.recv()
    finally:
        process.join(10)
    return result


def percentile(values: list[float], fraction: float) -> float:
    """The `fraction` percentile of sorted `values` (nearest rank), 0 when empty."""
    return values[min(len(values) - 1, int(fraction * len(values)))] if values else 0.0
