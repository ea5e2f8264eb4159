"""Drive real `gleap-actions serve` processes against the sandbox and reconcile what happened.

- `ServeProcess`: one `gleap-actions serve` subprocess on a fixed 127.0.0.1 port (so clients keep their URL
  across restarts), its stderr in a log file; `kill9()` kills its whole process group.
- `Load`: a client thread posting batches of track events with unique messageIds and a `seq` property; like
  a Segment library it re-sends a batch (same messageIds) until it is answered 200, and it records which
  sequence numbers were answered 200. Bounded in count and time.
- `reconcile`: answered 200 = delivered ∪ dead-lettered; lost and duplicates counted.
- `assert_no_secrets`: none of the secrets appears in any text the scenario produced.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
import yaml

from gleap_actions.sandbox import SandboxState

# Distinctive values, so a grep for them finds nothing but a leak.
TOKEN = "gleap-rel-token-8c2e4f19d0"
WRITE_KEY = "wk-rel-3b7a51c6e2"
ADMIN_TOKEN = "admin-rel-token-6d0f92ab47"
SECRETS = (TOKEN, WRITE_KEY, ADMIN_TOKEN)

CLI = [sys.executable, "-m", "gleap_actions"]
SOAK = os.environ.get("GLEAP_ACTIONS_SOAK") == "1"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(
    folder: Path,
    base_url: str,
    *,
    port: int,
    token: str = TOKEN,
    data_dir: Path | None = None,
    **delivery: Any,
) -> Path:
    """A config file with short retry timings: Gleap at `base_url`, ingest on 127.0.0.1:`port`."""
    document = {
        "gleap": {"api_token": token, "base_url": base_url, "timeout": 2},
        "server": {"host": "127.0.0.1", "port": port, "write_keys": [WRITE_KEY], "admin_token": ADMIN_TOKEN},
        "storage": {"data_dir": str(data_dir or folder / "data")},
        "delivery": {
            "linger": 0.05,
            "initial_backoff": 0.1,
            "max_backoff": 1.0,
            "retry_window": 600,
            **delivery,
        },
    }
    path = folder / "gleap-actions.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def child_env() -> dict[str, str]:
    """The environment without any GLEAP_* override, so the config file decides."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GLEAP_")}


class ServeProcess:
    """A `gleap-actions serve --config CONFIG` process; every start appends to the same log file."""

    def __init__(self, config: Path, log: Path, args: tuple[str, ...] = ()) -> None:
        self.config = config
        self.log = log
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.starts = 0

    def start(self, timeout: float = 60.0) -> ServeProcess:
        """Start the process and return once its banner says it listens."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*CLI, "serve", "--config", str(self.config), *self.args],
                stdout=out,
                stderr=out,
                env=child_env(),
                start_new_session=True,  # its own process group: kill9() reaches every process of it
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_bytes()[offset:].decode("utf-8", "replace")
            match = re.search(r"listening on (http://\S+)", text)
            if match and "Health:" in text:
                self.url = match.group(1)
                return self
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}:\n{text}")
            time.sleep(0.05)
        raise AssertionError("serve did not start in time")

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        """SIGKILL every process of the service (its process group)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM and wait; the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def log_text(self) -> str:
        """Everything the process(es) wrote so far."""
        return self.log.read_text("utf-8", "replace") if self.log.exists() else ""


class Client:
    """Plain HTTP calls to a service: ingest with the write key, admin with its token, metrics."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2.0, read=10.0))
        self.seen: list[str] = []  # every body received, for the secrets check

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """One request; (status, body text). The body is kept for `assert_no_secrets`."""
        response = self.http.request(method, self.url + path, body=body, headers=headers or {})
        text = response.data.decode("utf-8", "replace")
        self.seen.append(text)
        return response.status, text

    def post(self, path: str, document: object, key: str = WRITE_KEY) -> tuple[int, Any]:
        """POST JSON to ingest with `key` as the HTTP Basic user."""
        headers = urllib3.make_headers(basic_auth=f"{key}:")
        headers["Content-Type"] = "application/json"
        status, text = self.request("POST", path, json.dumps(document).encode(), headers)
        return status, _json(text)

    def admin(
        self, method: str, path: str, document: object = None, token: str = ADMIN_TOKEN
    ) -> tuple[int, Any]:
        """Call the admin API."""
        body = None if document is None else json.dumps(document).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        status, text = self.request(method, path, body, headers)
        return status, _json(text)

    def metrics(self) -> str:
        """The /metrics page."""
        return self.request("GET", "/metrics")[1]

    def metric(self, name: str) -> float:
        """The sum of every sample of metric `name` (0 when absent)."""
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def queue_empty(self) -> bool:
        """Nothing unrouted, pending or in flight."""
        status, stats = self.admin("GET", "/admin/stats")
        if status != 200:
            return False
        queue = stats.get("queue", stats)
        return all(queue.get(k, 0) == 0 for k in ("unrouted", "pending", "in_flight"))

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every dead letter in full (with its event)."""
        letters: list[dict[str, Any]] = []
        after = 0
        while True:
            status, page = self.admin("GET", f"/admin/dead-letters?limit=1000&after={after}")
            assert status == 200, page
            if not page["dead_letters"]:
                return letters
            for brief in page["dead_letters"]:
                status, letter = self.admin("GET", f"/admin/dead-letters/{brief['id']}")
                assert status == 200, letter
                letters.append(letter)
                after = brief["id"]


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass
class Load:
    """Posts `events` track events in batches of `batch` to `url` from a thread, at most `rate` events/s,
    for at most `max_seconds`; each batch is re-sent until it gets a 200 (as Segment clients do)."""

    url: str
    events: int
    batch: int = 20
    rate: float = 500.0
    max_seconds: float = 120.0
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    accepted: set[int] = field(default_factory=set)
    statuses: Counter[str] = field(default_factory=Counter)
    sent: int = 0  # sequence numbers handed out (posted at least once)
    key: str = WRITE_KEY

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="load", daemon=True)
        self._http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=1.0, read=10.0))

    def start(self) -> Load:
        """Start posting."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop posting (a batch not yet answered 200 is given up: it was never accepted) and join."""
        self._stop.set()
        self._thread.join(timeout=60)

    def wait(self, timeout: float) -> None:
        """Wait for the load to finish by itself."""
        self._thread.join(timeout=timeout)

    @property
    def done(self) -> bool:
        """Whether the thread finished."""
        return not self._thread.is_alive()

    def event(self, seq: int) -> dict[str, Any]:
        """The track event with sequence number `seq`."""
        return {
            "type": "track",
            "userId": f"rel-{self.run}-{seq % 50}",
            "event": "Reliability Probe",
            "messageId": f"{self.run}-{seq}",
            "properties": {"run": self.run, "seq": seq},
        }

    def _main(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        headers = urllib3.make_headers(basic_auth=f"{self.key}:")
        headers["Content-Type"] = "application/json"
        started = time.monotonic()
        while self.sent < self.events and not self._stop.is_set() and time.monotonic() < deadline:
            seqs = list(range(self.sent, min(self.events, self.sent + self.batch)))
            self.sent = seqs[-1] + 1
            body = json.dumps({"batch": [self.event(s) for s in seqs]}).encode()
            while not self._stop.is_set() and time.monotonic() < deadline:
                status = self._post(body, headers)
                self.statuses[status] += 1
                if status == "200":
                    self.accepted.update(seqs)
                    break
                self._stop.wait(0.05 if status == "connection" else 0.2)
            ahead = self.sent / self.rate - (time.monotonic() - started)
            if ahead > 0:
                self._stop.wait(ahead)

    def _post(self, body: bytes, headers: dict[str, str]) -> str:
        try:
            return str(self._http.request("POST", self.url + "/v1/batch", body=body, headers=headers).status)
        except urllib3.exceptions.HTTPError:
            return "connection"


@dataclass(frozen=True)
class Report:
    """The reconciliation of one scenario."""

    sent: int
    accepted: int
    delivered: int  # distinct accepted events the sandbox received
    dead_lettered: int
    lost: int
    duplicates: int  # extra copies of our events the sandbox received
    sandbox_duplicates: int  # the sandbox's own duplicate counter (all events)

    def line(self) -> str:
        """One line for logs and docs/reliability.md."""
        return ", ".join(f"{k}={v}" for k, v in self.__dict__.items())


def reconcile(load: Load, state: SandboxState, dead_letters: Iterable[dict[str, Any]]) -> Report:
    """Answered 200 = delivered ∪ dead-lettered: lost = accepted - delivered - dead-lettered."""
    received: Counter[int] = Counter()
    for event in state.events():
        data = event.get("data") or {}
        if isinstance(data, dict) and data.get("run") == load.run:
            received[int(data["seq"])] += 1
    dead = {
        int(letter["event"]["properties"]["seq"])
        for letter in dead_letters
        if letter["event"].get("properties", {}).get("run") == load.run
    }
    lost = load.accepted - set(received) - dead
    return Report(
        sent=load.sent,
        accepted=len(load.accepted),
        delivered=len(load.accepted & set(received)),
        dead_lettered=len(load.accepted & dead),
        lost=len(lost),
        duplicates=sum(n - 1 for n in received.values()),
        sandbox_duplicates=state.duplicate_count(),
    )


@dataclass(frozen=True)
class DuplicateCauses:
    """Where the duplicates of a kill scenario come from: each duplicated event's first copy was either
    answered 200 by the sandbox before the kill that followed it (`answered_not_acked`: the window between
    the destination's answer and our ack), or was still in flight at the destination (`in_flight`:
    at-least-once, no idempotency key; unavoidable)."""

    answered_not_acked: int
    in_flight: int


def duplicate_causes(load: Load, state: SandboxState, kills: list[float], latency: float) -> DuplicateCauses:
    """Classify the duplicates of `load` by the sandbox's request log (it must hold every request), the
    wall-clock times of the kills and the sandbox's `latency` (it answers that long after a request came)."""
    first_answer: dict[int, float] = {}
    copies: Counter[int] = Counter()
    for request in sorted(state.requests(), key=lambda r: r.seq):
        if request.status != 200 or request.endpoint != "track":
            continue
        for event in json.loads(request.body).get("events", []):
            data = event.get("data") or {}
            if data.get("run") == load.run:
                seq = int(data["seq"])
                copies[seq] += 1
                first_answer.setdefault(seq, request.time)
    answered = in_flight = 0
    for seq, n in copies.items():
        if n < 2:
            continue
        at = first_answer[seq]
        # Answered just after a kill (the sandbox answers `latency` after a request, later when its
        # thread is slow; a restarted service sends nothing for over a second): sent by the killed one.
        after_kill = any(at - latency - 1.0 < k <= at + 0.05 for k in kills)
        # Else the kill that followed; an answer needs a moment to reach the service (0.05 s).
        kill = min((k for k in kills if k > at), default=None)
        if not after_kill and kill is not None and at < kill - 0.05:
            answered += n - 1
        else:
            in_flight += n - 1
    return DuplicateCauses(answered, in_flight)


def wait_until(check: Callable[[], bool], timeout: float, what: str, poll: float = 0.1) -> None:
    """Poll `check` until true; fail with `what` after `timeout` seconds (generous: the machine is slow)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:.0f} s")
        time.sleep(poll)


def assert_no_secrets(texts: Iterable[str], secrets: Iterable[str] = SECRETS) -> None:
    """No secret appears in any of `texts` (logs, metrics, dead-letter dumps, previews, errors)."""
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"a secret leaked into: {text[:200]!r}..."


def record(name: str, report: Report, **extra: object) -> None:
    """Print the figures (visible with -s) and append them to $GLEAP_ACTIONS_SOAK_REPORT if set."""
    line = f"{name}: {report.line()}" + "".join(f", {k}={v}" for k, v in extra.items())
    print(line)
    target = os.environ.get("GLEAP_ACTIONS_SOAK_REPORT")
    if target:
        with open(target, "a") as out:
            out.write(line + "\n")
