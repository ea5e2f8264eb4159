"""Work held by a killed process is released at start-up, not after its lease (found by the kill -9
scenario in tests/reliability: a restart waited 120 s for the dead process's leases)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from gleap_actions.queue.owners import owner_alive, owner_name
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_owner_alive() -> None:
    host = socket.gethostname()
    assert owner_alive(owner_name())
    assert not owner_alive(f"{host}:{_dead_pid()}:abcd1234")
    assert owner_alive(f"other-host-{host}:{_dead_pid()}:abcd1234")  # elsewhere: its lease decides
    assert owner_alive("not an owner name")
    assert owner_alive(f"{host}:{os.getppid()}:abcd1234")


def test_release_orphans_makes_a_dead_owners_work_due_now(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "q.db")
    now = time.time()
    store.append([NewEvent("s", f"m{i}", f"u{i}", "track", now, b"{}") for i in range(4)])
    dead, live = f"{socket.gethostname()}:{_dead_pid()}:dead0000", owner_name()
    routed = store.claim_unrouted(dead, 2, 600)
    store.route([(e.id, ["Track Event"]) for e in routed])
    store.claim_unrouted(dead, 1, 600)  # one event claimed, not routed, by the dead owner
    assert len(store.claim_deliveries(dead, "Track Event", 1, 600, now)) == 1
    assert len(store.claim_deliveries(live, "Track Event", 1, 600, now)) == 1
    assert store.release_orphans(owner_alive) == 2  # the dead owner's event and delivery, not the live one's
    assert [d.id for d in store.claim_deliveries(live, "Track Event", 10, 600, time.time())] != []
    assert store.claim_deliveries(live, "Track Event", 10, 600, time.time()) == []
    assert len(store.claim_unrouted(live, 10, 600)) == 2
    store.close()


HOLDER = """
import sys, time
from gleap_actions.queue.owners import owner_name
from gleap_actions.queue.sqlite.store import SQLiteStore
store = SQLiteStore(sys.argv[1])
owner = owner_name()
events = store.claim_unrouted(owner, 10, 600)
store.route([(e.id, ["A"]) for e in events])
held = store.claim_deliveries(owner, "A", 10, 600, time.time())
print(owner, len(held), flush=True)
time.sleep(600)
"""


def test_work_of_a_process_killed_9_is_released_before_it_is_reaped(tmp_path: Path) -> None:
    """A quick restart: the killed process is still visible (a zombie: its parent has not reaped it);
    its pid alone says it exists, its /proc state says it will never run again."""
    store = SQLiteStore(tmp_path / "q.db")
    store.append([NewEvent("s", f"m{i}", "u", "track", time.time(), b"{}") for i in range(3)])
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "q.db")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        owner, held = holder.stdout.readline().split()
        assert held == "3" and owner_alive(owner)
        holder.kill()  # SIGKILL, and not reaped: no wait() until the end
        deadline = time.monotonic() + 10
        while owner_alive(owner) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(holder.pid, 0)  # still there, as a zombie
        assert not owner_alive(owner)
        assert store.release_orphans(owner_alive) == 3
        assert len(store.claim_deliveries(owner_name(), "A", 10, 600, time.time())) == 3
    finally:
        holder.kill()
        holder.wait()
        store.close()


def test_a_reused_pid_is_not_the_owner() -> None:
    """In a restarted container the new process may get the dead one's pid: here, our own pid with
    another start time names a dead owner."""
    host, pid, start, nonce = owner_name().split(":")
    assert owner_alive(f"{host}:{pid}:{start}:{nonce}")
    assert not owner_alive(f"{host}:{pid}:{int(start) - 1}:{nonce}")
