"""Ack commit: many concurrent `ack`s become one store transaction (a group commit of acks).

Every store write is a commit (an fsync with SQLite's synchronous=FULL). Requests finish one by one;
acknowledging each on its own would spend the store's write lock on commits. Callers wait until their
ids are committed, so nothing is reported done before it is durable; while one commit runs, the next
callers' ids gather for the following one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence


class AckCommit:
    """Coalesces concurrent calls of `write(ids)` into as few as possible."""

    def __init__(self, write: Callable[[list[int]], Awaitable[None]]) -> None:
        self._write = write
        self._ids: list[int] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def __call__(self, ids: Sequence[int]) -> None:
        """Write `ids` with whatever else is waiting; return once committed (or raise its error)."""
        waiter = asyncio.get_running_loop().create_future()
        self._ids.extend(ids)
        self._waiters.append(waiter)
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        await waiter

    async def _flush(self) -> None:
        try:
            while self._ids:
                ids, waiters = self._ids, self._waiters
                self._ids, self._waiters = [], []
                try:
                    await self._write(ids)
                except Exception as err:
                    for w in waiters:
                        if not w.done():
                            w.set_exception(err)
                else:
                    for w in waiters:
                        if not w.done():
                            w.set_result(None)
        finally:
            self._flusher = None
