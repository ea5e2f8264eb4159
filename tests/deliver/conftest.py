"""Fixtures of the pipeline tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gleap_actions.queue.sqlite.store import SQLiteStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """A fresh SQLite store in the test's folder (the contract tests override it for every backend)."""
    s = SQLiteStore(tmp_path / "queue.db")
    yield s
    s.close()
