"""The compute stage in a child process of `serve`, with its own interpreter lock.

Evaluating definitions is CPU work in Python: in a thread of the service it competes with ingest and
delivery for one interpreter lock. In a child process it gets a core of its own. The child shares nothing
with the service but the store (the same SQLite file in WAL mode, or the same PostgreSQL database): it
reads the events table after its cursor and appends the identify calls there, as the thread did.

- Start: the service places the event cursor (`ProfileStore.open_cursor`) before ingest starts, then
  spawns the child (`multiprocessing`'s spawn: a fresh interpreter, nothing inherited but the pipe).
- Priority: the child lowers its own scheduling priority by `audiences_nice` (default 10) below the
  service's. Audiences are derived work: when the CPU is short, ingest and delivery of the events received
  go first and the stage lags (its cursor stays behind; nothing it still needs is pruned, see
  ProfileStore), catching up when load drops.
- Reports: after each round the child sends what it reported (`ComputeObserver` calls) over the pipe; the
  service replays them on its metrics and console, and wakes delivery when a change was appended.
- Reload: `reconfigure` sends the new definitions (as text: the child compiles them); a child started
  later gets the latest ones.
- Stop: the service sends `stop`; the child finishes its round, gives the lease back and exits. Past the
  timeout it is sent SIGTERM (which the child also treats as `stop`), then SIGKILL. SIGINT is ignored by
  the child: a Ctrl-C reaches the whole process group, and the service decides.
- The child dies (kill -9, a crash): the service logs it and starts another after `restart_after`
  seconds; it takes the lease over under the same owner name at once and resumes from the stored cursor
  (at worst a change is sent twice, never lost: see computer.py).
- The service dies: the child sees the pipe close and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import Any

from gleap_actions.audiences import compile_definition
from gleap_actions.compute.computer import Computer, OnRemoval
from gleap_actions.compute.metrics import ComputeObserver
from gleap_actions.config.audiences import Computation
from gleap_actions.queue.factory import open_store

log = logging.getLogger(__name__)

_CONTEXT = multiprocessing.get_context("spawn")
Call = tuple[str, tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Spec:
    """A computation as the child receives it (compiled definitions do not cross processes)."""

    name: str
    key: str
    kind: str
    text: str
    enabled: bool
    key_given: bool
    include_anonymous_users: bool

    @classmethod
    def of(cls, c: Computation) -> Spec:
        """The spec of a configured computation."""
        d = c.definition
        return cls(c.name, c.key, c.kind, d.text, c.enabled, c.key_given, d.include_anonymous_users)

    def compiled(self) -> Computation:
        """The computation again (its text compiled when the config was loaded: it compiles)."""
        definition = compile_definition(
            self.text,
            kind="audience" if self.kind == "audience" else "computed_trait",
            include_anonymous_users=self.include_anonymous_users,
        )
        return Computation(self.name, self.key, definition, self.enabled, self.key_given)


@dataclass(frozen=True, slots=True)
class Settings:
    """What the child needs to open the store and run the stage."""

    location: str | None
    data_dir: str
    owner: str
    lease: float
    on_removal: OnRemoval
    specs: tuple[Spec, ...]
    log_level: int
    log_format: str | None
    nice: int


class ComputeProcess:
    """The compute stage's child process, restarted when it dies (see the module docstring)."""

    def __init__(
        self,
        location: str | None,
        data_dir: Path,
        computations: Sequence[Computation],
        *,
        owner: str,
        on_removal: OnRemoval,
        lease: float,
        observer: ComputeObserver,
        notify: Callable[[], None],
        nice: int = 10,
        restart_after: float = 1.0,
    ) -> None:
        self.location = location
        self.data_dir = data_dir
        self.specs = tuple(Spec.of(c) for c in computations)
        self.owner = owner
        self.on_removal: OnRemoval = on_removal
        self.lease = lease
        self.observer = observer
        self.notify = notify
        self.nice = nice
        self.restart_after = restart_after
        self.process: Any = None  # the running child (multiprocessing's spawn Process)
        self.restarts = 0
        self._conn: Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._restart: asyncio.TimerHandle | None = None
        self._stopping = False

    async def start(self) -> None:
        """Spawn the child."""
        self._loop = asyncio.get_running_loop()
        self._spawn()

    def reconfigure(self, computations: Sequence[Computation], on_removal: OnRemoval) -> None:
        """Send new definitions to the child (and to any child started later)."""
        self.specs = tuple(Spec.of(c) for c in computations)
        self.on_removal = on_removal
        if self._conn is not None:
            with contextlib.suppress(OSError):  # the child is gone: the next one starts with these
                self._conn.send(("configure", self.specs, on_removal))

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop the child: `stop`, then SIGTERM past `timeout`, then SIGKILL."""
        self._stopping = True
        if self._restart is not None:
            self._restart.cancel()
        process = self.process
        if process is None:
            return
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(("stop",))
        await asyncio.to_thread(process.join, timeout)
        if process.is_alive():
            log.warning("event=compute_process_slow_stop pid=%d", process.pid)
            process.terminate()
            await asyncio.to_thread(process.join, 5.0)
        if process.is_alive():
            process.kill()
            await asyncio.to_thread(process.join)
        self._detach()
        log.info("event=compute_process_stopped pid=%d exit_code=%s", process.pid, process.exitcode)

    def _spawn(self) -> None:
        assert self._loop is not None
        here, there = _CONTEXT.Pipe()
        root = logging.getLogger()
        formatter = root.handlers[0].formatter if root.handlers else None
        settings = Settings(
            self.location,
            str(self.data_dir),
            self.owner,
            self.lease,
            self.on_removal,
            self.specs,
            root.level,
            formatter._fmt if formatter is not None else None,
            self.nice,
        )
        process = _CONTEXT.Process(
            target=_child, args=(there, settings), name="gleap-actions-compute", daemon=True
        )
        process.start()
        there.close()
        self._conn, self.process = here, process
        self._loop.add_reader(here.fileno(), self._receive)
        self._loop.add_reader(process.sentinel, self._ended)
        log.info("event=compute_process_started pid=%d", process.pid)

    def _receive(self) -> None:
        conn = self._conn
        try:
            while conn is not None and conn.poll():
                calls: list[Call] = conn.recv()
                for name, args in calls:
                    getattr(self.observer, name)(*args)
                if any(name == "changed" for name, _ in calls):
                    self.notify()
        except (EOFError, OSError):
            self._detach_pipe()

    def _ended(self) -> None:
        process = self.process
        # The sentinel closes while the child is still exiting: reap it so that its exit code is known.
        process.join(timeout=5)
        self._receive()
        self._detach()
        if self._stopping:
            return
        self.restarts += 1
        log.warning(
            "event=compute_process_ended pid=%d exit_code=%s restarting_in=%.1f",
            process.pid,
            process.exitcode,
            self.restart_after,
        )
        assert self._loop is not None
        self._restart = self._loop.call_later(self.restart_after, self._spawn)

    def _detach_pipe(self) -> None:
        if self._conn is not None and self._loop is not None:
            self._loop.remove_reader(self._conn.fileno())
            self._conn.close()
        self._conn = None

    def _detach(self) -> None:
        if self.process is not None and self._loop is not None:
            self._loop.remove_reader(self.process.sentinel)
        self._detach_pipe()


class _Forward:
    """Collects the stage's reports, to send them to the service after the round."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def take(self) -> list[Call]:
        calls, self.calls = self.calls, []
        return calls

    def changed(self, user: str | None, key: str, kind: str, value: Any) -> None:
        self.calls.append(("changed", (user, key, kind, value)))

    def evaluated(self, seconds: float) -> None:
        self.calls.append(("evaluated", (seconds,)))

    def stored(self, members: Any, pending: int) -> None:
        self.calls.append(("stored", (dict(members), pending)))

    def sync_left(self, key: str, left: int) -> None:
        self.calls.append(("sync_left", (key, left)))

    def backfill_left(self, left: int) -> None:
        self.calls.append(("backfill_left", (left,)))


def _child(conn: Connection, settings: Settings) -> None:
    """The child's main: rounds until told to stop, SIGTERM, or the service is gone."""
    if settings.log_format is not None:
        logging.basicConfig(level=settings.log_level, format=settings.log_format)
    else:
        logging.basicConfig(level=settings.log_level)
    stop: list[bool] = []

    def terminate(_signal: int, _frame: FrameType | None) -> None:
        stop.append(True)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, terminate)
    os.nice(settings.nice)  # derived work: ingest and delivery of the events received come first
    backend = open_store(settings.location, data_dir=settings.data_dir)
    forward = _Forward()
    computer = Computer(
        backend.store,
        [spec.compiled() for spec in settings.specs],
        owner=settings.owner,
        on_removal=settings.on_removal,
        metrics=forward,
        lease=settings.lease,
    )
    try:
        while not stop:
            busy = computer.round()
            calls = forward.take()
            if calls:
                conn.send(calls)
            if conn.poll(0 if busy else computer.interval):
                message = conn.recv()
                if message[0] == "stop":
                    break
                _, specs, on_removal = message
                computer.reconfigure([spec.compiled() for spec in specs], on_removal)
    except (EOFError, OSError):
        pass  # the service is gone
    finally:
        computer.profiles.release(settings.owner)
        backend.close()
