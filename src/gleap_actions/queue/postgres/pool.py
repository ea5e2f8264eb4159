"""A small thread-safe pool of PostgreSQL connections (psycopg 3, autocommit, opened on demand).

Each caller borrows a connection for one transaction and gives it back; a connection that broke or was left
inside a transaction is closed instead of reused, so one lost server connection costs one failed call.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

Connection = psycopg.Connection[tuple[Any, ...]]


class ConnectionPool:
    """Up to `size` connections to `url`; borrowers beyond that wait for one to come back."""

    def __init__(self, url: str, *, size: int = 4, connect_timeout: float = 5.0) -> None:
        self._url = url
        self._connect_timeout = max(1, round(connect_timeout))
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[Connection] = []
        self._closed = False

    def _connect(self) -> Connection:
        return psycopg.connect(
            self._url,
            autocommit=True,
            connect_timeout=self._connect_timeout,
            fallback_application_name="gleap-actions",  # the URL may name the node instead
        )

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Borrow a connection (most recently used first, so idle ones stay few)."""
        with self._slots:
            with self._lock:
                if self._closed:
                    raise psycopg.OperationalError("the connection pool is closed")
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._connect()
            try:
                yield conn
            finally:
                self._give_back(conn)

    def _give_back(self, conn: Connection) -> None:
        reusable = not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE
        with self._lock:
            if reusable and not self._closed:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close the idle connections; borrowed ones are closed when given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
