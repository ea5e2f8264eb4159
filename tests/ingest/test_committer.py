"""The group committer over a real SQLite store."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from gleap_actions.ingest.committer import IngestCommitter, Overloaded
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent, StoreFullError


class CountingStore(SQLiteStore):
    """A real SQLiteStore that remembers the size of each append (one append = one transaction)."""

    def __init__(self, path: Path, **kwargs: int) -> None:
        super().__init__(path, **kwargs)
        self.appends: list[int] = []

    def append(self, events: Sequence[NewEvent], *, dedup_window: float = 86400.0) -> list[bool]:
        self.appends.append(len(events))
        return super().append(events, dedup_window=dedup_window)


def events(prefix: str, count: int, size: int = 2) -> list[NewEvent]:
    return [NewEvent("s", f"{prefix}-{i}", None, "track", time.time(), b"x" * size) for i in range(count)]


async def test_concurrent_submissions_share_a_transaction(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "q.db")
    committer = IngestCommitter(store)
    committer.start()
    blocker = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # hold the first group so that the others pile up
    first = asyncio.create_task(committer.submit(events("first", 1)))
    await asyncio.sleep(0.1)
    rest = [asyncio.create_task(committer.submit(events(f"r{n}", 3) + events("first", 1))) for n in range(10)]
    await asyncio.sleep(0.1)
    blocker.execute("ROLLBACK")
    blocker.close()
    assert await first == [True]
    results = await asyncio.gather(*rest)
    # "first-0" was committed by the first group: each later copy is a duplicate.
    assert all(r[:3] == [True, True, True] and r[3] is False for r in results)
    assert store.appends == [1, 40]
    await committer.stop()
    store.close()


async def test_overload_and_store_errors(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "q.db", max_bytes=64 * 1024)
    committer = IngestCommitter(store, max_queued_events=5)
    with pytest.raises(Overloaded):  # not started
        await committer.submit(events("a", 1))
    committer.start()
    assert await committer.submit([]) == []
    with pytest.raises(StoreFullError):
        await committer.submit(events("big", 40, size=4000))
    assert await committer.submit(events("small", 2)) == [True, True]
    await committer.stop()
    with pytest.raises(Overloaded):  # stopped
        await committer.submit(events("b", 1))
    store.close()


async def test_stop_commits_what_is_queued(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "q.db")
    committer = IngestCommitter(store)
    committer.start()
    pending = [asyncio.create_task(committer.submit(events(f"e{n}", 2))) for n in range(5)]
    await asyncio.sleep(0)
    await committer.stop()
    assert [await p for p in pending] == [[True, True]] * 5
    assert len(store.claim_unrouted("r", 100, 30)) == 10
    store.close()
