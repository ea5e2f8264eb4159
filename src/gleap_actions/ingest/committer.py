"""Ingest commit: concurrent requests' events appended to the store in one transaction (a group commit).

Ingest handlers `await committer.submit(events)`; a worker thread takes everything queued so far (up to
`max_group_events`), appends it with one `Store.append` call (one commit, one fsync) and resolves each
submission with its own slice of the results. Under load, groups grow and the cost per event falls; when
more than `max_queued_events` wait, `submit` refuses at once (`Overloaded`, HTTP 429) rather than queueing
without bound.

One bad submission never fails the others: when a group's append fails for any reason but a full store
(which fails every write alike), the group is split in halves and each half appended again, down to the
single submission that fails; only that one gets the error. The failure is logged once per group.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from gleap_actions.queue.store import DEFAULT_DEDUP_WINDOW, NewEvent, Store, StoreFullError

log = logging.getLogger(__name__)

_Outcome = tuple["_Submission", list[bool] | BaseException]


class Overloaded(Exception):
    """Too many events are waiting to be committed; the client should retry shortly."""


@dataclass(slots=True)
class _Submission:
    events: Sequence[NewEvent]
    future: asyncio.Future[list[bool]]
    loop: asyncio.AbstractEventLoop


def _resolve(groups: list[_Outcome]) -> None:
    """Runs in the event loop: hand each submission its outcome."""
    for submission, outcome in groups:
        if submission.future.done():  # the request was cancelled (client went away)
            continue
        if isinstance(outcome, BaseException):
            submission.future.set_exception(outcome)
        else:
            submission.future.set_result(outcome)


class IngestCommitter:
    """Appends submitted events to `store` from one worker thread, a group per transaction."""

    def __init__(
        self,
        store: Store,
        *,
        dedup_window: float = DEFAULT_DEDUP_WINDOW,
        max_queued_events: int = 50_000,
        max_group_events: int = 10_000,
    ) -> None:
        self.store = store
        self.dedup_window = dedup_window
        self.max_queued_events = max_queued_events
        self.max_group_events = max_group_events
        self._queue: deque[_Submission] = deque()
        self._queued_events = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def queued_events(self) -> int:
        """Events waiting for the next commit."""
        return self._queued_events

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="ingest-committer", daemon=True)
            self._thread.start()

    async def stop(self) -> None:
        """Commit what is queued, then stop the worker."""
        thread = self._thread
        if thread is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify()
        await asyncio.to_thread(thread.join)
        self._thread = None

    async def submit(self, events: Sequence[NewEvent]) -> list[bool]:
        """Commit `events`; per event False for a duplicate. Raises Overloaded, or the store's error
        (StoreFullError) when the group could not be written."""
        if not events:
            return []
        if self._thread is None or self._stopping:
            raise Overloaded("the committer is not running")
        loop = asyncio.get_running_loop()
        submission = _Submission(events, loop.create_future(), loop)
        with self._cond:
            if self._queued_events + len(events) > self.max_queued_events and self._queue:
                raise Overloaded(f"{self._queued_events} events are waiting to be committed")
            self._queue.append(submission)
            self._queued_events += len(events)
            self._cond.notify()
        return await submission.future

    def _take_group(self) -> list[_Submission] | None:
        """Wait for submissions and take up to max_group_events worth; None when stopped and empty."""
        with self._cond:
            while not self._queue:
                if self._stopping:
                    return None
                self._cond.wait()
            group = [self._queue.popleft()]
            count = len(group[0].events)
            while self._queue and count + len(self._queue[0].events) <= self.max_group_events:
                submission = self._queue.popleft()
                group.append(submission)
                count += len(submission.events)
            self._queued_events -= count
            return group

    def _run(self) -> None:
        while (group := self._take_group()) is not None:
            outcomes = self._commit(group)
            failed = [
                o for o in outcomes if isinstance(o[1], Exception) and not isinstance(o[1], StoreFullError)
            ]
            if failed:
                error = failed[0][1]
                # Once per group, without the message's data: only the failing submissions are refused.
                log.warning(
                    "event=ingest_commit_failed submissions=%d of=%d error=%s: %.200s",
                    len(failed), len(group), type(error).__name__, error,
                )  # fmt: skip
            by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
            for outcome in outcomes:
                by_loop.setdefault(outcome[0].loop, []).append(outcome)
            for loop, items in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_resolve, items)
                except RuntimeError:  # the loop is closed: nobody is waiting any more
                    continue

    def _commit(self, group: Sequence[_Submission]) -> list[_Outcome]:
        """Append the group in one transaction; on failure, halves again until the failing submissions
        are alone (a full store fails them all at once: nothing to isolate)."""
        events = [event for submission in group for event in submission.events]
        try:
            results = self.store.append(events, dedup_window=self.dedup_window)
        except StoreFullError as exc:
            return [(submission, exc) for submission in group]
        except Exception as exc:
            if len(group) == 1:
                return [(group[0], exc)]
            middle = len(group) // 2
            return self._commit(group[:middle]) + self._commit(group[middle:])
        outcomes: list[_Outcome] = []
        start = 0
        for submission in group:
            end = start + len(submission.events)
            outcomes.append((submission, results[start:end]))
            start = end
        return outcomes
