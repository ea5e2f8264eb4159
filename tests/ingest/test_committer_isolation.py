"""The group committer isolates a submission the store refuses: the others of its group are committed."""

from __future__ import annotations

import asyncio
import logging

import psycopg
import pytest

from gleap_actions.ingest.committer import IngestCommitter
from gleap_actions.queue.factory import open_store
from gleap_actions.queue.store import NewEvent

pytestmark = pytest.mark.postgres


def event(message_id: str, user_id: str = "u") -> NewEvent:
    payload = b'{"type":"track","event":"e","messageId":"' + message_id.encode() + b'"}'
    return NewEvent("src", message_id, user_id, "track", 1.0, payload)


async def test_a_submission_postgres_refuses_fails_alone(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A NUL in a text column (which ingest now refuses earlier) stands for any error of one submission."""
    store = open_store(postgres_url).store
    committer = IngestCommitter(store)
    committer.start()
    try:
        # Another session holds the table: the first group waits, the rest queue up as one group.
        with psycopg.connect(postgres_url) as blocker:
            blocker.execute("LOCK TABLE dedup IN EXCLUSIVE MODE")
            first = asyncio.create_task(committer.submit([event("m-0")]))
            while committer.queued_events:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)  # the worker is inside append, waiting for the lock
            good = [asyncio.create_task(committer.submit([event(f"m-{n}")])) for n in range(1, 11)]
            bad = [asyncio.create_task(committer.submit([event(f"bad-{n}", "a\x00b")])) for n in range(2)]
            while committer.queued_events < 12:
                await asyncio.sleep(0.01)
            blocker.rollback()
        with caplog.at_level(logging.WARNING):
            assert await first == [True]
            assert [await task for task in good] == [[True]] * 10
            for task in bad:
                with pytest.raises(psycopg.DataError):
                    await task
    finally:
        await committer.stop()
    stored = {e.payload for e in store.claim_unrouted("reader", 100, 0.0)}
    assert len(stored) == 11
    store.close()
    failures = [r for r in caplog.records if "ingest_commit_failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is None  # once for the group, no traceback
